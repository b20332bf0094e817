package client

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/protocol"
)

// maxPendingCandidates bounds remote candidates queued before a remote
// description: a real peer sends a few dozen.
const maxPendingCandidates = 256

// Who offers. pion (v4.2) cannot roll back a local offer, so perfect
// negotiation's answer to glare (the polite side rolls back) is not
// available, and a PeerConnection whose offer is never answered stays in
// have-local-offer for good. So offers never cross: only the impolite
// side (protocol.Polite false, the smaller id) ever offers, and it offers
// whenever the peer appears or reappears (welcome lists it, peer-joined
// arrives) and when the connection fails or closes:
//
//   - no negotiation yet: the first offer;
//   - an offer still unanswered: the same offer again, candidates
//     included, because the answer went to a session that is gone;
//   - otherwise: an ICE restart.
//
// The polite side only answers. A peer built the same way, or a browser
// doing perfect negotiation (it rolls back when polite), never makes
// this side roll back.
//
// A peer that comes back with a new PeerConnection (a reloaded tab) shows
// a new DTLS fingerprint in its offer or answer; pion cannot renegotiate
// DTLS, so we start over with a new PeerConnection too. So we do when
// pion closed ours because the peer closed its own.

// run is the loop that owns negotiation: signaling messages, commands
// from Dial and Reconnect, and pion's negotiationneeded, one at a time.
func (c *Call) run() {
	defer close(c.loopDone)
	for {
		select {
		case <-c.done:
			return
		case f := <-c.cmds:
			f()
		case <-c.kick:
			c.onNegotiationNeeded()
		case <-c.pcDown:
			// ICE failed, or the peer closed its side: the offerer
			// restarts ICE, or starts over with a new PeerConnection.
			c.negotiate(true)
		case m, ok := <-c.msgs:
			if !ok {
				c.msgs = nil
				c.onSignalLost()
				continue
			}
			c.handle(m)
		}
	}
}

// do runs f on the loop and returns its error, or ErrClosed if the Call
// closed first.
func (c *Call) do(f func() error) error { return runOnLoop(c.cmds, c.done, f) }

// runOnLoop hands f to the loop that reads cmds and returns f's error,
// or ErrClosed if done closes first. Once the loop has taken f it runs
// it to the end.
func runOnLoop(cmds chan<- func(), done <-chan struct{}, f func() error) error {
	res := make(chan error, 1)
	select {
	case cmds <- func() { res <- f() }:
		return <-res
	case <-done:
		return ErrClosed
	}
}

func (c *Call) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypePeerJoined:
		c.onPeerJoined(m)
	case protocol.TypePeerLeft:
		c.onPeerLeft(m)
	case protocol.TypeOffer, protocol.TypeAnswer:
		if !c.fromPeer(m) || !c.noteRemoteDescription(m.SDP) {
			return
		}
		if m.Type == protocol.TypeOffer {
			c.onOffer(m)
		} else {
			c.onAnswer(m)
		}
	case protocol.TypeCandidate:
		c.onCandidate(m)
	case protocol.TypeMeta:
		if c.fromPeer(m) && !c.onSecureMeta(m) {
			c.emit(Event{Type: EventMeta, Peer: protocol.Peer{ID: m.From}, Data: m.Data})
		}
	case protocol.TypeError:
		if m.Error != nil {
			c.log.Warn("server reported error", "code", m.Error.Code, "message", m.Error.Message)
			c.emit(Event{Type: EventError, Err: &SignalError{Code: m.Error.Code, Message: m.Error.Message}})
		}
	case protocol.TypeClosing:
		c.log.Info("server closing session", "reason", m.Reason)
		c.emit(Event{Type: EventClosing, Reason: m.Reason})
	}
}

// emit hands an event to Events without ever blocking the loop.
func (c *Call) emit(e Event) {
	select {
	case c.events <- e:
	default:
		c.log.Warn("event dropped: nobody reads Events", "event", string(e.Type))
	}
}

// adopt makes sig the Call's signaling session and returns the previous
// one. It runs before the loop starts (Dial) or on it (Reconnect).
func (c *Call) adopt(join protocol.JoinResponse, sig *Signal) (old *Signal) {
	c.mu.Lock()
	old, c.sig, c.join, c.self = c.sig, sig, join, sig.Welcome().Self.ID
	c.mu.Unlock()
	c.msgs = sig.Messages()
	c.ignoring = false
	c.present = false
	for _, p := range sig.Welcome().Peers {
		if c.setPeer(p.ID) {
			c.present = true
		}
	}
	return old
}

// setPeer records id as the peer if none is known yet, and tells whether
// id is the peer. A room for two has one other participant; anything
// else is ignored.
func (c *Call) setPeer(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" || id == c.self {
		return false
	}
	if c.peer == "" {
		c.peer = id
	}
	return id == c.peer
}

// fromPeer tells whether a relayed message comes from our peer.
func (c *Call) fromPeer(m protocol.Message) bool {
	if c.setPeer(m.From) {
		c.present = true
		return true
	}
	c.log.Debug("ignoring message from unknown participant", "type", m.Type, "from", m.From)
	return false
}

