package access

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/konsil/konsil/protocol"
)

// Room request limits.
const (
	MinCapacity = 2
	// MaxCapacity is the largest conference the SFU takes.
	MaxCapacity = 50
	// MaxParticipants bounds the links of one room: a conference may invite
	// more people than are inside at once.
	MaxParticipants = 100
	MaxLabelBytes   = 64
)

// ErrInvalidRoom wraps every refusal of a room request.
var ErrInvalidRoom = errors.New("invalid room request")

// ValidateRoom checks a room request at now and resolves its window. The
// returned error wraps ErrInvalidRoom or ErrInvalidWindow and names the
// field at fault.
func ValidateRoom(req protocol.RoomRequest, now time.Time) (Window, error) {
	if req.Capacity < MinCapacity || req.Capacity > MaxCapacity {
		return Window{}, fmt.Errorf("%w: capacity must be between %d and %d", ErrInvalidRoom, MinCapacity, MaxCapacity)
	}
	n := len(req.Participants)
	if n == 0 || n > MaxParticipants {
		return Window{}, fmt.Errorf("%w: participants must list 1 to %d entries", ErrInvalidRoom, MaxParticipants)
	}
	for i, p := range req.Participants {
		if err := validateParticipant(p); err != nil {
			return Window{}, fmt.Errorf("%w: participants[%d]: %v", ErrInvalidRoom, i, err)
		}
	}
	return ResolveWindow(req.Window, now)
}

func validateParticipant(p protocol.ParticipantRequest) error {
	if p.Role != protocol.RoleHost && p.Role != protocol.RoleGuest {
		return fmt.Errorf("role must be %q or %q", protocol.RoleHost, protocol.RoleGuest)
	}
	return ValidateLabel(p.Label, MaxLabelBytes)
}

// ValidateLabel accepts printable UTF-8 text of at most max bytes.
func ValidateLabel(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("label is %d bytes, limit %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("label is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return errors.New("label contains control characters")
		}
	}
	return nil
}

// Mode returns the room mode for a capacity: two parties talk peer to peer,
// more go through the SFU.
func Mode(capacity int) string {
	if capacity == 2 {
		return protocol.ModeP2P
	}
	return protocol.ModeSFU
}
