package sfu

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Track is one remote track a participant publishes. One goroutine reads
// it (Track.forward) and offers each packet to every subscriber's writer;
// the list of subscribers is copy-on-write (changed under mu, read with
// one atomic load per packet), so the reader never takes a lock.
type Track struct {
	id        string
	publisher *Participant
	remote    *webrtc.TrackRemote
	receiver  *webrtc.RTPReceiver
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecCapability
	log       *slog.Logger
	pool      *packetPool
	// keyframes counts the VP8 keyframes read (the SFU's total); nil for
	// audio. tap is the SFU's test tap, usually nil.
	keyframes *atomic.Uint64
	tap       func(kind webrtc.RTPCodecType, payload []byte)
	now       func() time.Time
	// cache answers subscribers' NACKs; nil for audio, which is not
	// retransmitted (a late Opus frame is as good as lost). upstream
	// collects what the cache lacked, for a NACK to the publisher.
	cache    *packetCache
	upstream upstreamNacks
	// Retransmissions asked of the publisher (sequence numbers).
	nacked *atomic.Uint64
	// levelID is the negotiated id of the audio level extension (0: none)
	// and speakers the room's detector it reports to (nil in tests
	// without a room).
	levelID  uint8
	speakers *speakerDetector
	// limit drops what goes over the track's bitrate cap, counted in
	// capped (the SFU's total). Owned by forward.
	limit  bitrateLimit
	capped *atomic.Uint64

	mu   sync.Mutex
	subs atomic.Pointer[[]*DownTrack]

	// keyframe and nack wake the loop that sends PLIs and NACKs to the
	// publisher.
	keyframe chan struct{}
	nack     chan struct{}
	done     chan struct{}
}

