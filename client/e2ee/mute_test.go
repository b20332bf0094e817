package e2ee

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// muteAt is the time of the mute state vectors (key-schedule.json).
var muteAt = time.UnixMilli(1795474135901)

func TestMuteStateIsTimeThenFlags(t *testing.T) {
	for _, c := range []struct {
		state MuteState
		hex   string
	}{
		{MuteState{At: muteAt}, "000001a20a991b5d00"},
		{MuteState{MicOff: true, At: muteAt}, "000001a20a991b5d01"},
		{MuteState{CameraOff: true, At: muteAt}, "000001a20a991b5d02"},
		{MuteState{MicOff: true, CameraOff: true, At: muteAt}, "000001a20a991b5d03"},
		{MuteState{At: time.UnixMilli(0)}, "000000000000000000"},
		{MuteState{MicOff: true, At: time.UnixMilli(1<<53 - 1)}, "001fffffffffffff01"},
	} {
		b, err := c.state.Encode()
		if err != nil || hex.EncodeToString(b) != c.hex {
			t.Errorf("Encode(%+v) = %x, %v; want %s", c.state, b, err, c.hex)
			continue
		}
		got, err := DecodeMuteState(b)
		if err != nil || got != c.state {
			t.Errorf("DecodeMuteState(%s) = %+v, %v; want %+v", c.hex, got, err, c.state)
		}
	}
}

func TestMuteStateIgnoresLaterFieldsAndRefusesMalformed(t *testing.T) {
	want := MuteState{MicOff: true, At: muteAt}
	for _, h := range []string{"000001a20a991b5df1", "000001a20a991b5d01ffeedd"} {
		b, _ := hex.DecodeString(h)
		if got, err := DecodeMuteState(b); err != nil || got != want {
			t.Errorf("DecodeMuteState(%s) = %+v, %v; want %+v", h, got, err, want)
		}
	}
	for _, h := range []string{"", "000001a20a991b5d", "ffffffffffffffff00", "002000000000000000"} {
		b, _ := hex.DecodeString(h)
		if _, err := DecodeMuteState(b); !errors.Is(err, ErrMuteState) {
			t.Errorf("DecodeMuteState(%q) = %v, want ErrMuteState", h, err)
		}
	}
	for _, at := range []time.Time{time.UnixMilli(-1), time.UnixMilli(1 << 53)} {
		if _, err := (MuteState{At: at}).Encode(); !errors.Is(err, ErrMuteState) {
			t.Errorf("Encode(at %v) = %v, want ErrMuteState", at, err)
		}
	}
}

func TestMuteStateReplacesUnlessOlder(t *testing.T) {
	s := func(ms int64) MuteState { return MuteState{At: time.UnixMilli(ms)} }
	if !s(2).Replaces(s(1)) || !s(2).Replaces(s(2)) || s(2).Replaces(s(3)) {
		t.Error("a state must replace an older or equally old one, never a newer one")
	}
}

func TestSealedMuteOpensOnlyForItsSenderAndKind(t *testing.T) {
	k := testKeys(t)
	other, _ := DeriveKeys(bytes.Repeat([]byte{7}, 32))
	state, _ := MuteState{MicOff: true, CameraOff: true, At: muteAt}.Encode()
	sealed, err := SealMute(k.Names, "alice", state)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenMute(k.Names, "alice", sealed); err != nil || !bytes.Equal(got, state) {
		t.Fatalf("OpenMute = %x, %v", got, err)
	}
	name, _ := SealName(k.Names, "alice", "Dr. Anna Berg")
	for what, open := range map[string]func() error{
		"wrong sender":     func() error { _, err := OpenMute(k.Names, "bob", sealed); return err },
		"other secret":     func() error { _, err := OpenMute(other.Names, "alice", sealed); return err },
		"a mute as a name": func() error { _, err := OpenName(k.Names, "alice", sealed); return err },
		"a name as a mute": func() error { _, err := OpenMute(k.Names, "alice", name); return err },
	} {
		if err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", what, err)
		}
	}
	if _, err := SealMute(k.Names, "alice", make([]byte, MaxMuteBytes+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized mute state: %v", err)
	}
	// A longer plaintext than any state may be is refused on receipt too.
	long, _ := sealBox(k.Names, boxLabelMute, "alice", make([]byte, MaxMuteBytes+1))
	if _, err := OpenMute(k.Names, "alice", long); !errors.Is(err, ErrOpen) {
		t.Errorf("oversized sealed mute state: %v", err)
	}
}

// FuzzDecodeMuteState: any input decodes or fails with ErrMuteState, and
// what decodes encodes back to its first nine bytes but unknown flags.
func FuzzDecodeMuteState(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0xa2, 0x0a, 0x99, 0x1b, 0x5d, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeMuteState(b)
		if err != nil {
			if !errors.Is(err, ErrMuteState) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		enc, err := s.Encode()
		if err != nil || !bytes.Equal(enc[:8], b[:8]) || enc[8] != b[8]&(muteMicOff|muteCamOff) {
			t.Fatalf("Encode(DecodeMuteState(%x)) = %x, %v", b, enc, err)
		}
	})
}
