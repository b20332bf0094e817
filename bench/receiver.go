package bench

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/konsil/konsil/client/e2ee"
)

// streamStats is what one participant received of one publisher's track.
// The track's reader goroutine writes it; mu lets the report read it.
type streamStats struct {
	kind      string // "video" or "audio"
	publisher string

	mu sync.Mutex
	// Counted only while the run measures.
	frames, framesLost   uint64
	packets, packetsLost uint64
	wireBytes            uint64 // RTP packets as received (after SRTP)
	mediaBytes           uint64 // frames after decryption
	badFrames            uint64 // did not decrypt or carried no stamp
	latency              *histogram
	jitter               time.Duration // RFC 3550 §6.4.1 estimator over frames
	// layerFrames counts frames per simulcast layer (stamp.layer).
	layerFrames [maxLayers]uint64
	// firstForced: the first frame that arrived, in any phase, was a
	// keyframe the publisher made for a keyframe request.
	firstForced bool
	// layer is the simulcast layer of the last frame, layerSince when it
	// became that layer (every phase); switches counts changes while
	// measuring.
	layer      uint8
	layerSince time.Duration
	switches   uint64

	// Sequence state, kept in every phase.
	haveSeq, haveRTP bool
	lastSeq          uint32
	lastRTP          uint16
	haveTransit      bool
	lastTransit      time.Duration
}

func newStreamStats(kind, publisher string) *streamStats {
	return &streamStats{kind: kind, publisher: publisher, latency: newHistogram()}
}

// packet counts one RTP packet of n bytes; losses are sequence gaps.
func (s *streamStats) packet(seq uint16, n int, measuring bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveRTP {
		s.haveRTP, s.lastRTP = true, seq
	} else if d := int16(seq - s.lastRTP); d > 0 {
		if measuring {
			s.packetsLost += uint64(d - 1)
		}
		s.lastRTP = seq
	}
	if measuring {
		s.packets++
		s.wireBytes += uint64(n)
	}
}

// maxLayers bounds the simulcast layers a stream is counted on.
const maxLayers = 3

// frame counts one frame with its stamp, n clear bytes, arrived at now;
// key says it is a keyframe.
func (s *streamStats) frame(st stamp, n int, key bool, now time.Duration, measuring bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveSeq {
		s.firstForced = key && st.flags&stampForced != 0
		s.layer, s.layerSince = st.layer, now
	} else if st.layer != s.layer {
		s.layer, s.layerSince = st.layer, now
		if measuring {
			s.switches++
		}
	}
	if s.haveSeq {
		d := int32(st.seq - s.lastSeq)
		if d <= 0 {
			return // duplicate or late: counted when it was first missed
		}
		if measuring {
			s.framesLost += uint64(d - 1)
		}
	}
	s.haveSeq, s.lastSeq = true, st.seq
	transit := now - st.sent
	if s.haveTransit {
		d := transit - s.lastTransit
		s.jitter += (d.Abs() - s.jitter) / 16
	}
	s.haveTransit, s.lastTransit = true, transit
	if measuring {
		s.frames++
		s.mediaBytes += uint64(n)
		s.latency.add(transit)
		if int(st.layer) < maxLayers {
			s.layerFrames[st.layer]++
		}
	}
}

// steadySince is when s last changed layer (or got its first frame);
// ok is false before any frame.
func (s *streamStats) steadySince() (at time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layerSince, s.haveSeq
}

func (s *streamStats) bad(measuring bool) {
	if !measuring {
		return
	}
	s.mu.Lock()
	s.badFrames++
	s.mu.Unlock()
}

// rtpSource is what a receiver reads: *webrtc.TrackRemote.
type rtpSource interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// opener decrypts one whole frame into dst; nil when media is in clear.
type opener func(dst []byte, codec e2ee.Codec, frame []byte) ([]byte, error)

// receiver reads one remote track: it puts VP8 frames back together from
// their packets (the marker bit ends a frame), decrypts each frame,
// reads its stamp and counts it. One goroutine owns it.
//
// It assembles frames itself rather than with the SDK's FrameReader:
// pion's sample builder hands a frame out only when the next frame's
// first packet arrives, which would add a frame interval (33 ms at
// 30 fps) to every video latency.
type receiver struct {
	codec     e2ee.Codec
	open      opener
	stats     *streamStats
	now       func() time.Duration
	measuring *atomic.Bool
	// onFrame is called after every good frame (first-frame timing).
	onFrame func(now time.Duration)
	// rx counts every packet and byte, in every phase, for the live line.
	rxPackets, rxBytes *atomic.Uint64

	vp8 vp8Assembler
	pkt rtp.Packet
	dec []byte
	// decodable: a video keyframe arrived whole. Before it a decoder
	// has nothing to refer delta frames to, so they are not counted:
	// the SFU may start a subscriber on a keyframe that is lost while
	// the subscriber's DTLS is still coming up, and then asks the
	// publisher for another one.
	decodable bool
}