func newTrack(p *Participant, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) *Track {
	kind := remote.Kind()
	// Ids need to be unique per subscriber PeerConnection only; one
	// counter per SFU is simplest.
	id := fmt.Sprintf("%s-%d", kind, p.sfu.trackSeq.Add(1))
	var keyframes *atomic.Uint64
	if kind == webrtc.RTPCodecTypeVideo && strings.EqualFold(remote.Codec().MimeType, webrtc.MimeTypeVP8) {
		keyframes = &p.sfu.keyframes
	}
	var cache *packetCache
	if kind == webrtc.RTPCodecTypeVideo {
		cache = &packetCache{}
	}
	var levelID uint8
	var speakers *speakerDetector
	if kind == webrtc.RTPCodecTypeAudio && p.room != nil {
		levelID, speakers = audioLevelID(receiver.GetParameters()), p.room.speakers
	}
	return &Track{
		levelID: levelID, speakers: speakers,
		limit: newBitrateLimit(p.sfu.cfg.MaxTrackBitrate), capped: &p.sfu.bitrateCapped,
		id: id, publisher: p, remote: remote, receiver: receiver, pool: p.sfu.packets,
		keyframes: keyframes, tap: p.sfu.tap, now: p.sfu.cfg.Now, cache: cache, nacked: &p.sfu.nackedUpstream,
		kind: kind, codec: remote.Codec().RTPCodecCapability,
		log:      p.log.With("track", id, "ssrc", uint32(remote.SSRC())),
		keyframe: make(chan struct{}, 1),
		nack:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// attach starts sending to d.
func (t *Track) attach(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.subs.Load()
	var next []*DownTrack
	if old != nil {
		for _, x := range *old {
			if x == d {
				return
			}
		}
		next = make([]*DownTrack, 0, len(*old)+1)
		next = append(next, *old...)
	}
	next = append(next, d)
	t.subs.Store(&next)
}

// detach stops sending to d.
func (t *Track) detach(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.subs.Load()
	if old == nil {
		return
	}
	next := make([]*DownTrack, 0, len(*old))
	for _, x := range *old {
		if x != d {
			next = append(next, x)
		}
	}
	t.subs.Store(&next)
}

// forward reads the remote track until it ends and fans every packet out.
// It allocates nothing per packet: buffers come from the pool and go back
// when the last subscriber has written them.
func (t *Track) forward() {
	for {
		pkt := t.pool.get()
		n, _, err := t.remote.Read(pkt.buf[:])
		if err != nil {
			t.pool.Put(pkt)
			return
		}
		if !pkt.parse(n) {
			t.pool.Put(pkt)
			continue
		}
		pkt.at = t.now()
		if t.speakers != nil {
			t.observeLevel(pkt)
		}
		if !t.limit.allow(n, pkt.at) {
			t.capped.Add(1)
			t.pool.Put(pkt)
			continue
		}
		if t.keyframes != nil && vp8Keyframe(pkt.payload) {
			t.keyframes.Add(1)
		}
		if t.tap != nil {
			t.tap(t.kind, pkt.payload)
		}
		t.fanOut(pkt)
	}
}

// observeLevel reports the packet's audio level to the room's speaker
// detector and announces a new speaker.
func (t *Track) observeLevel(pkt *packet) {
	level, ok := audioLevel(pkt, t.levelID)
	if !ok {
		return
	}
	if id, changed := t.speakers.observe(t.publisher.id, level, pkt.at); changed {
		t.log.Debug("active speaker", "level", level)
		t.publisher.room.announceSpeaker(id)
	}
}

// fanOut caches pkt (video) and queues it for every subscriber,
// dropping it for those whose queue is full, and gives up the reader's
// own reference.
func (t *Track) fanOut(pkt *packet) {
	if t.cache != nil {
		t.cache.put(pkt)
	}
	if subs := t.subs.Load(); subs != nil && len(*subs) > 0 {
		pkt.refs.Add(int32(len(*subs)))
		for _, d := range *subs {
			if !d.sub.writer.enqueue(d, pkt) {
				pkt.release()
			}
		}
	}
	pkt.release()
}

// requestRetransmit asks the publisher, soon, for a packet a subscriber
// lost and the cache does not hold. Requests are merged and paced by
// the feedback loop; it never blocks.
func (t *Track) requestRetransmit(seq uint16) {
	if !t.upstream.add(seq) {
		return
	}
	select {
	case t.nack <- struct{}{}:
	default:
	}
}

// readRTCP consumes what the publisher sends about this track (sender
// reports): pion's interceptors act only on RTCP that is read.
func (t *Track) readRTCP() {
	buf := make([]byte, maxPacket)
	for {
		if _, _, err := t.receiver.Read(buf); err != nil {
			return
		}
	}
}

// RequestKeyframe asks the publisher for a keyframe, soon: requests are
// merged and paced by requestKeyframes. It never blocks.
func (t *Track) RequestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	select {
	case t.keyframe <- struct{}{}:
	default:
	}
}

// requestKeyframes sends PLIs to the publisher, at most one per
// KeyframeInterval: every subscriber that joins or loses packets asks for
// a keyframe, and a burst of PLIs makes the publisher's encoder spend its
// bitrate on keyframes, which then arrive late and large for everyone. A
// request inside the interval is not lost: one PLI goes out when the
// interval ends.
//
// The same loop sends NACKs for what subscribers lost and the packet
// cache lacked, at most one per nackInterval.
func (t *Track) requestKeyframes() {
	cfg := t.publisher.sfu.cfg
	th := throttle{interval: cfg.KeyframeInterval}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	nackTimer := time.NewTimer(time.Hour)
	nackTimer.Stop()
	defer nackTimer.Stop()
	ssrc := uint32(t.remote.SSRC())
	for {
		var send bool
		var wait time.Duration
		select {
		case <-t.done:
			return
		case <-t.keyframe:
			send, wait = th.request(cfg.Now())
		case <-timer.C:
			send, wait = th.due(cfg.Now())
		case <-t.nack:
			t.sendNack(ssrc, nackTimer)
		case <-nackTimer.C:
			t.sendNack(ssrc, nackTimer)
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		if !send {
			continue
		}
		t.publisher.sfu.keyframeRequests.Add(1)
		err := t.publisher.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		if err != nil {
			t.log.Debug("send PLI", "err", err)
		}
	}
}

// sendNack asks the publisher for the packets subscribers lost, or sets
// timer for when it may.
func (t *Track) sendNack(ssrc uint32, timer *time.Timer) {
	seqs, wait := t.upstream.take(t.now())
	if wait > 0 {
		timer.Reset(wait)
		return
	}
	if len(seqs) == 0 {
		return
	}
	t.nacked.Add(uint64(len(seqs)))
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
	if err := t.publisher.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.log.Debug("send NACK", "err", err)
	}
}

// close stops the feedback loop and lets go of the cached packets.
func (t *Track) close() {
	close(t.done)
	if t.cache != nil {
		t.cache.clear()
	}
}
