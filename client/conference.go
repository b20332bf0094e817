package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/rtcpfb"
	"github.com/konsil/konsil/protocol"
)

// sfuPeer is the SFU's address in signaling (signaling.SFUPeer on the
// server side; the client does not import server packages).
const sfuPeer = "sfu"

var (
	// ErrNotConference is returned by DialConference for a peer-to-peer
	// room: those are for Call.
	ErrNotConference = errors.New("client: room is a peer-to-peer consultation, Conference handles SFU rooms only")
	// errTooManyTracks: the SFU offers one section per kind to publish on.
	errTooManyTracks = errors.New("client: a conference publishes at most one audio and one video track")
	// ErrNoKID: the server gave our session no SFrame KID, so media
	// cannot be encrypted safely (docs/PROTOCOL.md, welcome).
	ErrNoKID = errors.New("client: the server assigned no SFrame KID; refusing to send media without one")
	// ErrChatMalformed: the SFU relayed a chat message without the sender
	// prefix (docs/PROTOCOL.md, conference chat).
	ErrChatMalformed = errors.New("client: malformed conference chat message")
)

// ConferenceOptions configure a Conference. The zero value joins with
// http.DefaultClient, publishes nothing and discards what arrives.
type ConferenceOptions struct {
	// HTTPClient is used for join; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Tracks are published through the SFU: at most one audio and one
	// video track, e.g. webrtc.TrackLocalStaticSample.
	Tracks []webrtc.TrackLocal
	// VideoLayers, when set, publishes video as simulcast: the encodings
	// of one track, smallest first, as a browser sends them. Each has a
	// RID ("q" a quarter of the full size, "h" half, "f" full; see
	// docs/PROTOCOL.md) and all share one track id and stream id, e.g.
	// webrtc.NewTrackLocalStaticSample(codec, "video", id,
	// webrtc.WithRTPStreamID("q")). The SFU forwards one layer to each
	// subscriber, switching at keyframes, so every layer must send
	// keyframes of its own. With RoomSecret each must be an
	// *SFrameTrack; they all encrypt under our KID with one counter.
	// Tracks then holds no video.
	VideoLayers []webrtc.TrackLocal
	// OnTrack is called, in a goroutine of its own, for every track the
	// SFU forwards, with the participant id of its publisher. The track
	// ends (reads fail) when the publisher leaves, or when Reconnect
	// replaces our PeerConnection: the new one brings every track again.
	OnTrack func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, publisher string)
	// LoopbackOnly gathers only 127.0.0.1 UDP candidates: for tests and
	// the bench on one machine.
	LoopbackOnly bool
	// RelayOnly uses TURN relay candidates only (ICETransportPolicyRelay).
	RelayOnly bool
	// ICEServers replaces the servers of the join response when not nil.
	ICEServers []webrtc.ICEServer
	// Logger receives lifecycle and negotiation logs; nil discards them.
	Logger *slog.Logger
	// RoomSecret, when set (32 bytes, the link's #k=), turns on end-to-end
	// encryption: every track must be an *SFrameTrack, which encrypts
	// each frame with SFrame under our KID's key; NewFrameReader decrypts
	// what arrives; SendChat seals and OnChat gets opened plaintext
	// (docs/SECURITY.md). Names and mute states go to the others sealed
	// (Name, SetMute); theirs arrive as EventPeerName and EventPeerMute.
	RoomSecret []byte
	// Name is our display name (at most e2ee.MaxNameBytes of UTF-8),
	// sent only with RoomSecret: sealed, to every participant in the
	// welcome and to each that joins or comes back, as the browser app
	// sends it.
	Name string
	// Interceptors are added to the PeerConnection ahead of pion's
	// default ones, nearest the network: what they drop on the way in,
	// NACK and TWCC feedback never see (a test's or the bench's narrow
	// or lossy link).
	Interceptors []interceptor.Factory
	// OnChat is called with every chat message another participant sent,
	// in order, with its sender's participant id. It runs on pion's data
	// channel goroutine and must not call Close, which waits for that
	// goroutine to end. It may call Reconnect: the PeerConnection that
	// Reconnect replaces, this channel's, is closed in the background.
	OnChat func(sender string, msg []byte)
	// OnKeyframeRequest is called when the SFU asks for a keyframe (PLI,
	// RFC 4585 §6.3.1, or FIR, RFC 5104 §4.3.1) on one of our tracks:
	// track is the one from Tracks or VideoLayers, rid its simulcast RID
	// ("" outside VideoLayers). An encoder should answer with a keyframe
	// on that track soon: a new subscriber sees nothing until it comes.
	// It runs on the track's RTCP reader and must return quickly; the
	// SFU already paces its requests (docs/PROTOCOL.md, keyframes).
	OnKeyframeRequest func(track webrtc.TrackLocal, rid string)
}

