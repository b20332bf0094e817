package e2ee

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// Frames shaped like the encoder's output (RFC 6386 §9.1, RFC 6716 §3.1).
func vp8Keyframe(n int) []byte {
	// Frame tag (key frame bit 0 = 0, show_frame), start code, 640x480.
	f := []byte{0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
	for i := len(f); i < n; i++ {
		f = append(f, byte(i*7))
	}
	return f
}

func vp8Delta(n int) []byte {
	f := []byte{0x31, 0x0c, 0x00}
	for i := len(f); i < n; i++ {
		f = append(f, byte(i*13))
	}
	return f
}

func opusFrame(n int) []byte {
	f := []byte{0x78} // TOC: CELT FB 20 ms, one frame
	for i := len(f); i < n; i++ {
		f = append(f, byte(i*5))
	}
	return f
}

func TestClearPrefixLen(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec Codec
		frame []byte
		want  int
		key   bool
	}{
		{"VP8 keyframe", CodecVP8, vp8Keyframe(100), 10, true},
		{"VP8 delta", CodecVP8, vp8Delta(100), 3, false},
		{"Opus", CodecOpus, opusFrame(60), 1, true},
		{"VP8 keyframe, short", CodecVP8, vp8Keyframe(10)[:4], 4, true},
		{"VP8 empty", CodecVP8, nil, 0, false},
		{"Opus empty", CodecOpus, nil, 0, false},
		{"unknown codec", Codec(99), vp8Delta(100), 0, false},
	} {
		if got := ClearPrefixLen(c.codec, c.frame); got != c.want {
			t.Errorf("%s: ClearPrefixLen = %d, want %d", c.name, got, c.want)
		}
		if got := Keyframe(c.codec, c.frame); got != c.key {
			t.Errorf("%s: Keyframe = %v, want %v", c.name, got, c.key)
		}
	}
}

func TestParseCodec(t *testing.T) {
	for in, want := range map[string]Codec{"vp8": CodecVP8, "video/VP8": CodecVP8, "opus": CodecOpus, "audio/opus": CodecOpus, "OPUS": CodecOpus} {
		if got, err := ParseCodec(in); err != nil || got != want {
			t.Errorf("ParseCodec(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got, _ := ParseCodec(want.String()); got != want {
			t.Errorf("ParseCodec(%v.String()) = %v", want, got)
		}
	}
	for _, in := range []string{"", "h264", "video/VP9", "audio/PCMU"} {
		if _, err := ParseCodec(in); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("ParseCodec(%q): %v, want ErrUnsupportedCodec", in, err)
		}
	}
}

