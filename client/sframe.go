package client

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// Errors of conference media with a room secret.
var (
	// ErrNoMediaKey: an SFrameTrack was written before its Conference gave
	// it a key (or it belongs to none). The frame is dropped, never sent
	// in clear.
	ErrNoMediaKey = errors.New("client: SFrame track has no media key yet")
	// ErrPlainTrack: a Conference with a RoomSecret was given a track that
	// would send media in clear; wrap it with NewSFrameTrack.
	ErrPlainTrack = errors.New("client: with a room secret every conference track must be an *SFrameTrack")
	// ErrFrame wraps the failure to decrypt one frame (with e2ee.ErrAuth,
	// e2ee.ErrUnknownKID or e2ee.ErrMalformed, or ErrFrameSender). The
	// frame is lost; the track goes on, so FrameReader.ReadFrame can be
	// called again.
	ErrFrame = errors.New("client: frame does not decrypt")
	// ErrFrameSender: a frame decrypted with the key of a KID that is not
	// the one announced for the track's publisher.
	ErrFrameSender = errors.New("client: frame encrypted by another participant than the track's publisher")
)

// SFrameTrack is a TrackLocalStaticSample whose samples are encrypted
// with SFrame (RFC 9605, docs/SECURITY.md) before they are packetized:
// one sample is one encoded frame, the unit SFrame encrypts. The codec's
// clear prefix (VP8 frame header, Opus TOC) stays readable for the SFU and
// the depacketizer. Its Conference gives it the key of our KID when it
// joins; until then, and in a Conference without a room secret, writes
// fail with ErrNoMediaKey.
//
// mu guards the key and the encryption buffer: WriteSample may be called
// from any goroutine, one frame at a time.
type SFrameTrack struct {
	*webrtc.TrackLocalStaticSample
	codec e2ee.Codec

	mu  sync.Mutex
	ctx *e2ee.Context
	kid uint64
	buf []byte
}

// NewSFrameTrack wraps track; its MIME type must be VP8 or Opus.
func NewSFrameTrack(track *webrtc.TrackLocalStaticSample) (*SFrameTrack, error) {
	codec, err := e2ee.ParseCodec(track.Codec().MimeType)
	if err != nil {
		return nil, err
	}
	return &SFrameTrack{TrackLocalStaticSample: track, codec: codec}, nil
}

// setKey makes the track encrypt with kid's key in ctx from now on.
func (t *SFrameTrack) setKey(ctx *e2ee.Context, kid uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx, t.kid = ctx, kid
}

// WriteSample encrypts one frame and sends it. pion packetizes and writes
// it before returning, so the encryption buffer is reused.
func (t *SFrameTrack) WriteSample(s media.Sample) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return ErrNoMediaKey
	}
	if need := len(s.Data) + 64; cap(t.buf) < need {
		t.buf = make([]byte, 0, need)
	}
	enc, err := t.ctx.EncryptFrame(t.buf[:0], t.kid, t.codec, s.Data)
	if err != nil {
		return fmt.Errorf("encrypt %v frame: %w", t.codec, err)
	}
	t.buf = enc[:0]
	s.Data = enc
	return t.TrackLocalStaticSample.WriteSample(s)
}

// Frame is one media frame as its publisher encoded it.
type Frame struct {
	Data []byte
	// KID is the SFrame KID the frame was encrypted with; zero without a
	// room secret.
	KID uint64
	// Keyframe: a VP8 keyframe, or any Opus frame.
	Keyframe bool
	// Timestamp is the RTP timestamp of the frame.
	Timestamp uint32
}

// FrameReader reads whole frames from a track the SFU forwards and
// decrypts them. VP8 frames may span many RTP packets: a sample builder
// (pion's, with the VP8 depacketizer) puts them back together, so a
// frame is only handed out once its last packet and the first packet of
// the next frame arrived. Opus frames are one packet each (RFC 7587).
//
// A FrameReader is used by one goroutine.
type FrameReader struct {
	track *webrtc.TrackRemote
	codec e2ee.Codec
	// open decrypts; nil: frames pass as they are (no room secret).
	open func(dst, frame []byte) (uint64, []byte, error)
	// kid is the publisher's KID now; ok false when it is not known.
	kid func() (uint64, bool)

	sb  *samplebuilder.SampleBuilder // VP8 only
	buf []byte
	// cut counts frames dropped for lacking their end.
	cut int
}

