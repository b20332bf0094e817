package e2ee

import (
	"errors"
	"fmt"
	"strings"
)

// Codec names the media codec of a frame, which decides how much of the
// frame stays in clear.
type Codec uint8

// The codecs of Konsil conferences.
const (
	CodecVP8 Codec = iota + 1
	CodecOpus
)

// ErrUnsupportedCodec is returned for a codec this package has no clear
// prefix rule for.
var ErrUnsupportedCodec = errors.New("e2ee: no SFrame clear-prefix rule for codec")

func (c Codec) String() string {
	switch c {
	case CodecVP8:
		return "vp8"
	case CodecOpus:
		return "opus"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// ParseCodec reads a codec name ("vp8", "opus") or MIME type ("video/VP8",
// "audio/opus"), in any case.
func ParseCodec(name string) (Codec, error) {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(strings.TrimPrefix(n, "video/"), "audio/")
	switch n {
	case "vp8":
		return CodecVP8, nil
	case "opus":
		return CodecOpus, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnsupportedCodec, name)
}

// Clear prefixes (DESIGN.md, BROWSER-TESTING.md): the browser's
// depacketizer and decoder read the codec header before the frame reaches
// the decrypting transform, and the SFU reads it to find keyframes, so it
// stays clear. VP8 (RFC 6386 §9.1): a 3-byte frame tag, on keyframes
// followed by a 7-byte start code and dimensions. Opus (RFC 6716 §3.1):
// the 1-byte TOC.
const (
	vp8KeyframePrefix = 10
	vp8DeltaPrefix    = 3
	opusPrefix        = 1
)

// clearPrefix is the codec's clear prefix for frame, which only the first
// byte decides, whether or not the frame is that long.
func clearPrefix(codec Codec, frame []byte) (int, error) {
	switch codec {
	case CodecVP8:
		if len(frame) > 0 && frame[0]&1 != 0 {
			return vp8DeltaPrefix, nil
		}
		return vp8KeyframePrefix, nil
	case CodecOpus:
		return opusPrefix, nil
	}
	return 0, fmt.Errorf("%w %v", ErrUnsupportedCodec, codec)
}

// ClearPrefixLen is the number of leading bytes of frame that stay clear
// for codec: VP8 10 on keyframes and 3 on delta frames, Opus 1. It reads
// only the first byte, so it gives the same answer for a frame before and
// after EncryptFrame; the SFU uses it on encrypted frames. It never exceeds
// len(frame), and is 0 for a codec it does not know.
func ClearPrefixLen(codec Codec, frame []byte) int {
	n, err := clearPrefix(codec, frame)
	if err != nil {
		return 0
	}
	return min(n, len(frame))
}

// Keyframe reports whether frame (clear or encrypted) is a keyframe: for
// VP8 the inverted key-frame bit, bit 0 of the frame tag (RFC 6386 §9.1).
// Every Opus frame decodes on its own, so it is always true there.
func Keyframe(codec Codec, frame []byte) bool {
	switch codec {
	case CodecVP8:
		return len(frame) > 0 && frame[0]&1 == 0
	case CodecOpus:
		return len(frame) > 0
	}
	return false
}

// EncryptFrame encrypts one encoded media frame for kid and appends
// clear prefix || SFrame header || ciphertext || tag to dst. The clear
// prefix (ClearPrefixLen) is authenticated as SFrame metadata, so a
// receiver notices when it was changed. A frame shorter than its codec's
// prefix is ErrMalformed. With cap(dst)-len(dst) ≥ len(frame) + 80, the
// GCM suites do not allocate.
func (c *Context) EncryptFrame(dst []byte, kid uint64, codec Codec, frame []byte) ([]byte, error) {
	p, err := clearPrefix(codec, frame)
	if err != nil {
		return nil, err
	}
	if len(frame) < p {
		return nil, fmt.Errorf("%w: %v frame of %d bytes, shorter than its %d-byte header", ErrMalformed, codec, len(frame), p)
	}
	return c.encrypt(dst, frame[:p], kid, frame[:p], frame[p:])
}

// DecryptFrame checks and decrypts a frame made by EncryptFrame and
// appends the original frame (clear prefix || plaintext) to dst. It returns
// the sender's KID. Errors: ErrMalformed, ErrUnknownKID, ErrAuth.
func (c *Context) DecryptFrame(dst []byte, codec Codec, frame []byte) (uint64, []byte, error) {
	p, err := clearPrefix(codec, frame)
	if err != nil {
		return 0, nil, err
	}
	if len(frame) < p {
		return 0, nil, fmt.Errorf("%w: %v frame of %d bytes, shorter than its %d-byte clear prefix", ErrMalformed, codec, len(frame), p)
	}
	return c.decrypt(dst, frame[:p], frame[:p], frame[p:])
}
