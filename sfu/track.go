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

// Track is one remote track a participant publishes: audio, or video
// with one layer or up to three simulcast layers (simulcast.go). Each
// layer has one goroutine that reads it (Track.forwardLayer) and offers
// each packet to every subscriber's writer; the list of subscribers is
// copy-on-write (changed under mu, read with one atomic load per packet),
// so the readers never take a lock.
type Track struct {
	id        string
	publisher *Participant
	// receiver is the transceiver's, shared by every layer: simulcast
	// layers arrive as tracks of one receiver.
	receiver *webrtc.RTPReceiver
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecCapability
	log      *slog.Logger
	pool     *packetPool
	// keyframes counts the VP8 keyframes read (the SFU's total); nil for
	// audio. tap is the SFU's test tap, usually nil.
	keyframes *atomic.Uint64
	tap       func(kind webrtc.RTPCodecType, payload []byte)
	now       func() time.Time
	// Retransmissions asked of the publisher (sequence numbers).
	nacked *atomic.Uint64
	// levelID is the negotiated id of the audio level extension (0: none)
	// and speakers the room's detector it reports to (nil in tests
	// without a room).
	levelID  uint8
	speakers *speakerDetector
	// bitrate caps each layer (MaxTrackBitrate); what goes over it is
	// counted in capped (the SFU's total).
	bitrate int
	capped  *atomic.Uint64

	// layers by index (q, h, f); set once each, as they appear.
	layers [maxLayers]atomic.Pointer[layer]
	// live counts the layers being read; the track ends with the last.
	live atomic.Int32

	mu   sync.Mutex
	subs atomic.Pointer[[]*DownTrack]

	done chan struct{}
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
	var levelID uint8
	var speakers *speakerDetector
	if kind == webrtc.RTPCodecTypeAudio && p.room != nil {
		levelID, speakers = audioLevelID(receiver.GetParameters()), p.room.speakers
	}
	return &Track{
		levelID: levelID, speakers: speakers,
		bitrate: p.sfu.cfg.MaxTrackBitrate, capped: &p.sfu.bitrateCapped,
		id: id, publisher: p, receiver: receiver, pool: p.sfu.packets,
		keyframes: keyframes, tap: p.sfu.tap, now: p.sfu.cfg.Now, nacked: &p.sfu.nackedUpstream,
		kind: kind, codec: remote.Codec().RTPCodecCapability,
		log:  p.log.With("track", id),
		done: make(chan struct{}),
	}
}

// addLayer makes remote a layer of t, by its RID; it returns nil when
// the slot is taken (a repeated RID) or all are.
func (t *Track) addLayer(remote *webrtc.TrackRemote) *layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var taken [maxLayers]bool
	for i := range t.layers {
		taken[i] = t.layers[i].Load() != nil
	}
	i := layerIndex(remote.RID(), taken)
	if i < 0 || taken[i] {
		return nil
	}
	l := newLayer(t, i, remote.RID(), remote, t.bitrate)
	t.layers[i].Store(l)
	return l
}

