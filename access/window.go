// Package access decides who may enter a room and when: it turns a window
// request into absolute instants, makes link tokens and short codes, hashes
// them for the store, and issues and checks session tokens. It holds no
// state and does no I/O; time and randomness come from its callers.
package access

import (
	"errors"
	"fmt"
	"time"
	// Embed the IANA database so day windows never depend on the host's
	// zoneinfo files (containers often lack them).
	_ "time/tzdata"

	"github.com/konsil/konsil/protocol"
)

// Window limits.
const (
	DefaultHours = 24
	// MaxHours bounds a start+hours window: rooms are for one consultation
	// day, not standing meeting rooms.
	MaxHours = 72
	// maxAhead bounds how far in the future a room may open.
	maxAhead = 400 * 24 * time.Hour
)

// Errors of window validation; ErrInvalidWindow wraps the reason.
var ErrInvalidWindow = errors.New("invalid window")

// Window is a room's validity [Start, End) as absolute instants.
type Window struct {
	Start    time.Time
	End      time.Time
	TimeZone string
}

// State of a window at an instant.
type State int

// Window states.
const (
	NotOpen State = iota
	Open
	Closed
)

// At tells whether the window is not yet open, open or closed at t.
func (w Window) At(t time.Time) State {
	switch {
	case t.Before(w.Start):
		return NotOpen
	case t.Before(w.End):
		return Open
	default:
		return Closed
	}
}

// ResolveWindow turns a request into absolute instants. A Day window runs
// from local midnight of that day in TimeZone to the next local midnight, so
// it lasts 23 or 25 hours across daylight-saving changes. A Start window runs
// Hours (DefaultHours when 0) from Start. Windows that ended before now or
// open more than a year ahead are refused.
func ResolveWindow(req protocol.WindowRequest, now time.Time) (Window, error) {
	var w Window
	switch {
	case req.Day != "" && req.Start != nil:
		return w, fmt.Errorf("%w: give either day or start, not both", ErrInvalidWindow)
	case req.Day != "":
		if req.Hours != 0 {
			return w, fmt.Errorf("%w: hours applies only to a start window", ErrInvalidWindow)
		}
		var err error
		if w, err = dayWindow(req.Day, req.TimeZone); err != nil {
			return w, err
		}
	case req.Start != nil:
		var err error
		if w, err = startWindow(*req.Start, req.Hours, req.TimeZone); err != nil {
			return w, err
		}
	default:
		return w, fmt.Errorf("%w: give a day (with time_zone) or a start", ErrInvalidWindow)
	}
	if !w.End.After(now) {
		return w, fmt.Errorf("%w: the window ended at %s", ErrInvalidWindow, w.End.UTC().Format(time.RFC3339))
	}
	if w.Start.Sub(now) > maxAhead {
		return w, fmt.Errorf("%w: the window opens more than %d days ahead", ErrInvalidWindow, int(maxAhead.Hours()/24))
	}
	return w, nil
}

func dayWindow(day, zone string) (Window, error) {
	if zone == "" {
		return Window{}, fmt.Errorf("%w: a day window needs time_zone (an IANA name like Europe/Berlin)", ErrInvalidWindow)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return Window{}, err
	}
	d, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return Window{}, fmt.Errorf("%w: day %q is not a date like 2026-03-29", ErrInvalidWindow, truncate(day))
	}
	// time.Date normalises the day after; midnight exists in every IANA zone
	// Go ships for the dates we accept, and where a zone skips it Go moves
	// forward, which is what a person there would call "the start of day".
	y, m, dd := d.Date()
	return Window{
		Start:    time.Date(y, m, dd, 0, 0, 0, 0, loc),
		End:      time.Date(y, m, dd+1, 0, 0, 0, 0, loc),
		TimeZone: zone,
	}, nil
}

func startWindow(start time.Time, hours int, zone string) (Window, error) {
	if hours == 0 {
		hours = DefaultHours
	}
	if hours < 1 || hours > MaxHours {
		return Window{}, fmt.Errorf("%w: hours must be between 1 and %d", ErrInvalidWindow, MaxHours)
	}
	if zone != "" {
		if _, err := loadZone(zone); err != nil {
			return Window{}, err
		}
	}
	return Window{Start: start, End: start.Add(time.Duration(hours) * time.Hour), TimeZone: zone}, nil
}

func loadZone(zone string) (*time.Location, error) {
	if len(zone) > 64 {
		return nil, fmt.Errorf("%w: time_zone is longer than 64 bytes", ErrInvalidWindow)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, fmt.Errorf("%w: unknown time_zone %q", ErrInvalidWindow, zone)
	}
	return loc, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
