package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"github.com/konsil/konsil/internal/rtcpfb"
	"github.com/konsil/konsil/protocol"
)

const (
	// signalBuffer holds signaling messages while the loop is busy (a
	// burst of trickled candidates during an offer). The hub rate-limits
	// what a client sends, so this is never reached by a sane client.
	// The queue holds pointers: a Message is a few hundred bytes, and a
	// queue of values cost every participant about 90 KB of heap.
	signalBuffer = 256
	// maxPendingCandidates bounds remote candidates kept before the
	// answer they belong to.
	maxPendingCandidates = 256
)

// Participant is one member of a conference with its PeerConnection to the
// SFU. The client makes the first offer, with what it publishes (audio,
// and video as up to three simulcast layers: browsers send simulcast
// reliably only on a section they offer) and its chat channel; the SFU
// answers it and makes every later offer itself, so offers never cross:
// each adds or ends send-only sections as tracks come and go. At most
// one offer is out at a time: a change while one is out is offered again
// once the answer is in. The SFU offers nothing before it has answered.
//
// Negotiation and layer selection state (subs, answered, awaiting,
// dirty, pending, views, selector) is owned by one goroutine, loop, fed
// by signaling messages, room changes and a selection tick. mu guards
// what pion's callbacks touch. The participant also owns a writer, the
// goroutine that writes every packet it subscribes to.
type Participant struct {
	sfu  *SFU
	room *Room
	id   string
	log  *slog.Logger
	send func(protocol.Message)
	pc   *webrtc.PeerConnection
	// bwe estimates the bandwidth to this participant (bwe.go); nil in
	// tests without a PeerConnection.
	bwe    cc.BandwidthEstimator
	writer *writer
	// chat is the participant's chat channel; chatLimit paces what it
	// sends there (used on pion's SCTP goroutine only).
	chat      *webrtc.DataChannel
	chatLimit *rate.Limiter
	// chatOut holds chat relayed to the participant until its channel
	// opens (chat.go); it has a lock of its own.
	chatOut chatQueue

	msgs      chan *protocol.Message
	kick      chan struct{} // the room's tracks changed; buffered 1
	done      chan struct{} // closed by close
	loopDone  chan struct{}
	leaveOnce sync.Once
	closeOnce sync.Once
	// wg counts the goroutines reading tracks and RTCP.
	wg sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	started bool
	tracks  []*Track             // what it publishes
	holding bool                 // an offer is on its way: hold candidates
	held    []protocol.Candidate // candidates gathered meanwhile

	// connected: the PeerConnection has been connected (ICE and DTLS up)
	// once. Set by pion's callback, read by the loop.
	connected atomic.Bool

	// Owned by loop.
	subs     map[*Track]*subscription
	answered bool // the client's first offer is answered
	awaiting bool // an offer is out, no answer yet
	dirty    bool // the room changed while an offer was out
	pending  []webrtc.ICECandidateInit
	// views are the tile sizes the client last reported, by publisher.
	views    map[string]protocol.View
	selector LayerSelector
	selIn    []layerInput
	selOut   []int
	selDTs   []*DownTrack
}

// subscription is one other participant's track sent to this one.
type subscription struct {
	dt     *DownTrack
	sender *webrtc.RTPSender
}

// newParticipant builds the participant and its PeerConnection; Join
// puts it in its room.
func newParticipant(s *SFU, roomID, id string, send func(protocol.Message)) (*Participant, error) {
	var unroutable atomic.Bool
	pc, bwe, err := s.newPeerConnection(func() {
		// Once per participant: each layer of the track fails alike.
		if !unroutable.Swap(true) {
			s.log.Warn("dropped a stream without MID/RID header extensions", "room", roomID, "participant", id)
			send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{Code: protocol.CodeUnroutableMedia,
				Message: "a simulcast stream arrived without the MID and RID RTP header extensions; it cannot be forwarded (docs/PROTOCOL.md, Media)"}})
		}
	})
	if err != nil {
		return nil, err
	}
	p := &Participant{
		sfu: s, id: id, send: send, pc: pc, bwe: bwe,
		selector: LayerSelector{upHold: defaultUpHold},
		log:      s.log.With("room", roomID, "participant", id),
		writer:   newWriter(s.cfg.QueuePackets),
		msgs:     make(chan *protocol.Message, signalBuffer),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		subs:     map[*Track]*subscription{},
	}
	if err := p.openChat(); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("create chat channel: %w", err)
	}
	pc.OnICECandidate(p.onLocalCandidate)
	pc.OnTrack(p.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("peer connection state", "state", st.String())
		if st == webrtc.PeerConnectionStateConnected && !p.connected.Swap(true) {
			// The subscriptions held back since the answer (negotiate).
			p.renegotiate()
		}
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			// The client went away or its network did. Its signaling
			// session may live on; a new session (Leave and Join) gets a
			// fresh PeerConnection.
			p.Leave()
		}
	})
	return p, nil
}

