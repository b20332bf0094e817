package access

import (
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/protocol"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestDayWindowEndsAtLocalMidnight(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		day       string
		wantHours float64
	}{
		{"2026-03-29", 23}, // clocks go forward at 02:00
		{"2026-10-25", 25}, // clocks go back at 03:00
		{"2026-06-15", 24},
	}
	for _, c := range cases {
		t.Run(c.day, func(t *testing.T) {
			w, err := ResolveWindow(protocol.WindowRequest{Day: c.day, TimeZone: "Europe/Berlin"}, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.End.Sub(w.Start).Hours(); got != c.wantHours {
				t.Errorf("window lasts %v h, want %v", got, c.wantHours)
			}
			for name, at := range map[string]time.Time{"start": w.Start, "end": w.End} {
				local := at.In(berlin)
				if local.Hour() != 0 || local.Minute() != 0 || local.Second() != 0 {
					t.Errorf("%s %v is not local midnight", name, local)
				}
			}
			d, _ := time.ParseInLocation(time.DateOnly, c.day, berlin)
			if !w.Start.Equal(d) {
				t.Errorf("start %v, want %v", w.Start, d)
			}
			// The last instant before local midnight is inside, midnight is not.
			if w.At(w.End.Add(-time.Nanosecond)) != Open || w.At(w.End) != Closed {
				t.Error("window does not end exactly at local midnight")
			}
		})
	}
}

func TestStartWindowLastsExactly24Hours(t *testing.T) {
	start := time.Date(2026, 10, 24, 15, 30, 0, 0, time.UTC) // spans the DST change in Berlin
	now := start.Add(-time.Hour)
	w, err := ResolveWindow(protocol.WindowRequest{Start: &start, TimeZone: "Europe/Berlin"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.End.Sub(w.Start); got != 24*time.Hour {
		t.Errorf("window lasts %v, want 24h", got)
	}
	w, err = ResolveWindow(protocol.WindowRequest{Start: &start, Hours: 2}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !w.End.Equal(start.Add(2 * time.Hour)) {
		t.Errorf("2 h window ends %v", w.End)
	}
}

func TestWindowStates(t *testing.T) {
	start := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	w := Window{Start: start, End: start.Add(24 * time.Hour)}
	cases := []struct {
		name string
		at   time.Time
		want State
	}{
		{"a second before", start.Add(-time.Second), NotOpen},
		{"at the start", start, Open},
		{"inside", start.Add(12 * time.Hour), Open},
		{"at the end", start.Add(24 * time.Hour), Closed},
		{"a day after", start.Add(48 * time.Hour), Closed},
	}
	for _, c := range cases {
		if got := w.At(c.at); got != c.want {
			t.Errorf("%s: state %v, want %v", c.name, got, c.want)
		}
	}
}

func TestResolveWindowRefusals(t *testing.T) {
	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	past := now.Add(-48 * time.Hour)
	far := now.Add(500 * 24 * time.Hour)
	cases := []struct {
		name string
		req  protocol.WindowRequest
	}{
		{"empty", protocol.WindowRequest{}},
		{"both", protocol.WindowRequest{Day: "2026-05-04", TimeZone: "UTC", Start: &now}},
		{"day without zone", protocol.WindowRequest{Day: "2026-05-04"}},
		{"unknown zone", protocol.WindowRequest{Day: "2026-05-04", TimeZone: "Mars/Olympus"}},
		{"bad day", protocol.WindowRequest{Day: "04.05.2026", TimeZone: "UTC"}},
		{"hours with day", protocol.WindowRequest{Day: "2026-05-04", TimeZone: "UTC", Hours: 3}},
		{"too many hours", protocol.WindowRequest{Start: &now, Hours: MaxHours + 1}},
		{"negative hours", protocol.WindowRequest{Start: &now, Hours: -1}},
		{"ended", protocol.WindowRequest{Start: &past}},
		{"yesterday", protocol.WindowRequest{Day: "2026-05-03", TimeZone: "UTC"}},
		{"too far ahead", protocol.WindowRequest{Start: &far}},
	}
	for _, c := range cases {
		if _, err := ResolveWindow(c.req, now); !errors.Is(err, ErrInvalidWindow) {
			t.Errorf("%s: err %v, want ErrInvalidWindow", c.name, err)
		}
	}
}
