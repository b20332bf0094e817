package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/protocol"
)

var (
	// ErrNotP2P is returned by Dial for a conference room: those run
	// through the SFU, which Call does not speak.
	ErrNotP2P = errors.New("client: room is a conference, Call handles peer-to-peer rooms only")
	// ErrChatNotOpen is returned by SendChat before the chat channel opened.
	ErrChatNotOpen = errors.New("client: chat channel not open")
	// ErrNoPeer is returned when a message needs the peer and none is known.
	ErrNoPeer = errors.New("client: no peer yet")
)

// eventBuffer is how many events wait for a reader before new ones are
// dropped (and logged). A Call sees a handful per session.
const eventBuffer = 64

// Options configure a Call. The zero value joins with http.DefaultClient,
// sends nothing and discards what arrives.
type Options struct {
	// HTTPClient is used for join; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Tracks are sent to the peer, e.g. webrtc.TrackLocalStaticSample for
	// synthetic VP8 and Opus. They are added again to a PeerConnection
	// that replaces the first one (see EventPeerConnectionReplaced).
	Tracks []webrtc.TrackLocal
	// OnTrack is called, in a goroutine of its own, for every remote track.
	// It may be called again for the same peer after EventPeerConnectionReplaced.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// OnChat is called with every chat message, in order. It must not call
	// Close (Close waits for the goroutine that calls OnChat).
	OnChat func([]byte)
	// LoopbackOnly gathers only 127.0.0.1 UDP candidates: for tests and the
	// bench on one machine.
	LoopbackOnly bool
	// RelayOnly uses TURN relay candidates only (ICETransportPolicyRelay).
	RelayOnly bool
	// ICEServers replaces the servers of the join response when not nil;
	// an empty slice means none (host candidates only).
	ICEServers []webrtc.ICEServer
	// Logger receives lifecycle and negotiation logs; nil discards them.
	Logger *slog.Logger
	// RoomSecret, when set (32 bytes, the link's #k=), turns on the
	// end-to-end layer the browser app speaks (docs/SECURITY.md):
	// SendChat seals and OnChat gets opened plaintext, the DTLS
	// fingerprint check runs (WaitConnected waits for it; a mismatch
	// closes the Call with EventSecurity), and Name goes to the peer
	// sealed (EventPeerName brings the peer's).
	RoomSecret []byte
	// Name is our display name, sent only with RoomSecret.
	Name string
}

// Call is one participant of a peer-to-peer consultation: a join, a
// signaling session and one PeerConnection to the other participant, with
// a negotiated "chat" data channel.
//
// Negotiation state is owned by one goroutine (the loop in negotiate.go)
// fed by signaling messages and commands; mu guards what pion callbacks
// and accessors read.
type Call struct {
	opts    Options
	log     *slog.Logger
	baseURL string
	req     protocol.JoinRequest
	api     *webrtc.API

	events    chan Event
	cmds      chan func()
	kick      chan struct{} // pion asked for negotiation; buffered 1
	pcDown    chan struct{} // the PeerConnection failed or closed under us; buffered 1
	done      chan struct{} // closed by Close
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
	// wg counts goroutines the Call starts besides the loop: RTCP readers
	// and the closing of replaced PeerConnections. They are started only
	// from Dial or the loop, so never concurrently with Close's Wait.
	wg sync.WaitGroup

	reconnectMu sync.Mutex // one Reconnect at a time

	sec *secure // end-to-end layer; nil without Options.RoomSecret

	mu       sync.Mutex
	join     protocol.JoinResponse
	sig      *Signal
	self     string
	peer     string // the other participant; kept when it leaves
	pc       *webrtc.PeerConnection
	chat     *webrtc.DataChannel
	pcState  webrtc.PeerConnectionState
	chatOpen bool
	changed  chan struct{} // closed and replaced on every state change
	holding  bool          // a description is on its way: hold candidates
	held     []protocol.Candidate

	// Owned by the loop goroutine.
	config   webrtc.Configuration
	msgs     <-chan protocol.Message
	pending  []webrtc.ICECandidateInit // remote candidates before a remote description
	ignoring bool                      // glare: the peer's offer was ignored, so are its candidates
	present  bool                      // the peer is connected to signaling
}