// ID is the participant id.
func (p *Participant) ID() string { return p.id }

// start runs the writer and the negotiation loop, which waits for the
// client's first offer. It follows Room.add, so that no track published
// meanwhile is missed.
func (p *Participant) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.started = true
	go p.writer.run()
	go p.loop()
}

// Signal hands the participant a message its client sent to the SFU
// (offer, answer, candidate, view). It never blocks.
func (p *Participant) Signal(m protocol.Message) {
	select {
	case <-p.done:
	case p.msgs <- &m:
	default:
		p.log.Warn("signaling message dropped: queue full", "type", m.Type)
	}
}

// Leave ends the participant: its tracks leave every subscriber, its
// PeerConnection closes and its goroutines end. It returns at once; the
// teardown runs in the background (SFU.Close waits for it). Calling it
// on a participant that was replaced, or twice, does nothing more.
func (p *Participant) Leave() {
	p.leaveOnce.Do(func() { go p.close() })
}

// renegotiate tells the loop that the room's tracks changed.
func (p *Participant) renegotiate() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// selectEvery is how often each subscriber's layers are chosen again
// from its estimate: often enough to step down within a second of
// congestion, rarely enough to cost nothing.
const selectEvery = 500 * time.Millisecond

func (p *Participant) loop() {
	defer close(p.loopDone)
	tick := time.NewTicker(selectEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
			p.negotiate()
		case m := <-p.msgs:
			p.handle(*m)
		case <-tick.C:
			p.selectLayers()
		}
	}
}

func (p *Participant) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypeOffer:
		p.onOffer(m.SDP)
	case protocol.TypeAnswer:
		p.onAnswer(m.SDP)
	case protocol.TypeCandidate:
		if m.Candidate != nil {
			p.onRemoteCandidate(fromProtocolCandidate(*m.Candidate))
		}
	case protocol.TypeView:
		p.onView(m.Views)
	default:
		p.log.Debug("ignoring message to the SFU", "type", m.Type)
	}
}

// refuse tells the client that the SFU did not take its message.
func (p *Participant) refuse(format string, args ...any) {
	p.send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{
		Code: protocol.CodeInvalid, Message: fmt.Sprintf(format, args...)}})
}

// onOffer answers the client's first offer: its own media and chat
// channel. Any later offer is refused: from then on the SFU makes every
// offer, and one from the client would be glare, which pion cannot roll
// back.
func (p *Participant) onOffer(sdp string) {
	if p.answered {
		p.refuse("the sfu answers only the first offer; it makes every later one")
		return
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		p.log.Warn("set remote offer", "err", err)
		p.refuse("the offer was not accepted")
		return
	}
	for _, c := range p.pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("add queued remote candidate", "err", err)
		}
	}
	p.pending = nil
	if err := p.answer(); err != nil {
		p.log.Warn("answer", "err", err)
		return
	}
	p.answered = true
	p.negotiate()
}

// answer creates the answer to the client's offer and sends it,
// holding candidates back until it is out.
func (p *Participant) answer() error {
	desc, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
	defer p.releaseCandidates()
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	p.send(protocol.Message{Type: protocol.TypeAnswer, SDP: p.pc.LocalDescription().SDP})
	p.log.Debug("answer sent")
	return nil
}