// Conference is one participant of a case conference: a join, a
// signaling session and one PeerConnection to the SFU. We make the first
// offer, right after the welcome, with our tracks (simulcast video goes
// out reliably only on sections the sender offers) and the chat channel;
// the SFU answers and makes every later offer (whenever tracks come or
// go), which the Conference answers, so offers never cross. Reconnect
// starts over the same way on a new session and a new PeerConnection.
//
// Negotiation runs on one goroutine (loop) fed by signaling and by
// commands (SetViews, Reconnect); it alone changes the session and the
// PeerConnection, under mu, which guards what pion's callbacks and the
// accessors read.
type Conference struct {
	opts    ConferenceOptions
	log     *slog.Logger
	baseURL string
	req     protocol.JoinRequest
	self    string // our participant id; every join with req gives the same

	events    chan Event
	cmds      chan func()
	done      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
	// wg counts the RTCP readers of our senders and the closing of the
	// sessions and links Reconnect replaced (retire). They are started
	// only by DialConference and on the loop, so never concurrently with
	// Close's Wait, which follows the loop's end.
	wg sync.WaitGroup

	reconnectMu sync.Mutex // one Reconnect at a time

	// keys and media are set with RoomSecret (nil otherwise); media holds
	// the SFrame keys of everyone's KID, ours included.
	keys  *e2ee.Keys
	media *mediaKeys
	now   func() time.Time // stamps our mute states

	mu       sync.Mutex
	join     protocol.JoinResponse
	sig      *Signal
	link     *sfuLink
	peers    map[string]protocol.Peer
	chatOpen bool
	pcState  webrtc.PeerConnectionState
	changed  chan struct{} // closed and replaced on every state change
	holding  bool          // an answer is on its way: hold candidates
	held     []protocol.Candidate

	// Owned by loop.
	msgs    <-chan protocol.Message
	pending []webrtc.ICECandidateInit // remote candidates before the SFU's answer
	views   []protocol.View           // the last SetViews, for a new session
	mute    *e2ee.MuteState           // ours, once SetMute was called (conference_meta.go)
	heard   map[string]e2ee.MuteState // the latest state of each present participant
}

// sfuLink is one PeerConnection to the SFU with what our first offer
// puts on it. Each session has its own: the SFU ends the PeerConnection
// with the session that made it.
type sfuLink struct {
	pc   *webrtc.PeerConnection
	chat *webrtc.DataChannel
	// simulcast is the transceiver of VideoLayers, layers their tracks
	// as sent on it (nil without simulcast).
	simulcast *webrtc.RTPTransceiver
	layers    []*ridTrack
}