// Dial joins a peer-to-peer room and starts the call: it exchanges req for
// a session, creates the PeerConnection with opts.Tracks and the chat
// channel, and opens signaling. Negotiation starts as soon as both
// participants are there, whoever came first. Dial returns once signaling
// is up; WaitConnected waits for media and chat.
//
// A refusal is returned as *APIError (join) or *SignalError (signaling);
// IsCode(err, "room_full") works on both.
func Dial(ctx context.Context, baseURL string, req protocol.JoinRequest, opts Options) (*Call, error) {
	var sec *secure
	if opts.RoomSecret != nil {
		var err error
		if sec, err = newSecure(opts.RoomSecret, opts.Name); err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
	}
	join, err := Join(ctx, opts.HTTPClient, baseURL, req)
	if err != nil {
		return nil, err
	}
	if join.Mode == protocol.ModeSFU {
		return nil, ErrNotP2P
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("room", join.RoomID, "participant", join.ParticipantID)
	api, err := newAPI(opts, log)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &Call{
		opts:     opts,
		log:      log,
		baseURL:  baseURL,
		req:      req,
		api:      api,
		events:   make(chan Event, eventBuffer),
		cmds:     make(chan func()),
		kick:     make(chan struct{}, 1),
		pcDown:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		changed:  make(chan struct{}),
		sec:      sec,
	}
	c.config = c.configFor(join)
	pc, dc, err := c.newPeerConnection()
	if err != nil {
		c.wg.Wait()
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.pc, c.chat = pc, dc
	sig, err := DialSignal(ctx, wsURL(baseURL, join.WebSocketURL), join.SessionToken)
	if err != nil {
		_ = pc.GracefulClose()
		c.wg.Wait()
		return nil, err
	}
	c.adopt(join, sig)
	go c.run()
	if err := c.do(c.offerIfPresent); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.log.Info("call started", "peer", c.Peer())
	return c, nil
}

// wsURL resolves a relative ws_url against the base URL, so that a server
// behind a path-rewriting proxy may answer with "/ws".
func wsURL(baseURL, ws string) string {
	u, err := url.Parse(ws)
	if err != nil || u.IsAbs() {
		return ws
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		return ws
	}
	abs := base.ResolveReference(u)
	switch abs.Scheme {
	case "https":
		abs.Scheme = "wss"
	case "http":
		abs.Scheme = "ws"
	}
	return abs.String()
}

func (c *Call) configFor(join protocol.JoinResponse) webrtc.Configuration {
	cfg := webrtc.Configuration{ICEServers: c.opts.ICEServers}
	if cfg.ICEServers == nil {
		cfg.ICEServers = iceServers(join.ICEServers)
	}
	if c.opts.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// newPeerConnection builds a PeerConnection with our tracks and the chat
// channel, wired to this Call. Its callbacks act only while it is the
// Call's current one, so a replaced PeerConnection falls silent.
func (c *Call) newPeerConnection() (*webrtc.PeerConnection, *webrtc.DataChannel, error) {
	pc, err := c.api.NewPeerConnection(c.config)
	if err != nil {
		return nil, nil, err
	}
	sends := map[webrtc.RTPCodecType]bool{}
	for _, t := range c.opts.Tracks {
		sender, err := pc.AddTrack(t)
		if err != nil {
			_ = pc.Close()
			return nil, nil, fmt.Errorf("add track %s: %w", t.ID(), err)
		}
		sends[t.Kind()] = true
		c.wg.Add(1)
		go c.readRTCP(sender)
	}
	// Only the offerer's offer decides which m-lines exist, and the
	// answerer cannot add its own (see "Who offers"). Receiving audio and
	// video whatever we send gives the answerer's camera and microphone a
	// line to go on.
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if sends[kind] {
			continue
		}
		recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
		if _, err := pc.AddTransceiverFromKind(kind, recv); err != nil {
			_ = pc.Close()
			return nil, nil, fmt.Errorf("add %s transceiver: %w", kind, err)
		}
	}
	// Negotiated with a fixed id on both sides: the channel exists as soon
	// as SCTP is up, with no DCEP open handshake to order against the
	// first message.
	yes, id := true, uint16(0)
	dc, err := pc.CreateDataChannel("chat", &webrtc.DataChannelInit{Negotiated: &yes, ID: &id, Ordered: &yes})
	if err != nil {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("create chat channel: %w", err)
	}
	c.wire(pc, dc)
	return pc, dc, nil
}

func (c *Call) wire(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.onLocalCandidate(pc, cand) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("peer connection state", "state", s.String())
		c.update(pc, func() { c.pcState = s })
		down := s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed
		if down && c.PeerConnection() == pc {
			poke(c.pcDown)
		}
	})
	pc.OnNegotiationNeeded(func() { poke(c.kick) })
	if c.opts.OnTrack != nil {
		pc.OnTrack(c.opts.OnTrack)
	}
	dc.OnOpen(func() { c.update(pc, func() { c.chatOpen = true }) })
	dc.OnClose(func() { c.update(pc, func() { c.chatOpen = false }) })
	if c.opts.OnChat != nil {
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			if b, ok := c.openChat(msg.Data); ok {
				c.opts.OnChat(b)
			}
		})
	}
}