// CutFrames is how many incomplete frames the reader dropped: frames the
// SFU cut off at a simulcast layer switch.
func (r *FrameReader) CutFrames() int { return r.cut }

// maxLatePackets bounds how many packets the sample builder waits for a
// missing one before it gives the frame up.
const maxLatePackets = 128

func newFrameReader(track *webrtc.TrackRemote, open func(dst, frame []byte) (uint64, []byte, error), kid func() (uint64, bool)) (*FrameReader, error) {
	codec, err := e2ee.ParseCodec(track.Codec().MimeType)
	if err != nil {
		return nil, err
	}
	r := &FrameReader{track: track, codec: codec, open: open, kid: kid}
	if codec == e2ee.CodecVP8 {
		r.sb = samplebuilder.New(maxLatePackets, &codecs.VP8Packet{}, track.Codec().ClockRate, samplebuilder.WithRTPHeaders(true))
	}
	return r, nil
}

// ReadFrame returns the next frame, decrypted. An error wrapping ErrFrame
// is about that frame alone: call again for the next. Any other error
// (io.EOF when the publisher left) ends the track.
func (r *FrameReader) ReadFrame() (Frame, error) {
	data, ts, err := r.next()
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Data: data, Keyframe: e2ee.Keyframe(r.codec, data), Timestamp: ts}
	if r.open == nil {
		return f, nil
	}
	kid, pt, err := r.open(r.buf[:0], data)
	if err != nil {
		return Frame{}, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	r.buf = pt[:0]
	if want, ok := r.kid(); ok && want != kid {
		return Frame{}, fmt.Errorf("%w: %w: KID %d, the publisher's is %d", ErrFrame, ErrFrameSender, kid, want)
	}
	f.Data, f.KID = pt, kid
	return f, nil
}

// next returns the next whole (still encrypted) frame.
func (r *FrameReader) next() ([]byte, uint32, error) {
	for {
		if r.sb != nil {
			if s := r.sb.Pop(); s != nil {
				// A frame whose last packet lacks the marker bit was cut
				// off: the SFU switched simulcast layers in the middle of
				// it (at a keyframe of the new layer). Its sequence numbers
				// run on, so nothing is missing to wait for; drop it, as a
				// browser's jitter buffer does, rather than fail to
				// decrypt a truncated frame.
				if h := s.RTPHeaders; len(h) > 0 && !h[len(h)-1].Marker {
					r.cut++
					continue
				}
				return s.Data, s.PacketTimestamp, nil
			}
		}
		pkt, _, err := r.track.ReadRTP()
		if err != nil {
			return nil, 0, err
		}
		if r.sb == nil {
			if len(pkt.Payload) == 0 {
				continue
			}
			return pkt.Payload, pkt.Timestamp, nil
		}
		r.sb.Push(pkt)
	}
}

// mediaKeys are the SFrame keys of a conference with a room secret: our
// own KID's, to encrypt, and every other participant's, to decrypt, all
// derived from the room's media key (e2ee.SenderBaseKey). The Context is
// safe for concurrent use; the map of KIDs by participant is guarded by
// mu.
type mediaKeys struct {
	media []byte
	ctx   *e2ee.Context

	mu   sync.Mutex
	kids map[string]uint64 // participant id -> current KID
}

func newMediaKeys(mediaKey []byte) (*mediaKeys, error) {
	ctx, err := e2ee.NewContext(e2ee.DefaultSuite)
	if err != nil {
		return nil, err
	}
	return &mediaKeys{media: mediaKey, ctx: ctx, kids: map[string]uint64{}}, nil
}

// add learns a participant's KID (welcome, peer-joined). A KID of zero is
// a server without KIDs: nothing to add.
func (k *mediaKeys) add(participant string, kid uint64) error {
	if kid == 0 {
		return nil
	}
	if err := k.ctx.AddKey(kid, e2ee.SenderBaseKey(k.media, kid)); err != nil {
		return err
	}
	k.mu.Lock()
	old, had := k.kids[participant]
	k.kids[participant] = kid
	k.mu.Unlock()
	if had && old != kid {
		k.ctx.RemoveKey(old)
	}
	return nil
}

// remove forgets a participant that left, unless it already came back
// with another KID.
func (k *mediaKeys) remove(participant string, kid uint64) {
	k.mu.Lock()
	cur, ok := k.kids[participant]
	if ok && (kid == 0 || cur == kid) {
		delete(k.kids, participant)
	} else {
		ok = false
	}
	k.mu.Unlock()
	if ok {
		k.ctx.RemoveKey(cur)
	}
}