// DialConference joins a conference room and connects to its SFU: it
// exchanges req for a session, builds the PeerConnection with
// opts.Tracks and opts.VideoLayers, opens signaling and makes the first
// offer. It returns once the offer is out; WaitConnected waits for media.
//
// A refusal is returned as *APIError (join) or *SignalError (signaling).
func DialConference(ctx context.Context, baseURL string, req protocol.JoinRequest, opts ConferenceOptions) (*Conference, error) {
	if err := checkConferenceTracks(opts.Tracks, opts.VideoLayers, opts.RoomSecret != nil); err != nil {
		return nil, err
	}
	var keys *e2ee.Keys
	var media *mediaKeys
	if opts.RoomSecret != nil {
		k, err := e2ee.DeriveKeys(opts.RoomSecret)
		if err != nil {
			return nil, err
		}
		if media, err = newMediaKeys(k.Media); err != nil {
			return nil, err
		}
		keys = &k
		if len(opts.Name) > e2ee.MaxNameBytes {
			return nil, fmt.Errorf("dial conference: name of %d bytes: %w", len(opts.Name), e2ee.ErrMessageTooLarge)
		}
	}
	join, err := Join(ctx, opts.HTTPClient, baseURL, req)
	if err != nil {
		return nil, err
	}
	if join.Mode != protocol.ModeSFU {
		return nil, ErrNotConference
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("room", join.RoomID, "participant", join.ParticipantID)
	c := &Conference{
		opts: opts, log: log, baseURL: baseURL, req: req, self: join.ParticipantID,
		keys: keys, media: media, now: time.Now,
		heard:    map[string]e2ee.MuteState{},
		events:   make(chan Event, eventBuffer),
		cmds:     make(chan func()),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		peers:    map[string]protocol.Peer{},
		changed:  make(chan struct{}),
	}
	l, err := c.newLink(join)
	if err != nil {
		c.wg.Wait()
		return nil, fmt.Errorf("dial conference: %w", err)
	}
	sig, err := DialSignal(ctx, wsURL(baseURL, join.WebSocketURL), join.SessionToken)
	if err != nil {
		_ = l.pc.GracefulClose()
		c.wg.Wait()
		return nil, err
	}
	if _, _, err = c.adopt(join, sig, l); err == nil {
		err = c.offer()
	}
	if err != nil {
		sig.Close()
		_ = l.pc.GracefulClose()
		c.wg.Wait()
		return nil, fmt.Errorf("dial conference: %w", err)
	}
	c.greet(c.Peers()...)
	go c.loop()
	c.log.Info("conference joined", "peers", len(c.Peers()))
	return c, nil
}

func checkConferenceTracks(tracks, layers []webrtc.TrackLocal, secret bool) error {
	seen := map[webrtc.RTPCodecType]bool{}
	for _, t := range tracks {
		if seen[t.Kind()] {
			return errTooManyTracks
		}
		if _, ok := t.(*SFrameTrack); secret && !ok {
			return ErrPlainTrack
		}
		seen[t.Kind()] = true
	}
	if len(layers) == 0 {
		return nil
	}
	if seen[webrtc.RTPCodecTypeVideo] {
		return errTooManyTracks
	}
	if len(layers) > 3 {
		return fmt.Errorf("%w: %d simulcast layers, at most 3", ErrSimulcastLayers, len(layers))
	}
	rids := map[string]bool{}
	for _, t := range layers {
		if t.Kind() != webrtc.RTPCodecTypeVideo || t.RID() == "" || rids[t.RID()] ||
			t.ID() != layers[0].ID() || t.StreamID() != layers[0].StreamID() {
			return fmt.Errorf("%w: layer %q of track %q", ErrSimulcastLayers, t.RID(), t.ID())
		}
		if _, ok := t.(*SFrameTrack); secret && !ok {
			return ErrPlainTrack
		}
		rids[t.RID()] = true
	}
	return nil
}

// ErrSimulcastLayers: ConferenceOptions.VideoLayers are not the layers
// of one video track (one id and stream id, distinct non-empty RIDs, at
// most three).
var ErrSimulcastLayers = errors.New("client: simulcast layers must be video encodings of one track with distinct RIDs")

// EventSpeaker: the SFU names the room's active speaker in Peer (only
// its ID is set), from the RFC 6464 audio levels publishers send. It may
// be ourselves.
const EventSpeaker EventType = "speaker"

// audioLevelURI is the RFC 6464 audio level header extension.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// conferenceAPI is newAPI with the audio level extension negotiated for
// audio: the SFU picks the active speaker from it. pion writes no level
// itself; a track that does (a TrackLocalStaticRTP with the extension
// under the sender's negotiated id) is heard as a speaker.
func conferenceAPI(opts Options, first []interceptor.Factory, log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	for _, f := range first {
		ir.Add(f)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(settingEngine(opts, log))), nil
}

// newLink builds a PeerConnection to the SFU for the session of join,
// with our tracks, the simulcast layers and the chat channel. Its
// callbacks act only while it is the Conference's current link, so one
// that Reconnect replaced falls silent; chat that still arrives on it is
// delivered, as it is the others' words.
func (c *Conference) newLink(join protocol.JoinResponse) (*sfuLink, error) {
	api, err := conferenceAPI(Options{LoopbackOnly: c.opts.LoopbackOnly, RelayOnly: c.opts.RelayOnly}, c.opts.Interceptors, c.log)
	if err != nil {
		return nil, err
	}
	cfg := webrtc.Configuration{ICEServers: c.opts.ICEServers}
	if cfg.ICEServers == nil {
		cfg.ICEServers = iceServers(join.ICEServers)
	}
	if c.opts.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	l := &sfuLink{pc: pc}
	if err := c.equip(l); err != nil {
		// Closing ends the RTCP readers already started.
		_ = pc.Close()
		return nil, err
	}
	return l, nil
}

// equip adds our send-only tracks (offered by us in the first offer), the
// simulcast layers and the chat channel to l, and wires its callbacks.
func (c *Conference) equip(l *sfuLink) error {
	for _, t := range c.opts.Tracks {
		tr, err := l.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add track %s: %w", t.ID(), err)
		}
		c.wg.Add(1)
		go c.readRTCP(tr.Sender(), t, "")
	}
	if err := c.addSimulcast(l); err != nil {
		return err
	}
	if err := c.openChat(l); err != nil {
		return err
	}
	l.pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.onLocalCandidate(l, cand) })
	l.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("peer connection state", "state", s.String())
		c.update(l, func() { c.pcState = s })
	})
	if c.opts.OnTrack != nil {
		l.pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
			if !c.current(l) {
				return
			}
			// The SFU names the publisher in the stream id (msid).
			c.opts.OnTrack(t, r, t.StreamID())
		})
	}
	return nil
}