// offerer tells whether we are the side that makes offers.
func (c *Call) offerer() bool {
	peer := c.Peer()
	return peer != "" && !protocol.Polite(c.Self(), peer)
}

func (c *Call) onPeerJoined(m protocol.Message) {
	if m.Peer == nil || !c.setPeer(m.Peer.ID) {
		return
	}
	c.present = true
	c.log.Info("peer joined", "peer", m.Peer.ID, "reconnect", m.Peer.Reconnect)
	c.emit(Event{Type: EventPeerJoined, Peer: *m.Peer})
	c.negotiate(true)
}

func (c *Call) onPeerLeft(m protocol.Message) {
	if m.Peer == nil || m.Peer.ID != c.Peer() {
		return
	}
	c.present = false
	c.log.Info("peer left", "peer", m.Peer.ID, "reason", m.Reason)
	c.emit(Event{Type: EventPeerLeft, Peer: *m.Peer, Reason: m.Reason})
}

func (c *Call) onSignalLost() {
	c.mu.Lock()
	err := c.sig.Err()
	c.mu.Unlock()
	c.present = false
	c.log.Warn("signaling lost", "err", err)
	c.emit(Event{Type: EventSignalLost, Err: err})
}

func (c *Call) onOffer(m protocol.Message) {
	if !c.fromPeer(m) {
		return
	}
	pc := c.livePeerConnection()
	if pc == nil {
		return
	}
	if cur := pc.CurrentRemoteDescription(); cur != nil && !sameFingerprints(cur.SDP, m.SDP) {
		// A new DTLS certificate means a new PeerConnection on the other
		// side (a reloaded tab). pion cannot renegotiate DTLS on a running
		// transport, so ours must be new as well.
		if pc = c.replacePeerConnection(); pc == nil {
			return
		}
	}
	if pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// Only the offerer has a local offer, and the offerer is the
		// impolite side: its offer stands, the peer's is dropped.
		c.log.Debug("offer collision: ignoring the peer's offer")
		c.ignoring = true
		return
	}
	c.ignoring = false
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		c.log.Warn("set remote offer", "err", err)
		return
	}
	c.addPendingCandidates(pc)
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		err = c.setLocalAndSend(pc, answer, protocol.TypeAnswer)
	}
	if err != nil {
		c.log.Warn("answer", "err", err)
	}
}

func (c *Call) onAnswer(m protocol.Message) {
	if !c.fromPeer(m) {
		return
	}
	pc := c.PeerConnection()
	cur := pc.CurrentRemoteDescription()
	if pc.ConnectionState() == webrtc.PeerConnectionStateClosed ||
		(cur != nil && !sameFingerprints(cur.SDP, m.SDP)) {
		// Our offer went out from a PeerConnection that closed meanwhile,
		// or the peer answered our ICE restart from a new PeerConnection
		// (a reloaded tab on the polite side): start over with a new one.
		if c.replacePeerConnection() != nil {
			c.negotiate(false)
		}
		return
	}
	if pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		c.log.Debug("ignoring answer without an offer of ours", "state", pc.SignalingState().String())
		return
	}
	c.ignoring = false
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
		c.log.Warn("set remote answer", "err", err)
		return
	}
	c.addPendingCandidates(pc)
}

func (c *Call) onCandidate(m protocol.Message) {
	if !c.fromPeer(m) || m.Candidate == nil || c.ignoring {
		return
	}
	cand := fromProtocolCandidate(*m.Candidate)
	pc := c.PeerConnection()
	if pc.RemoteDescription() == nil {
		if len(c.pending) < maxPendingCandidates {
			c.pending = append(c.pending, cand)
		}
		return
	}
	if err := pc.AddICECandidate(cand); err != nil {
		c.log.Debug("add remote candidate", "err", err)
	}
}

func (c *Call) addPendingCandidates(pc *webrtc.PeerConnection) {
	for _, cand := range c.pending {
		if err := pc.AddICECandidate(cand); err != nil {
			c.log.Debug("add queued remote candidate", "err", err)
		}
	}
	c.pending = nil
}

// negotiate makes or repeats our offer if we are the offerer and the peer
// is there (see "Who offers"). restart asks for an ICE restart of a
// negotiated connection.
func (c *Call) negotiate(restart bool) {
	if !c.present || !c.offerer() {
		return
	}
	if err := c.offer(restart); err != nil {
		c.log.Warn("offer", "err", err)
	}
}

// offerIfPresent is negotiate for Dial and Reconnect, which want the error.
func (c *Call) offerIfPresent() error {
	if !c.present || !c.offerer() {
		return nil
	}
	return c.offer(true)
}

func (c *Call) offer(restart bool) error {
	pc := c.livePeerConnection()
	if pc == nil {
		return errors.New("no peer connection")
	}
	switch pc.SignalingState() {
	case webrtc.SignalingStateHaveLocalOffer:
		// PendingLocalDescription carries the candidates gathered so far,
		// which went to the same lost session as the offer.
		c.log.Debug("repeating unanswered offer")
		return c.send(protocol.Message{Type: protocol.TypeOffer, SDP: pc.PendingLocalDescription().SDP})
	case webrtc.SignalingStateStable:
	default:
		return nil
	}
	restart = restart && pc.CurrentRemoteDescription() != nil
	desc, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	c.log.Debug("sending offer", "ice_restart", restart)
	return c.setLocalAndSend(pc, desc, protocol.TypeOffer)
}