// rekey takes the KIDs of a new session's welcome, ours included, in an
// order that never leaves our tracks without a key: first every new key
// is added, the old ones staying; then the KIDs by participant are
// replaced and use switches our tracks to the new KID; only then are the
// keys of KIDs no longer listed removed (ours of the old session, and
// those of participants who left while we were away and will not say
// so). If a key cannot be added, those added so far go again and nothing
// else changes: our tracks keep encrypting under the old KID.
func (k *mediaKeys) rekey(kids map[string]uint64, use func()) error {
	k.mu.Lock()
	known := make(map[uint64]bool, len(k.kids))
	for _, kid := range k.kids {
		known[kid] = true
	}
	k.mu.Unlock()
	var added []uint64
	for _, kid := range kids {
		if kid == 0 || known[kid] {
			continue
		}
		if err := k.ctx.AddKey(kid, e2ee.SenderBaseKey(k.media, kid)); err != nil {
			for _, a := range added {
				k.ctx.RemoveKey(a)
			}
			return err
		}
		added = append(added, kid)
	}
	listed := make(map[uint64]bool, len(kids))
	k.mu.Lock()
	old := k.kids
	k.kids = make(map[string]uint64, len(kids))
	for id, kid := range kids {
		if kid != 0 {
			k.kids[id], listed[kid] = kid, true
		}
	}
	k.mu.Unlock()
	use()
	for _, kid := range old {
		if !listed[kid] {
			k.ctx.RemoveKey(kid)
		}
	}
	return nil
}

func (k *mediaKeys) kidOf(participant string) (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kid, ok := k.kids[participant]
	return kid, ok
}

// keyMedia keys SFrame for a session of a conference with a room
// secret, from its welcome: our tracks encrypt under the session's KID,
// every participant listed can be decrypted, and the keys of those no
// longer there are forgotten. It refuses a welcome without our KID, or
// one whose keys cannot be made, before changing anything.
func (c *Conference) keyMedia(welcome protocol.Message) error {
	if c.media == nil {
		return nil
	}
	if welcome.Self == nil || welcome.Self.KID == 0 {
		return ErrNoKID
	}
	self := *welcome.Self
	kids := map[string]uint64{self.ID: self.KID}
	for _, p := range welcome.Peers {
		kids[p.ID] = p.KID
	}
	// Simulcast layers are separate frame sequences under the one KID:
	// one context, so one counter, and no nonce is ever used twice. A
	// new session's KID is new too (never a counter that starts again).
	err := c.media.rekey(kids, func() {
		for _, t := range append(append([]webrtc.TrackLocal{}, c.opts.Tracks...), c.opts.VideoLayers...) {
			if st, ok := t.(*SFrameTrack); ok {
				st.setKey(c.media.ctx, self.KID)
			}
		}
	})
	if err != nil {
		return err
	}
	c.log.Info("media encrypted with SFrame", "kid", self.KID)
	return nil
}

// learnKID takes the KID of a participant that joined (or came back with
// a new session, hence a new KID).
func (c *Conference) learnKID(p protocol.Peer) {
	if c.media == nil {
		return
	}
	if err := c.media.add(p.ID, p.KID); err != nil {
		c.log.Warn("add SFrame key", "peer", p.ID, "err", err)
	}
}

// KID is our SFrame KID in the current session (Reconnect brings a new
// one); zero without a room secret.
func (c *Conference) KID() uint64 {
	if c.media == nil {
		return 0
	}
	kid, _ := c.media.kidOf(c.Self())
	return kid
}

// NewFrameReader reads whole frames from a track that OnTrack handed
// over, decrypted with the publisher's key when the Conference has a
// room secret, and checked to come from the publisher's KID.
func (c *Conference) NewFrameReader(track *webrtc.TrackRemote) (*FrameReader, error) {
	if c.media == nil {
		return newFrameReader(track, nil, nil)
	}
	codec, err := e2ee.ParseCodec(track.Codec().MimeType)
	if err != nil {
		return nil, err
	}
	ctx, publisher := c.media.ctx, track.StreamID()
	open := func(dst, frame []byte) (uint64, []byte, error) { return ctx.DecryptFrame(dst, codec, frame) }
	kid := func() (uint64, bool) { return c.media.kidOf(publisher) }
	return newFrameReader(track, open, kid)
}