// current tells whether l is the Conference's link, not one Reconnect
// replaced.
func (c *Conference) current(l *sfuLink) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link == l
}

// update changes state read by WaitConnected, if l is still the current
// link, and wakes WaitConnected.
func (c *Conference) update(l *sfuLink, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link != l {
		return
	}
	f()
	c.notifyLocked()
}

// notifyLocked wakes WaitConnected; c.mu is held.
func (c *Conference) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// addSimulcast adds the send-only transceiver of VideoLayers to l: the
// first layer makes it, the others are further encodings of its sender.
// Each link wraps the layers anew, as the MID they stamp is the link's.
func (c *Conference) addSimulcast(l *sfuLink) error {
	layers := c.opts.VideoLayers
	if len(layers) == 0 {
		return nil
	}
	for _, t := range layers {
		l.layers = append(l.layers, &ridTrack{TrackLocal: t})
	}
	tr, err := l.pc.AddTransceiverFromTrack(l.layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("add simulcast track %s: %w", layers[0].ID(), err)
	}
	for _, t := range l.layers[1:] {
		if err := tr.Sender().AddEncoding(t); err != nil {
			return fmt.Errorf("add simulcast layer %s: %w", t.RID(), err)
		}
	}
	l.simulcast = tr
	// pion hands each encoding's RTCP only to a reader of that encoding
	// (RTPSender.ReadSimulcast by RID; Read serves the first alone), so
	// every layer has a reader of its own.
	for _, t := range layers {
		c.wg.Add(1)
		go c.readRTCP(tr.Sender(), t, t.RID())
	}
	return nil
}

// readRTCP keeps reading the RTCP of track's sender, of one simulcast
// layer when rid is set: pion's interceptors act only on what is read,
// and keyframe requests from the SFU arrive here, for OnKeyframeRequest.
func (c *Conference) readRTCP(sender *webrtc.RTPSender, track webrtc.TrackLocal, rid string) {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		var n int
		var err error
		if rid != "" {
			n, _, err = sender.ReadSimulcast(buf, rid)
		} else {
			n, _, err = sender.Read(buf)
		}
		if err != nil {
			return
		}
		if c.opts.OnKeyframeRequest != nil && rtcpfb.AsksKeyframe(buf[:n]) {
			c.opts.OnKeyframeRequest(track, rid)
		}
	}
}

func (c *Conference) loop() {
	defer close(c.loopDone)
	for {
		select {
		case <-c.done:
			return
		case f := <-c.cmds:
			f()
		case m, ok := <-c.msgs:
			if !ok {
				// Reconnect may bring a new session; until then, no
				// messages.
				c.msgs = nil
				c.log.Warn("signaling lost", "err", c.sig.Err())
				c.emit(Event{Type: EventSignalLost, Err: c.sig.Err()})
				continue
			}
			c.handle(m)
		}
	}
}

// do runs f on the loop and returns its error, or ErrClosed if the
// Conference closed first.
func (c *Conference) do(f func() error) error { return runOnLoop(c.cmds, c.done, f) }