// onNegotiationNeeded renegotiates changes made to a negotiated
// PeerConnection (a track added through PeerConnection()). The AddTrack
// calls of Dial fire it too, before anyone is there to answer; the first
// offer follows the rule in "Who offers" instead.
func (c *Call) onNegotiationNeeded() {
	if c.PeerConnection().CurrentRemoteDescription() == nil {
		return
	}
	c.negotiate(false)
}

// setLocalAndSend applies our description and sends it. Candidates
// gathered meanwhile are held back until the description is out: the
// peer must see an ICE restart's offer before the candidates of its new
// generation, or it would add them to the old one.
func (c *Call) setLocalAndSend(pc *webrtc.PeerConnection, desc webrtc.SessionDescription, typ string) error {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	defer c.releaseCandidates()
	if err := pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local %s: %w", typ, err)
	}
	// LocalDescription adds the candidates gathered so far: an answer to
	// a repeated offer brings them again, since pion does not trickle
	// them twice.
	return c.send(protocol.Message{Type: typ, SDP: pc.LocalDescription().SDP})
}

func (c *Call) releaseCandidates() {
	c.mu.Lock()
	held := c.held
	c.held, c.holding = nil, false
	c.mu.Unlock()
	for i := range held {
		c.sendCandidate(&held[i])
	}
}

// onLocalCandidate trickles a gathered candidate to the peer. It runs on
// pion's gathering goroutine.
func (c *Call) onLocalCandidate(pc *webrtc.PeerConnection, cand *webrtc.ICECandidate) {
	if cand == nil {
		// End of gathering. Not sent: browsers disagree on how to take an
		// empty candidate, and trickle works without it.
		return
	}
	pcand := toProtocolCandidate(cand.ToJSON())
	c.mu.Lock()
	if c.pc != pc {
		c.mu.Unlock()
		return
	}
	if c.holding {
		c.held = append(c.held, pcand)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.sendCandidate(&pcand)
}

func (c *Call) sendCandidate(cand *protocol.Candidate) {
	if err := c.send(protocol.Message{Type: protocol.TypeCandidate, Candidate: cand}); err != nil {
		c.log.Debug("send candidate", "err", err)
	}
}

// send addresses m to the peer and sends it on the current session.
func (c *Call) send(m protocol.Message) error {
	c.mu.Lock()
	sig, peer := c.sig, c.peer
	c.mu.Unlock()
	if peer == "" {
		return ErrNoPeer
	}
	m.To = peer
	if err := sig.Send(m); err != nil {
		return err
	}
	if m.Type == protocol.TypeOffer || m.Type == protocol.TypeAnswer {
		c.afterDescription(m.SDP)
	}
	return nil
}

// livePeerConnection returns the current PeerConnection, replaced first
// if it was closed under us: pion closes it when the peer's DTLS says
// goodbye (the peer closed its own), and the peer may come back.
func (c *Call) livePeerConnection() *webrtc.PeerConnection {
	pc := c.PeerConnection()
	if pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
		return pc
	}
	return c.replacePeerConnection()
}

// replacePeerConnection swaps in a fresh PeerConnection with the same
// tracks, closes the old one in the background and returns the new one
// (nil if it could not be built).
func (c *Call) replacePeerConnection() *webrtc.PeerConnection {
	pc, dc, err := c.newPeerConnection()
	if err != nil {
		c.log.Error("replace peer connection", "err", err)
		return nil
	}
	c.mu.Lock()
	old := c.pc
	c.pc, c.chat = pc, dc
	c.pcState, c.chatOpen = webrtc.PeerConnectionStateNew, false
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.pending, c.ignoring = nil, false
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = old.GracefulClose()
	}()
	c.log.Info("replaced the peer connection")
	c.emit(Event{Type: EventPeerConnectionReplaced, Peer: protocol.Peer{ID: c.Peer()}})
	return pc
}

// refreshICEServers hands the new join's ICE servers (fresh TURN
// credentials) to the PeerConnection; pion uses them from the next ICE
// restart on.
func (c *Call) refreshICEServers(join protocol.JoinResponse) {
	if c.opts.ICEServers != nil {
		return
	}
	c.config = c.configFor(join)
	if err := c.PeerConnection().SetConfiguration(c.config); err != nil {
		c.log.Warn("update ICE servers", "err", err)
	}
}

// sameFingerprints tells whether two SDPs carry the same DTLS certificate
// fingerprints (RFC 8122 §5), at session or media level.
func sameFingerprints(a, b string) bool {
	return slices.Equal(fingerprints(a), fingerprints(b))
}

func fingerprints(sdp string) []string {
	var out []string
	for line := range strings.Lines(sdp) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:")
		if ok {
			out = append(out, strings.ToLower(strings.Join(strings.Fields(v), " ")))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