// negotiate brings the subscriptions in line with the room and offers
// the change, or notes it for later when an offer is already out. Before
// the client's first offer is answered, and then until the
// PeerConnection is first connected, it does nothing: the connection
// kicks it. An offer sent right behind the answer reached pion clients
// while their answer was still being applied; pion then took the offer
// for an ICE restart, changed its own credentials, and the SFU's checks
// went unanswered until the join timed out (about one join in 2,000
// under load, caught with debug logs on both sides).
func (p *Participant) negotiate() {
	if !p.answered || !p.connected.Load() {
		return
	}
	if p.awaiting {
		p.dirty = true
		return
	}
	changed := p.reconcile()
	if changed {
		p.selectLayers()
	}
	if !changed {
		return
	}
	if err := p.offer(); err != nil {
		p.log.Warn("offer", "err", err)
	}
}

// reconcile adds a send-only section for every track of the room the
// participant lacks and ends those whose track is gone. It reports
// whether anything changed.
func (p *Participant) reconcile() bool {
	want := p.room.tracksFor(p)
	keep := make(map[*Track]bool, len(want))
	changed := false
	for _, t := range want {
		keep[t] = true
		if p.subs[t] != nil {
			continue
		}
		if err := p.subscribe(t); err != nil {
			p.log.Warn("subscribe", "track", t.id, "err", err)
			continue
		}
		changed = true
	}
	for t, sub := range p.subs {
		if keep[t] {
			continue
		}
		// A new section for every new track, and ended ones stay
		// inactive: pion, as answerer, stops a transceiver whose section
		// turns inactive and never uses it again, so sections cannot be
		// recycled yet. Each track published in the room costs each
		// subscriber one m-line for the life of its PeerConnection.
		if err := p.pc.RemoveTrack(sub.sender); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.log.Debug("remove track", "track", t.id, "err", err)
		}
		t.detach(sub.dt)
		delete(p.subs, t)
		p.sfu.subscriptions.Add(-1)
		changed = true
	}
	return changed
}

// subscribe adds a send-only section for t, within the SFU's cap on
// subscriptions.
func (p *Participant) subscribe(t *Track) error {
	if !p.sfu.takeSubscription() {
		return errSubscriptionCap
	}
	dt := newDownTrack(t, p)
	tr, err := p.pc.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.sfu.subscriptions.Add(-1)
		return err
	}
	sender := tr.Sender()
	p.subs[t] = &subscription{dt: dt, sender: sender}
	if !p.track(func() { p.readSenderRTCP(dt, sender) }) {
		return ErrClosed
	}
	return nil
}

// track runs f in a goroutine counted by wg, unless the participant is
// closing.
func (p *Participant) track(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// readSenderRTCP reads what the subscriber says about one track: pion's
// interceptors see only RTCP that is read; a PLI or FIR becomes a
// keyframe request to the publisher, and a NACK goes to the
// subscriber's writer, which answers it from the track's packet cache.
// It ends when the sender stops.
func (p *Participant) readSenderRTCP(dt *DownTrack, sender *webrtc.RTPSender) {
	buf := make([]byte, maxPacket)
	var pairs []nackPair
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		if rtcpfb.AsksKeyframe(buf[:n]) {
			dt.requestKeyframe()
		}
		b := dt.binding.Load()
		if b == nil || dt.track.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		pairs = nacks(buf[:n], b.ssrc, pairs[:0])
		for _, pr := range pairs {
			p.writer.enqueueNack(dt, pr)
		}
	}
}

// offer creates an offer and sends it. Candidates gathered while it is
// being made are held back until it is out, so the client never sees a
// candidate before the description it belongs to.
func (p *Participant) offer() error {
	desc, err := p.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
	defer p.releaseCandidates()
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local offer: %w", err)
	}
	p.awaiting = true
	p.send(protocol.Message{Type: protocol.TypeOffer, SDP: p.pc.LocalDescription().SDP})
	p.log.Debug("offer sent", "subscriptions", len(p.subs))
	return nil
}

func (p *Participant) releaseCandidates() {
	p.mu.Lock()
	held := p.held
	p.held, p.holding = nil, false
	p.mu.Unlock()
	for i := range held {
		p.send(protocol.Message{Type: protocol.TypeCandidate, Candidate: &held[i]})
	}
}

// onLocalCandidate trickles a gathered candidate; it runs on pion's
// gathering goroutine.
func (p *Participant) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		// End of gathering: not sent, as in peer-to-peer calls.
		return
	}
	cand := toProtocolCandidate(c.ToJSON())
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.holding {
		p.held = append(p.held, cand)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.send(protocol.Message{Type: protocol.TypeCandidate, Candidate: &cand})
}