func (c *Conference) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypeOffer:
		if m.From == sfuPeer {
			c.onOffer(m.SDP)
		}
	case protocol.TypeAnswer:
		if m.From == sfuPeer {
			c.onAnswer(m.SDP)
		}
	case protocol.TypeCandidate:
		if m.From == sfuPeer && m.Candidate != nil {
			c.onCandidate(fromProtocolCandidate(*m.Candidate))
		}
	case protocol.TypePeerJoined:
		if m.Peer != nil {
			c.learnKID(*m.Peer)
			c.setPeer(*m.Peer, true)
			c.emit(Event{Type: EventPeerJoined, Peer: *m.Peer})
			c.greet(*m.Peer)
		}
	case protocol.TypePeerLeft:
		if m.Peer != nil {
			if c.media != nil {
				c.media.remove(m.Peer.ID, m.Peer.KID)
			}
			c.setPeer(*m.Peer, false)
			delete(c.heard, m.Peer.ID)
			c.emit(Event{Type: EventPeerLeft, Peer: *m.Peer, Reason: m.Reason})
		}
	case protocol.TypeMeta:
		c.onMeta(m)
	case protocol.TypeError:
		if m.Error != nil {
			c.log.Warn("server reported error", "code", m.Error.Code, "message", m.Error.Message)
			c.emit(Event{Type: EventError, Err: &SignalError{Code: m.Error.Code, Message: m.Error.Message}})
		}
	case protocol.TypeClosing:
		c.emit(Event{Type: EventClosing, Reason: m.Reason})
	case protocol.TypeSpeaker:
		if m.From == sfuPeer && m.Peer != nil {
			c.emit(Event{Type: EventSpeaker, Peer: *m.Peer})
		}
	}
}

func (c *Conference) setPeer(p protocol.Peer, present bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if present {
		c.peers[p.ID] = p
	} else {
		delete(c.peers, p.ID)
	}
}

// adopt makes sig and l the Conference's session and PeerConnection, as
// after a first welcome: the peers are the welcome's, our tracks encrypt
// under its KID, and the state WaitConnected reads starts over. On a
// Reconnect, who left, joined or came back while the old session was no
// longer read is reported as that session would have. It returns the
// session and link it replaces. It refuses (ErrNoKID) before changing
// anything. It runs before the loop starts (DialConference) or on it
// (Reconnect).
func (c *Conference) adopt(join protocol.JoinResponse, sig *Signal, l *sfuLink) (oldSig *Signal, oldLink *sfuLink, err error) {
	welcome := sig.Welcome()
	if err := c.keyMedia(welcome); err != nil {
		return nil, nil, err
	}
	peers := make(map[string]protocol.Peer, len(welcome.Peers))
	for _, p := range welcome.Peers {
		peers[p.ID] = p
	}
	c.mu.Lock()
	oldSig, oldLink, oldPeers := c.sig, c.link, c.peers
	c.join, c.sig, c.link, c.peers = join, sig, l, peers
	c.pcState, c.chatOpen = webrtc.PeerConnectionStateNew, false
	c.holding, c.held = false, nil
	c.notifyLocked()
	c.mu.Unlock()
	c.msgs = sig.Messages()
	c.pending = nil
	for id := range c.heard {
		if _, ok := peers[id]; !ok {
			delete(c.heard, id)
		}
	}
	if oldLink != nil {
		for _, e := range missedPeerEvents(oldPeers, peers) {
			c.emit(e)
		}
	}
	return oldSig, oldLink, nil
}

// missedPeerEvents are the peer events a session would have brought
// between the peers before and after: peer-left for those gone (without
// a Reason: a welcome does not say why), peer-joined for those new, and
// peer-joined with Reconnect for those back with a new session, hence a
// new KID. Each kind is sorted by participant id.
func missedPeerEvents(before, after map[string]protocol.Peer) []Event {
	var events []Event
	for _, id := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[id]; !ok {
			events = append(events, Event{Type: EventPeerLeft, Peer: before[id]})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(after)) {
		p := after[id]
		old, ok := before[id]
		switch {
		case !ok:
		case p.KID != old.KID:
			p.Reconnect = true
		default:
			continue
		}
		events = append(events, Event{Type: EventPeerJoined, Peer: p})
	}
	return events
}

// offer makes our first and only offer on the current link: our tracks
// and the chat channel. Candidates gathered meanwhile are held until it
// is out.
func (c *Conference) offer() error {
	l := c.link
	desc, err := l.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	defer c.releaseCandidates()
	if err := l.pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local offer: %w", err)
	}
	if l.simulcast != nil {
		// The section has its MID now; the answer binds the layers.
		mid := l.simulcast.Mid()
		for _, t := range l.layers {
			t.mid.Store(&mid)
		}
	}
	if err := c.sig.Send(protocol.Message{Type: protocol.TypeOffer, To: sfuPeer, SDP: l.pc.LocalDescription().SDP}); err != nil {
		return fmt.Errorf("send offer: %w", err)
	}
	return nil
}

