package e2ee

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A conference participant's mute state (docs/SECURITY.md, "Mute state in
// conferences"), as the browser's e2ee/mutestate.js encodes it:
//
//	plaintext = at (uint64 big-endian, ms since 1970) || flags (1 byte)
//	flags     = bit 0: microphone off, bit 1: camera off; other bits 0
//
// It is sealed with the names key under its own label, so that a state
// cannot pass for a name nor a name for a state.
const (
	boxLabelMute = "konsil mute v1"

	// MaxMuteBytes bounds a sealed mute state's plaintext: the nine bytes
	// of this version and room for fields a later one appends.
	MaxMuteBytes = 64

	muteStateLen = 9
	muteMicOff   = 0x01
	muteCamOff   = 0x02
	// maxMuteMillis is JavaScript's Number.MAX_SAFE_INTEGER: the browser
	// refuses a later time, so Go neither sends nor accepts one.
	maxMuteMillis = 1<<53 - 1
)

// ErrMuteState is returned for a mute state that cannot be encoded (a
// time before 1970 or past 2^53 ms) or decoded (shorter than nine
// bytes, or such a time).
var ErrMuteState = errors.New("e2ee: malformed mute state")

// MuteState is whether a conference participant's microphone and camera
// are off, and when that was set. At has millisecond precision on the
// wire; a receiver keeps, per sender, the state with the latest At (see
// Replaces).
type MuteState struct {
	MicOff    bool
	CameraOff bool
	At        time.Time
}

// Encode returns the nine-byte plaintext of s.
func (s MuteState) Encode() ([]byte, error) {
	ms := s.At.UnixMilli()
	if ms < 0 || ms > maxMuteMillis {
		return nil, fmt.Errorf("%w: time %v", ErrMuteState, s.At)
	}
	b := make([]byte, muteStateLen)
	binary.BigEndian.PutUint64(b, uint64(ms))
	if s.MicOff {
		b[8] |= muteMicOff
	}
	if s.CameraOff {
		b[8] |= muteCamOff
	}
	return b, nil
}

// DecodeMuteState decodes a mute state's plaintext. Flag bits it does not
// know and bytes after the ninth are ignored: a later version may set or
// append them.
func DecodeMuteState(b []byte) (MuteState, error) {
	if len(b) < muteStateLen {
		return MuteState{}, fmt.Errorf("%w: %d bytes", ErrMuteState, len(b))
	}
	ms := binary.BigEndian.Uint64(b)
	if ms > maxMuteMillis {
		return MuteState{}, fmt.Errorf("%w: time %d ms", ErrMuteState, ms)
	}
	return MuteState{
		MicOff:    b[8]&muteMicOff != 0,
		CameraOff: b[8]&muteCamOff != 0,
		At:        time.UnixMilli(int64(ms)),
	}, nil
}

// Replaces tells whether s, received after held from the same sender,
// takes its place: unless s is older. The server relays one session's
// messages in order, so of two with the same At the later wins; a new
// session of the sender may overtake its old one's last message, which
// the older At then gives away.
func (s MuteState) Replaces(held MuteState) bool {
	return !s.At.Before(held.At)
}

// SealMute encrypts the sender's encoded mute state (MuteState.Encode)
// with the names key.
func SealMute(namesKey []byte, sender string, state []byte) ([]byte, error) {
	if len(state) > MaxMuteBytes {
		return nil, fmt.Errorf("%w: mute state of %d bytes, limit %d", ErrMessageTooLarge, len(state), MaxMuteBytes)
	}
	return sealBox(namesKey, boxLabelMute, sender, state)
}

// OpenMute decrypts a mute state that sender sealed; DecodeMuteState
// reads what it returns. A plaintext over MaxMuteBytes is refused as
// ErrOpen, as the browser does.
func OpenMute(namesKey []byte, sender string, sealed []byte) ([]byte, error) {
	b, err := openBox(namesKey, boxLabelMute, sender, sealed)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMuteBytes {
		return nil, ErrOpen
	}
	return b, nil
}