// layer returns layer i, or nil.
func (t *Track) layer(i int8) *layer {
	if i < 0 || int(i) >= maxLayers {
		return nil
	}
	return t.layers[i].Load()
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

// forwardLayer reads one layer until it ends and fans every packet out.
// It allocates nothing per packet: buffers come from the pool and go back
// when the last subscriber has written them.
func (t *Track) forwardLayer(l *layer) {
	for {
		pkt := t.pool.get()
		n, _, err := l.remote.Read(pkt.buf[:])
		if err != nil {
			t.pool.Put(pkt)
			return
		}
		if !pkt.parse(n) {
			t.pool.Put(pkt)
			continue
		}
		pkt.at = t.now()
		pkt.layer = l.index
		if t.speakers != nil {
			t.observeLevel(pkt)
		}
		if !l.limit.allow(n, pkt.at) {
			t.capped.Add(1)
			t.pool.Put(pkt)
			continue
		}
		l.meter.add(n, pkt.at)
		pkt.keyframe = t.keyframes != nil && vp8Keyframe(pkt.payload)
		if pkt.keyframe {
			t.keyframes.Add(1)
		}
		if t.tap != nil {
			t.tap(t.kind, pkt.payload)
		}
		t.fanOut(l, pkt)
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

// fanOut caches pkt (video) and queues it for every subscriber that
// follows its layer, or moves to it at this keyframe, dropping it for
// those whose queue is full, and gives up the reader's own reference.
func (t *Track) fanOut(l *layer, pkt *packet) {
	if l.cache != nil {
		l.cache.put(pkt)
	}
	// One reference per subscriber up front, and the ones not taken
	// given back at the end with the reader's own: two atomic adds per
	// packet instead of one per subscriber.
	unused := int32(1)
	if subs := t.subs.Load(); subs != nil && len(*subs) > 0 {
		pkt.refs.Add(int32(len(*subs)))
		for _, d := range *subs {
			take, from := d.accept(pkt.layer, pkt.keyframe)
			if !take {
				unused++
				continue
			}
			if !d.sub.writer.enqueue(d, pkt, from != pkt.layer) {
				unused++
				if from != pkt.layer {
					// The switch never reaches the writer: undo it, or
					// the writer would wait for it forever.
					d.current.CompareAndSwap(int32(pkt.layer), int32(from))
				}
			}
		}
	}
	pkt.releaseN(unused)
}

// requestRetransmit asks the publisher, soon, for a packet of layer l a
// subscriber lost and the cache does not hold. Requests are merged and
// paced by the feedback loop; it never blocks.
func (l *layer) requestRetransmit(seq uint16) {
	if !l.upstream.add(seq) {
		return
	}
	select {
	case l.nack <- struct{}{}:
	default:
	}
}

// readRTCP consumes what the publisher sends about one layer (sender
// reports): pion's interceptors act only on RTCP that is read, per RID
// for simulcast layers.
func (t *Track) readRTCP(l *layer) {
	buf := make([]byte, maxPacket)
	for {
		var err error
		if l.rid != "" {
			_, _, err = t.receiver.ReadSimulcast(buf, l.rid)
		} else {
			_, _, err = t.receiver.Read(buf)
		}
		if err != nil {
			return
		}
	}
}

// RequestKeyframe asks the publisher for a keyframe of the layer a
// subscriber follows (or is about to); it never blocks.
func (t *Track) RequestKeyframe(index int8) {
	if l := t.layer(index); l != nil {
		l.RequestKeyframe()
	}
}

// requestKeyframes sends PLIs to the publisher for one layer, at most
// one per KeyframeInterval: every subscriber that joins, switches layer
// or loses packets asks for a keyframe, and a burst of PLIs makes the
// publisher's encoder spend its bitrate on keyframes, which then arrive
// late and large for everyone. A request inside the interval is not
// lost: one PLI goes out when the interval ends. Layers are throttled
// apart: a switch to one layer must not wait for a PLI sent for another.
//
// The same loop sends NACKs for what subscribers lost and the layer's
// packet cache lacked, at most one per nackInterval.
func (t *Track) requestKeyframes(l *layer) {
	cfg := t.publisher.sfu.cfg
	th := throttle{interval: cfg.KeyframeInterval}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	nackTimer := time.NewTimer(time.Hour)
	nackTimer.Stop()
	defer nackTimer.Stop()
	for {
		var send bool
		var wait time.Duration
		select {
		case <-t.done:
			return
		case <-l.keyframe:
			send, wait = th.request(cfg.Now())
		case <-timer.C:
			send, wait = th.due(cfg.Now())
		case <-l.nack:
			t.sendNack(l, nackTimer)
		case <-nackTimer.C:
			t.sendNack(l, nackTimer)
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		if !send {
			continue
		}
		t.publisher.sfu.keyframeRequests.Add(1)
		err := t.publisher.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
		if err != nil {
			t.log.Debug("send PLI", "rid", l.rid, "err", err)
		}
	}
}

// sendNack asks the publisher for the packets of layer l subscribers
// lost, or sets timer for when it may.
func (t *Track) sendNack(l *layer, timer *time.Timer) {
	seqs, wait := l.upstream.take(t.now())
	if wait > 0 {
		timer.Reset(wait)
		return
	}
	if len(seqs) == 0 {
		return
	}
	t.nacked.Add(uint64(len(seqs)))
	nack := &rtcp.TransportLayerNack{MediaSSRC: l.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
	if err := t.publisher.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.log.Debug("send NACK", "rid", l.rid, "err", err)
	}
}

// close stops the feedback loops and lets go of the cached packets.
func (t *Track) close() {
	close(t.done)
	for i := range t.layers {
		if l := t.layers[i].Load(); l != nil && l.cache != nil {
			l.cache.clear()
		}
	}
}