// onAnswer applies the SFU's answer to our first offer.
func (c *Conference) onAnswer(sdp string) {
	if err := c.link.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		c.log.Warn("set remote answer", "err", err)
		return
	}
	c.addPendingCandidates()
}

// SetViews tells the SFU how large we show each other participant's
// video, so that it sends no bigger simulcast layer than the tile needs,
// and no video for a peer shown at 0×0. Each call replaces the last;
// Reconnect sends the last again to the new session.
func (c *Conference) SetViews(views []protocol.View) error {
	return c.do(func() error {
		c.views = slices.Clone(views)
		return c.sig.Send(protocol.Message{Type: protocol.TypeView, To: sfuPeer, Views: c.views})
	})
}

// onOffer answers the SFU. Candidates gathered while the answer is made
// are held until it is out.
func (c *Conference) onOffer(sdp string) {
	pc := c.link.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		c.log.Warn("set remote offer", "err", err)
		return
	}
	c.addPendingCandidates()
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		c.log.Warn("create answer", "err", err)
		return
	}
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	defer c.releaseCandidates()
	if err := pc.SetLocalDescription(answer); err != nil {
		c.log.Warn("set local answer", "err", err)
		return
	}
	if err := c.sig.Send(protocol.Message{Type: protocol.TypeAnswer, To: sfuPeer, SDP: pc.LocalDescription().SDP}); err != nil {
		c.log.Warn("send answer", "err", err)
	}
}

func (c *Conference) onCandidate(cand webrtc.ICECandidateInit) {
	if c.link.pc.RemoteDescription() == nil {
		if len(c.pending) < maxPendingCandidates {
			c.pending = append(c.pending, cand)
		}
		return
	}
	if err := c.link.pc.AddICECandidate(cand); err != nil {
		c.log.Debug("add remote candidate", "err", err)
	}
}

// addPendingCandidates adds the SFU's candidates that came before its
// description.
func (c *Conference) addPendingCandidates() {
	for _, cand := range c.pending {
		if err := c.link.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("add queued remote candidate", "err", err)
		}
	}
	c.pending = nil
}

// releaseCandidates sends the candidates held while an answer or our
// offer was made, on the session they were held for (adopt, which
// replaces the session, drops what is held).
func (c *Conference) releaseCandidates() {
	c.mu.Lock()
	held, sig := c.held, c.sig
	c.held, c.holding = nil, false
	c.mu.Unlock()
	for i := range held {
		c.sendCandidate(sig, &held[i])
	}
}

// onLocalCandidate trickles a candidate l gathered to the SFU, if l is
// still the current link; it runs on pion's gathering goroutine.
func (c *Conference) onLocalCandidate(l *sfuLink, cand *webrtc.ICECandidate) {
	if cand == nil {
		return
	}
	pc := toProtocolCandidate(cand.ToJSON())
	c.mu.Lock()
	if c.link != l {
		c.mu.Unlock()
		return
	}
	if c.holding {
		c.held = append(c.held, pc)
		c.mu.Unlock()
		return
	}
	// The session of l, taken with the check: a Reconnect right after it
	// must not get l's candidate onto the new session.
	sig := c.sig
	c.mu.Unlock()
	c.sendCandidate(sig, &pc)
}

// sendCandidate sends a candidate on the session of the link that
// gathered it. That of a link replaced meanwhile goes to its old
// session, which the server has ended, never to the new one.
func (c *Conference) sendCandidate(sig *Signal, cand *protocol.Candidate) {
	if err := sig.Send(protocol.Message{Type: protocol.TypeCandidate, To: sfuPeer, Candidate: cand}); err != nil {
		c.log.Debug("send candidate", "err", err)
	}
}

// emit hands an event to Events without ever blocking the loop.
func (c *Conference) emit(e Event) {
	select {
	case c.events <- e:
	default:
		c.log.Warn("event dropped: nobody reads Events", "event", string(e.Type))
	}
}

// Events reports peers joining and leaving, their names and mute states
// (with RoomSecret), the active speaker, server errors, closing and a
// lost signaling session. It is buffered; events nobody reads are
// dropped once the buffer is full. It is the same channel before and
// after Reconnect, and is closed by Close.
func (c *Conference) Events() <-chan Event { return c.events }

// Self returns our participant id.
func (c *Conference) Self() string { return c.self }