func (p *Participant) onAnswer(sdp string) {
	if !p.awaiting {
		p.log.Debug("ignoring answer without an offer")
		return
	}
	p.awaiting = false
	err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
	if err != nil {
		// The next change offers again; a client that cannot answer
		// stays without media and harms nobody else.
		p.log.Warn("set remote answer", "err", err)
		return
	}
	for _, c := range p.pending {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("add queued remote candidate", "err", err)
		}
	}
	p.pending = nil
	if p.dirty {
		p.dirty = false
		p.negotiate()
	}
}

func (p *Participant) onRemoteCandidate(c webrtc.ICECandidateInit) {
	if p.pc.RemoteDescription() == nil {
		if len(p.pending) < maxPendingCandidates {
			p.pending = append(p.pending, c)
		}
		return
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		p.log.Debug("add remote candidate", "err", err)
	}
}

// onTrack runs, in a goroutine of pion's, for each track the participant
// publishes, and for a simulcast track once per layer (RID): the first
// publishes the track to the room; each forwards its layer until it
// ends; the last to end takes the track back.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	t := p.trackOf(receiver)
	fresh := t == nil
	if fresh {
		if err := p.admitTrack(remote.Kind()); err != nil {
			p.mu.Unlock()
			p.log.Warn("track refused", "kind", remote.Kind().String(), "err", err)
			p.send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{
				Code: protocol.CodeTooManyTracks, Message: "one audio and one video track per participant; the extra track is not forwarded"}})
			return
		}
		t = newTrack(p, remote, receiver)
		p.tracks = append(p.tracks, t)
	}
	l := t.addLayer(remote)
	if l == nil {
		p.mu.Unlock()
		p.log.Warn("layer refused: its slot is taken", "track", t.id, "rid", remote.RID())
		return
	}
	t.live.Add(1)
	p.wg.Add(3)
	p.mu.Unlock()
	defer p.wg.Done()
	go func() {
		defer p.wg.Done()
		t.readRTCP(l)
	}()
	go func() {
		defer p.wg.Done()
		t.requestKeyframes(l)
	}()
	t.log.Info("layer published", "kind", t.kind.String(), "codec", t.codec.MimeType, "rid", l.rid, "ssrc", l.ssrc)
	if fresh {
		p.room.publish(t)
	}
	t.forwardLayer(l)
	if t.live.Add(-1) == 0 {
		p.unpublish(t)
	}
}

// trackOf finds the live track of receiver: the layers of a simulcast
// track share it. p.mu is held.
func (p *Participant) trackOf(receiver *webrtc.RTPReceiver) *Track {
	for _, t := range p.tracks {
		select {
		case <-t.done:
			continue
		default:
		}
		if t.receiver == receiver {
			return t
		}
	}
	return nil
}

// unpublish takes a track back from the room (once).
func (p *Participant) unpublish(t *Track) {
	if p.room.unpublish(t) {
		t.close()
		t.log.Info("track ended")
	}
}

// close tears the participant down: it leaves the room, which ends its
// tracks at every subscriber; its PeerConnection closes, which ends the
// goroutines reading tracks and RTCP; then its loop and writer stop.
func (p *Participant) close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		started := p.started
		tracks := p.tracks
		p.mu.Unlock()
		close(p.done)
		if started {
			<-p.loopDone
		}
		p.room.remove(p)
		p.dropHeldChat()
		for _, t := range tracks {
			p.unpublish(t)
		}
		if err := p.pc.GracefulClose(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		p.wg.Wait()
		if started {
			p.writer.stop()
		}
		for t, sub := range p.subs {
			t.detach(sub.dt)
		}
		p.sfu.subscriptions.Add(-int64(len(p.subs)))
		p.sfu.goneForwarded.Add(p.writer.forwarded.Load())
		p.sfu.goneDropped.Add(p.writer.dropped.Load())
		p.sfu.goneRetransmitted.Add(p.writer.retransmitted.Load())
		p.sfu.goneBytes.Add(p.writer.forwardedBytes.Load())
		p.log.Info("participant left the conference")
		p.sfu.wg.Done()
	})
}

func toProtocolCandidate(c webrtc.ICECandidateInit) protocol.Candidate {
	return protocol.Candidate{
		Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	}
}

func fromProtocolCandidate(c protocol.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	}
}
