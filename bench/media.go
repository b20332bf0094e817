package bench

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/konsil/konsil/client/e2ee"
)

// A stamp rides in every synthetic frame right after the codec's clear
// prefix, so with SFrame it is encrypted: the receiver reads it only after
// decryption and the server can neither read nor forge it.
//
//	magic "KBch" | sequence uint32 | send time int64 ns since the run's epoch
//	| simulcast layer uint8 (0 q, 1 h, 2 f; 0 for one layer) | flags uint8
//
// All layers of one video frame carry the same sequence number, so a
// receiver's count of lost frames runs on across the SFU's layer switches.
const (
	stampMagic = "KBch"
	stampLen   = 4 + 4 + 8 + 1 + 1
)

// stampForced flags a keyframe made because a keyframe request (PLI or
// FIR) came, not on the keyframe interval's clock.
const stampForced = 1 << 0

// errNoStamp: a frame carries no bench stamp (not ours, or cut short).
var errNoStamp = errors.New("bench: frame carries no stamp")

type stamp struct {
	seq   uint32
	sent  time.Duration // since the run's epoch
	layer uint8
	flags uint8
}

func putStamp(b []byte, s stamp) {
	copy(b, stampMagic)
	binary.BigEndian.PutUint32(b[4:], s.seq)
	binary.BigEndian.PutUint64(b[8:], uint64(s.sent))
	b[16], b[17] = s.layer, s.flags
}

// readStamp reads the stamp of a clear (decrypted) frame of codec.
func readStamp(codec e2ee.Codec, frame []byte) (stamp, error) {
	p := e2ee.ClearPrefixLen(codec, frame)
	b := frame[p:]
	if len(b) < stampLen || string(b[:4]) != stampMagic {
		return stamp{}, errNoStamp
	}
	return stamp{
		seq: binary.BigEndian.Uint32(b[4:]), sent: time.Duration(binary.BigEndian.Uint64(b[8:])),
		layer: b[16], flags: b[17],
	}, nil
}

// videoShape makes VP8-shaped frames: a keyframe every keyframe interval,
// about keyframeRatio times the size of a delta frame, and sizes that
// vary by ±10 % around the mean while averaging the asked bitrate. A
// forced keyframe (force) restarts the interval, as encoders do.
//
// A videoShape is used by one goroutine.
type videoShape struct {
	delta, key    int // mean sizes in bytes
	gop           int // frames from one keyframe to the next
	n             int // frames made since the last keyframe's start
	width, height uint16
	forced        bool // the next frame is a keyframe asked for
	rnd           *rand.Rand
	buf           []byte
}

// keyframeRatio: real VP8 keyframes at these bitrates are several times a
// delta frame; the SFU's keyframe handling and the subscribers' packet
// bursts should see that.
const keyframeRatio = 6

// Frame dimensions written in keyframe headers (RFC 6386 §9.1) of the
// full layer; simulcast layers below it halve them per step.
const frameWidth, frameHeight = 1280, 720

func newVideoShape(bitrate, fps int, keyframeInterval time.Duration, seed uint64) *videoShape {
	return newLayerShape(bitrate, fps, keyframeInterval, frameWidth, frameHeight, seed)
}

func newLayerShape(bitrate, fps int, keyframeInterval time.Duration, width, height uint16, seed uint64) *videoShape {
	gop := max(1, int(keyframeInterval.Seconds()*float64(fps)+0.5))
	gopBytes := float64(bitrate) / 8 * float64(gop) / float64(fps)
	delta := int(gopBytes / float64(keyframeRatio+gop-1))
	minSize := 10 + stampLen
	return &videoShape{
		delta: max(delta, minSize), key: max(delta*keyframeRatio, minSize), gop: gop,
		width: width, height: height,
		rnd: rand.New(rand.NewPCG(seed, 0x6b6f6e73696c)),
	}
}

// force makes the next frame a keyframe, flagged in its stamp, and
// starts the keyframe interval again from it.
func (v *videoShape) force() { v.forced = true }

// next returns the next frame, stamped with s. The slice is reused by the
// following call.
func (v *videoShape) next(s stamp) []byte {
	if v.forced {
		if v.n != 0 { // not due anyway: this keyframe is the request's
			s.flags |= stampForced
		}
		v.forced, v.n = false, 0
	}
	keyframe := v.n%v.gop == 0
	v.n = (v.n + 1) % v.gop
	size := v.delta
	if keyframe {
		size = v.key
	}
	size = vary(v.rnd, size, 10+stampLen)
	if cap(v.buf) < size {
		v.buf = make([]byte, size)
	}
	f := v.buf[:size]
	// RFC 6386 §9.1 frame tag: bit 0 inverse keyframe flag, bits 1-3
	// version 0, bit 4 show_frame, then 19 bits first partition size.
	part := min(size-10, 1<<19-1)
	tag := uint32(part)<<5 | 1<<4
	p := 3
	if !keyframe {
		tag |= 1
	}
	f[0], f[1], f[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	if keyframe {
		f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(f[6:], v.width)
		binary.LittleEndian.PutUint16(f[8:], v.height)
		p = 10
	}
	putStamp(f[p:], s)
	fill(f[p+stampLen:], v.n)
	return f
}

// opusShape makes Opus-shaped 20 ms frames of the size the bitrate asks:
// a TOC byte (RFC 6716 §3.1: config 15, CELT-less SILK/hybrid fullband
// 20 ms, mono, one frame) and the stamped body.
type opusShape struct {
	size int
	n    int
	buf  []byte
}

// opusFrame is the duration of one Opus frame, as browsers send.
const opusFrame = 20 * time.Millisecond

func newOpusShape(bitrate int) *opusShape {
	size := bitrate / 8 * int(opusFrame/time.Millisecond) / 1000
	return &opusShape{size: max(size, 1+stampLen)}
}

func (o *opusShape) next(s stamp) []byte {
	o.n++
	if cap(o.buf) < o.size {
		o.buf = make([]byte, o.size)
	}
	f := o.buf[:o.size]
	f[0] = 15 << 3
	putStamp(f[1:], s)
	fill(f[1+stampLen:], o.n)
	return f
}

// vary returns size ± up to 10 %, never below floor.
func vary(rnd *rand.Rand, size, floor int) int {
	spread := size / 10
	if spread > 0 {
		size += rnd.IntN(2*spread+1) - spread
	}
	return max(size, floor)
}

// fill writes a cheap, frame-dependent pattern: not zeros, so nothing on
// the way can compress it away, and not random, which would cost the
// bench CPU for nothing.
func fill(b []byte, n int) {
	x := byte(n)
	for i := range b {
		b[i] = x
		x = x*31 + 7
	}
}