// Peers returns the other participants connected now, sorted by id.
func (c *Conference) Peers() []protocol.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]protocol.Peer, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PeerConnection returns the current PeerConnection to the SFU; Reconnect
// replaces it.
func (c *Conference) PeerConnection() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link.pc
}

// JoinResponse returns the answer of the latest join (Reconnect joins
// again and gets a new session token and ICE servers).
func (c *Conference) JoinResponse() protocol.JoinResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.join
}

// WaitConnected waits until the current PeerConnection to the SFU is
// connected and its chat channel is open.
// It returns ErrClosed when the Conference is closed, and the state it
// saw when ctx ends.
func (c *Conference) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		state, open, changed := c.pcState, c.chatOpen, c.changed
		c.mu.Unlock()
		if state == webrtc.PeerConnectionStateConnected && open {
			return nil
		}
		select {
		case <-changed:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("wait connected: peer connection %s, chat open %t: %w", state, open, ctx.Err())
		}
	}
}

// Reconnect gets the Conference back into the room after a network
// change or a lost signaling session (EventSignalLost), without leaving
// it: it joins again with the same JoinRequest and opens a new signaling
// session, which replaces our old one at the server (the others see
// EventPeerJoined with Reconnect set, and our new KID). As the SFU ends
// the old PeerConnection with the old session, we start over as after
// the first welcome: a new PeerConnection publishing the same tracks and
// simulcast layers (encrypted under the new session's KID), our first
// offer, a new chat channel, and the last SetViews again. The old
// PeerConnection is closed in the background (Reconnect may be called
// from OnChat, which runs on it); its remote tracks end and OnTrack
// brings them again on the new one. Peers and KIDs are the new
// welcome's. Events goes on as before: participants who left or joined
// while the old session was no longer read are reported as
// EventPeerLeft (without a Reason) and EventPeerJoined (with Reconnect
// set for one that came back with a new session); the old session's
// end is not reported.
//
// Reconnect returns once the offer is out; WaitConnected waits for
// media and chat. If the join, the new PeerConnection or the new session
// fails, nothing changes: the Conference goes on over its old session
// and PeerConnection (if the server had already replaced that session,
// EventSignalLost follows) and the error is returned wrapped. A new
// session it cannot use (with RoomSecret, one without a KID: ErrNoKID)
// is left again. If the offer cannot be sent once the switch is made,
// the Conference stays on the new session and the error is returned;
// Reconnect again. After Close it returns ErrClosed, also when Close
// came once the switch was made; Close interrupts a Reconnect under way.
func (c *Conference) Reconnect(ctx context.Context) error {
	c.reconnectMu.Lock()
	defer c.reconnectMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	// Stop reading the old session first: the server is about to end it
	// with "replaced", which is no loss to report.
	var paused <-chan protocol.Message
	if err := c.do(func() error { paused, c.msgs = c.msgs, nil; return nil }); err != nil {
		return err
	}
	join, sig, l, err := c.redial(ctx)
	adopted := false
	if err == nil {
		adopted, err = c.switchTo(join, sig, l)
	}
	if !adopted {
		_ = c.do(func() error { c.msgs = paused; return nil })
	}
	if err != nil {
		return c.reconnectError(err)
	}
	select {
	case <-c.done:
		// Close came after the switch: the new session is gone too.
		return ErrClosed
	default:
	}
	c.log.Info("reconnected", "peers", len(c.Peers()), "kid", c.KID())
	return nil
}

// redial joins again and opens a new session with a new link for it; the
// Conference itself is not changed yet.
func (c *Conference) redial(ctx context.Context) (protocol.JoinResponse, *Signal, *sfuLink, error) {
	join, err := Join(ctx, c.opts.HTTPClient, c.baseURL, c.req)
	if err != nil {
		return join, nil, nil, err
	}
	if join.ParticipantID != c.self || join.Mode != protocol.ModeSFU {
		return join, nil, nil, fmt.Errorf("joined as %s in a %s room, not as %s in a conference", join.ParticipantID, join.Mode, c.self)
	}
	// Built on the loop, so that its RTCP readers start before Close
	// waits for them (see wg).
	var l *sfuLink
	if err := c.do(func() (err error) { l, err = c.newLink(join); return err }); err != nil {
		return join, nil, nil, err
	}
	sig, err := DialSignal(ctx, wsURL(c.baseURL, join.WebSocketURL), join.SessionToken)
	if err != nil {
		_ = l.pc.GracefulClose()
		return join, nil, nil, err
	}
	return join, sig, l, nil
}