// maxPacket is larger than any RTP packet on a 1,500-byte path.
const maxPacket = 1500

func (r *receiver) run(src rtpSource) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := src.Read(buf)
		if err != nil {
			return
		}
		if r.pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		r.rxPackets.Add(1)
		r.rxBytes.Add(uint64(n))
		measuring := r.measuring.Load()
		r.stats.packet(r.pkt.SequenceNumber, n, measuring)
		frame := r.pkt.Payload
		if r.codec == e2ee.CodecVP8 {
			f, ok := r.vp8.push(&r.pkt)
			if !ok {
				continue
			}
			frame = f
		}
		if len(frame) > 0 {
			r.onWholeFrame(frame, measuring)
		}
	}
}

func (r *receiver) onWholeFrame(frame []byte, measuring bool) {
	now := r.now()
	// The VP8 frame tag is in SFrame's clear prefix: readable sealed.
	key := r.codec == e2ee.CodecVP8 && e2ee.Keyframe(r.codec, frame)
	if r.codec == e2ee.CodecVP8 && !r.decodable {
		if !key {
			return
		}
		r.decodable = true
	}
	clear := frame
	if r.open != nil {
		pt, err := r.open(r.dec[:0], r.codec, frame)
		if err != nil {
			r.stats.bad(measuring)
			return
		}
		r.dec, clear = pt[:0], pt
	}
	st, err := readStamp(r.codec, clear)
	if err != nil {
		r.stats.bad(measuring)
		return
	}
	r.stats.frame(st, len(clear), key, now, measuring)
	if r.onFrame != nil {
		r.onFrame(now)
	}
}

// vp8Assembler joins the packets of one VP8 frame (RFC 7741): a frame
// starts at a packet with S=1 and partition 0 and ends at the marker bit.
// A frame with a missing packet is dropped whole, as a decoder would.
type vp8Assembler struct {
	desc    codecs.VP8Packet
	buf     []byte
	ts      uint32
	lastSeq uint16
	active  bool // inside a frame that is whole so far
}

func (a *vp8Assembler) push(p *rtp.Packet) ([]byte, bool) {
	payload, err := a.desc.Unmarshal(p.Payload)
	if err != nil {
		a.active = false
		return nil, false
	}
	switch {
	case a.desc.S == 1 && a.desc.PID == 0:
		a.buf, a.ts, a.active = a.buf[:0], p.Timestamp, true
	case !a.active:
	case p.Timestamp != a.ts || p.SequenceNumber != a.lastSeq+1:
		a.active = false
	}
	a.lastSeq = p.SequenceNumber
	if !a.active {
		return nil, false
	}
	a.buf = append(a.buf, payload...)
	if !p.Marker {
		return nil, false
	}
	a.active = false
	return a.buf, true
}

// roomKeys decrypt the SFrame media of one room. Every participant of a
// bench room is the bench's own, so instead of learning KIDs from
// signaling it derives the key of any KID it sees from the room's media
// key (e2ee.SenderBaseKey), as each receiver would once told the KID.
type roomKeys struct {
	media []byte
	ctx   *e2ee.Context
	known sync.Map // uint64 KID -> struct{}
}

func newRoomKeys(secret []byte) (*roomKeys, error) {
	keys, err := e2ee.DeriveKeys(secret)
	if err != nil {
		return nil, err
	}
	ctx, err := e2ee.NewContext(e2ee.DefaultSuite)
	if err != nil {
		return nil, err
	}
	return &roomKeys{media: keys.Media, ctx: ctx}, nil
}

// maxKIDs bounds the keys of one room: a misbehaving server could send
// frames with ever new KIDs.
const maxKIDs = 4 * maxRoomSize

func (k *roomKeys) open(dst []byte, codec e2ee.Codec, frame []byte) ([]byte, error) {
	p := e2ee.ClearPrefixLen(codec, frame)
	h, _, err := e2ee.DecodeHeader(frame[p:])
	if err != nil {
		return nil, err
	}
	if _, ok := k.known.Load(h.KID); !ok && k.count() < maxKIDs {
		if err := k.ctx.AddKey(h.KID, e2ee.SenderBaseKey(k.media, h.KID)); err != nil {
			return nil, err
		}
		k.known.Store(h.KID, struct{}{})
	}
	_, pt, err := k.ctx.DecryptFrame(dst, codec, frame)
	return pt, err
}

func (k *roomKeys) count() int {
	n := 0
	k.known.Range(func(_, _ any) bool { n++; return true })
	return n
}