// poke wakes the loop without blocking pion's goroutine; one pending
// wake-up is enough.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// readRTCP keeps reading a sender's RTCP: the interceptors act on what is
// read (NACKs are answered from the send buffer), and nothing is read
// unless someone calls Read. It ends when the PeerConnection closes.
func (c *Call) readRTCP(sender *webrtc.RTPSender) {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// update changes state read by WaitConnected, if pc is still current.
func (c *Call) update(pc *webrtc.PeerConnection, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pc != pc {
		return
	}
	f()
	close(c.changed)
	c.changed = make(chan struct{})
}

// WaitConnected waits until the PeerConnection is connected and the chat
// channel is open, so that media and SendChat both work. It returns at
// once when they already are, ErrClosed when the Call is closed, and the
// state it saw when ctx ends.
func (c *Call) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		state, open, changed := c.pcState, c.chatOpen, c.changed
		c.mu.Unlock()
		if state == webrtc.PeerConnectionStateConnected && open && c.Verified() {
			return nil
		}
		select {
		case <-changed:
		case <-c.done:
			if err := c.securityErr(); err != nil {
				return err
			}
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("wait connected: peer connection %s, chat open %t: %w", state, open, ctx.Err())
		}
	}
}

// SendChat sends one chat message: sealed with the chat key when
// Options.RoomSecret is set (and only once the peer is verified), as
// given otherwise.
func (c *Call) SendChat(b []byte) error {
	b, err := c.sealChat(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	dc, open := c.chat, c.chatOpen
	c.mu.Unlock()
	if !open {
		return ErrChatNotOpen
	}
	return dc.Send(b)
}

// SendMeta sends opaque data to the peer over signaling (a meta message).
func (c *Call) SendMeta(data string) error {
	return c.send(protocol.Message{Type: protocol.TypeMeta, Data: data})
}

// Events reports what happened in the call (see EventType). It is
// buffered; events nobody reads are dropped once the buffer is full. It
// is closed by Close.
func (c *Call) Events() <-chan Event { return c.events }

// Self returns our participant id.
func (c *Call) Self() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// Peer returns the other participant's id, or "" before it is known.
func (c *Call) Peer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

// PeerConnection returns the current PeerConnection. It changes only with
// EventPeerConnectionReplaced.
func (c *Call) PeerConnection() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pc
}

// JoinResponse returns the answer of the latest join (Reconnect joins
// again and gets a new session token and ICE servers).
func (c *Call) JoinResponse() protocol.JoinResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.join
}

// Reconnect resumes the call over a fresh signaling session: it joins
// again with the same credential and dials signaling (the server closes
// the old session with "replaced" and tells the peer). Then ICE restarts
// on the existing PeerConnection, offered by whichever side is the
// offerer (see negotiate.go), now or when the peer returns. Tracks, chat
// channel and DTLS session stay. Use it after EventSignalLost or when the
// network changed. Reconnect returns once the new session is up.
func (c *Call) Reconnect(ctx context.Context) error {
	c.reconnectMu.Lock()
	defer c.reconnectMu.Unlock()
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	// Stop reading the old session first: the server is about to end it
	// with "replaced", which is no loss to report.
	var paused <-chan protocol.Message
	if err := c.do(func() error { paused, c.msgs = c.msgs, nil; return nil }); err != nil {
		return err
	}
	resume := func() { _ = c.do(func() error { c.msgs = paused; return nil }) }
	join, err := Join(ctx, c.opts.HTTPClient, c.baseURL, c.req)
	if err != nil {
		resume()
		return fmt.Errorf("reconnect: %w", err)
	}
	sig, err := DialSignal(ctx, wsURL(c.baseURL, join.WebSocketURL), join.SessionToken)
	if err != nil {
		resume()
		return fmt.Errorf("reconnect: %w", err)
	}
	var old *Signal
	adopted := false
	err = c.do(func() error {
		adopted = true
		old = c.adopt(join, sig)
		c.refreshICEServers(join)
		return c.offerIfPresent()
	})
	if !adopted {
		sig.Close()
	}
	if old != nil {
		old.abandon()
	}
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	c.log.Info("reconnected", "peer", c.Peer())
	return nil
}

// Close leaves the room (bye), closes the PeerConnection and signaling
// and waits for the Call's goroutines. It is idempotent.
func (c *Call) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		<-c.loopDone
		c.mu.Lock()
		sig, pc := c.sig, c.pc
		c.mu.Unlock()
		sig.Close()
		c.closeErr = pc.GracefulClose()
		c.wg.Wait()
		close(c.events)
		c.log.Info("call closed")
	})
	return c.closeErr
}