// switchTo makes the new session and link the Conference's, makes our
// first offer on it and sends the last views, then retires the old
// session and link. A session and link it could not adopt are closed
// instead; adopted tells which.
func (c *Conference) switchTo(join protocol.JoinResponse, sig *Signal, l *sfuLink) (adopted bool, err error) {
	err = c.do(func() error {
		oldSig, oldLink, err := c.adopt(join, sig, l)
		if err != nil {
			return err
		}
		adopted = true
		defer c.retire(oldSig, oldLink)
		if err := c.offer(); err != nil {
			return err
		}
		c.greet(c.Peers()...)
		if len(c.views) == 0 {
			return nil
		}
		return c.sig.Send(protocol.Message{Type: protocol.TypeView, To: sfuPeer, Views: c.views})
	})
	if !adopted {
		// Not adopted: leave the new session (the Conference closed, or
		// the server gave it no KID) and its link.
		sig.Close()
		_ = l.pc.GracefulClose()
	}
	return adopted, err
}

// retire abandons a replaced session and closes its link in the
// background; it is called on the loop, so that Close waits for it (see
// wg). Not inline: Reconnect may be called from OnChat, on the old
// link's chat goroutine, which closing the link waits for.
func (c *Conference) retire(sig *Signal, l *sfuLink) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sig.abandon()
		_ = l.pc.GracefulClose()
	}()
}

// reconnectError is ErrClosed if Close ended the Reconnect, err wrapped
// otherwise.
func (c *Conference) reconnectError(err error) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
		return fmt.Errorf("reconnect: %w", err)
	}
}

// Close leaves the conference (bye), closes the PeerConnection and
// signaling and waits for the Conference's goroutines. It is idempotent.
func (c *Conference) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		<-c.loopDone
		c.mu.Lock()
		sig, l := c.sig, c.link
		c.mu.Unlock()
		sig.Close()
		c.closeErr = l.pc.GracefulClose()
		c.wg.Wait()
		close(c.events)
		c.log.Info("conference left")
	})
	return c.closeErr
}

// openChat creates the chat channel of l: negotiated, id 0, ordered, as
// in peer-to-peer calls. The SFU relays what we send to every other
// participant, prefixed with our participant id.
func (c *Conference) openChat(l *sfuLink) error {
	yes, id := true, uint16(0)
	dc, err := l.pc.CreateDataChannel("chat", &webrtc.DataChannelInit{Negotiated: &yes, ID: &id, Ordered: &yes})
	if err != nil {
		return fmt.Errorf("create chat channel: %w", err)
	}
	dc.OnOpen(func() { c.update(l, func() { c.chatOpen = true }) })
	dc.OnClose(func() { c.update(l, func() { c.chatOpen = false }) })
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		sender, b, err := c.readChat(msg.Data)
		if err != nil {
			c.log.Warn("dropping chat message", "err", err)
			return
		}
		if c.opts.OnChat != nil {
			c.opts.OnChat(sender, b)
		}
	})
	l.chat = dc
	return nil
}

// readChat takes a message the SFU relayed apart: one byte N, the
// sender's participant id (N bytes), then the message as the sender sent
// it, sealed with the chat key when we have a room secret.
func (c *Conference) readChat(b []byte) (string, []byte, error) {
	if len(b) < 1 || int(b[0]) == 0 || len(b) < 1+int(b[0]) {
		return "", nil, ErrChatMalformed
	}
	n := int(b[0])
	sender, body := string(b[1:1+n]), b[1+n:]
	if c.keys == nil {
		return sender, body, nil
	}
	pt, err := e2ee.OpenChat(c.keys.Chat, sender, body)
	if err != nil {
		return "", nil, fmt.Errorf("from %s: %w", sender, err)
	}
	return sender, pt, nil
}

// SendChat sends one chat message to every other participant, through
// the SFU: sealed with the chat key (the sender bound in, as in
// peer-to-peer calls) when Options.RoomSecret is set. It fails with
// ErrChatNotOpen before the channel opened, and while Reconnect's new
// one has not.
func (c *Conference) SendChat(b []byte) error {
	if c.keys != nil {
		sealed, err := e2ee.SealChat(c.keys.Chat, c.Self(), b)
		if err != nil {
			return err
		}
		b = sealed
	}
	c.mu.Lock()
	dc, open := c.link.chat, c.chatOpen
	c.mu.Unlock()
	if !open {
		return ErrChatNotOpen
	}
	return dc.Send(b)
}