// A clinician publishes camera and microphone in a conference: three
// participants derive the room keys, each sender's frames leave as clear
// prefix || SFrame header || ciphertext, the SFU sees only the prefix, and
// every other participant gets the frames back unchanged.
func TestFramesThroughConference(t *testing.T) {
	room, err := DeriveKeys(bytes.Repeat([]byte{0x42}, SecretSize))
	if err != nil {
		t.Fatal(err)
	}
	kids := []uint64{1, 2, 3}
	participants := make([]*Context, len(kids))
	for i := range participants {
		participants[i] = newSFrameContext(t, DefaultSuite, nil)
		for _, kid := range kids {
			if err := participants[i].AddKey(kid, SenderBaseKey(room.Media, kid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for s, sender := range participants {
		kid := kids[s]
		for _, f := range []struct {
			codec Codec
			frame []byte
		}{
			{CodecVP8, vp8Keyframe(1200)}, {CodecVP8, vp8Delta(400)}, {CodecVP8, vp8Delta(3)},
			{CodecOpus, opusFrame(80)}, {CodecOpus, opusFrame(1)}, {CodecVP8, vp8Keyframe(10)},
		} {
			enc, err := sender.EncryptFrame(nil, kid, f.codec, f.frame)
			if err != nil {
				t.Fatal(err)
			}
			p := ClearPrefixLen(f.codec, f.frame)
			// The SFU's view: the same prefix, and the keyframe bit.
			if ClearPrefixLen(f.codec, enc) != p || !bytes.Equal(enc[:p], f.frame[:p]) || Keyframe(f.codec, enc) != Keyframe(f.codec, f.frame) {
				t.Fatalf("%v frame: encrypted frame starts %x, want clear prefix %x", f.codec, enc[:p], f.frame[:p])
			}
			h, hl, err := DecodeHeader(enc[p:])
			if err != nil || h.KID != kid {
				t.Fatalf("header after the prefix: %+v, %v", h, err)
			}
			if want := p + hl + len(f.frame) - p + DefaultSuite.TagLen(); len(enc) != want {
				t.Errorf("encrypted frame is %d bytes, want %d", len(enc), want)
			}
			if len(f.frame) > p+8 && bytes.Contains(enc, f.frame[p:p+8]) {
				t.Errorf("encrypted frame contains plaintext %x", f.frame[p:p+8])
			}
			for r, receiver := range participants {
				if r == s {
					continue
				}
				gotKID, got, err := receiver.DecryptFrame(nil, f.codec, enc)
				if err != nil || gotKID != kid || !bytes.Equal(got, f.frame) {
					t.Fatalf("participant %d decrypts %v frame from KID %d: %d, %v; frame equal: %v", r, f.codec, kid, gotKID, err, bytes.Equal(got, f.frame))
				}
			}
		}
	}
}

func TestTamperedClearPrefixFails(t *testing.T) {
	ctx := newSFrameContext(t, DefaultSuite, map[uint64][]byte{4: sframeTestKey(4)})
	for _, f := range []struct {
		codec Codec
		frame []byte
	}{{CodecVP8, vp8Keyframe(300)}, {CodecVP8, vp8Delta(300)}, {CodecOpus, opusFrame(60)}} {
		enc, err := ctx.EncryptFrame(nil, 4, f.codec, f.frame)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ClearPrefixLen(f.codec, enc) {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(enc)
				bad[i] ^= bit
				// Flipping VP8's key-frame bit also moves the prefix boundary;
				// either way the frame must not decrypt.
				if _, _, err := ctx.DecryptFrame(nil, f.codec, bad); !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKID) {
					t.Errorf("%v: prefix byte %d ^ %#x: %v, want an error", f.codec, i, bit, err)
				} else if bit == 0x80 && !errors.Is(err, ErrAuth) {
					t.Errorf("%v: prefix byte %d ^ 0x80: %v, want ErrAuth", f.codec, i, err)
				}
			}
		}
		// Decrypting as the wrong codec moves the boundary too.
		other := CodecOpus
		if f.codec == CodecOpus {
			other = CodecVP8
		}
		if _, _, err := ctx.DecryptFrame(nil, other, enc); err == nil {
			t.Errorf("%v frame decrypted as %v", f.codec, other)
		}
	}
}

func TestFrameErrors(t *testing.T) {
	ctx := newSFrameContext(t, DefaultSuite, map[uint64][]byte{1: sframeTestKey(1)})
	for _, f := range []struct {
		codec Codec
		frame []byte
	}{{CodecVP8, vp8Keyframe(10)[:9]}, {CodecVP8, vp8Delta(3)[:2]}, {CodecVP8, nil}, {CodecOpus, nil}} {
		if _, err := ctx.EncryptFrame(nil, 1, f.codec, f.frame); !errors.Is(err, ErrMalformed) {
			t.Errorf("EncryptFrame(%v, %x): %v, want ErrMalformed", f.codec, f.frame, err)
		}
		if _, _, err := ctx.DecryptFrame(nil, f.codec, f.frame); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecryptFrame(%v, %x): %v, want ErrMalformed", f.codec, f.frame, err)
		}
	}
	if _, err := ctx.EncryptFrame(nil, 1, Codec(9), vp8Delta(10)); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("EncryptFrame with an unknown codec: %v", err)
	}
	if _, _, err := ctx.DecryptFrame(nil, Codec(9), vp8Delta(10)); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("DecryptFrame with an unknown codec: %v", err)
	}
}

// FuzzDecryptFrame: whatever arrives from the network, DecryptFrame
// returns a frame only when it authenticates, and otherwise one of the
// named errors; it never panics. Seeds in testdata/fuzz/FuzzDecryptFrame.
func FuzzDecryptFrame(f *testing.F) {
	ctx, err := NewContext(DefaultSuite)
	if err != nil {
		f.Fatal(err)
	}
	if err := ctx.AddKey(1, sframeTestKey(1)); err != nil {
		f.Fatal(err)
	}
	for _, fr := range [][]byte{vp8Keyframe(40), vp8Delta(20)} {
		enc, err := ctx.EncryptFrame(nil, 1, CodecVP8, fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(true, enc)
	}
	f.Fuzz(func(t *testing.T, vp8 bool, frame []byte) {
		codec := CodecOpus
		if vp8 {
			codec = CodecVP8
		}
		kid, pt, err := ctx.DecryptFrame(nil, codec, frame)
		switch {
		case err == nil:
			if kid != 1 || !bytes.HasPrefix(pt, frame[:ClearPrefixLen(codec, frame)]) {
				t.Fatalf("decrypted %x to KID %d, %x", frame, kid, pt)
			}
		case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownKID), errors.Is(err, ErrAuth):
			if pt != nil {
				t.Fatalf("error %v with plaintext %x", err, pt)
			}
		default:
			t.Fatalf("DecryptFrame(%v, %x): unnamed error %v", codec, frame, err)
		}
	})
}

func BenchmarkEncryptFrame(b *testing.B) {
	ctx := newSFrameContext(b, DefaultSuite, map[uint64][]byte{1: sframeTestKey(1)})
	for _, f := range []struct {
		codec Codec
		frame []byte
	}{{CodecVP8, vp8Keyframe(1200)}, {CodecVP8, vp8Delta(1200)}, {CodecOpus, opusFrame(120)}} {
		b.Run(fmt.Sprintf("%v-%d-%v", f.codec, len(f.frame), Keyframe(f.codec, f.frame)), func(b *testing.B) {
			dst := make([]byte, 0, 2048)
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ctx.EncryptFrame(dst[:0], 1, f.codec, f.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
