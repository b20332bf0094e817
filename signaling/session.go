package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/konsil/konsil/protocol"
)

var (
	errRoomFull     = errors.New("room full")
	errShuttingDown = errors.New("server shutting down")
	errSessionGone  = errors.New("session ended")
)

const writeWait = 10 * time.Second

// outgoing is one queued frame: a message, or a close frame when close is set.
type outgoing struct {
	data      []byte
	close     bool
	closeCode int
}

// session is one participant's WebSocket. Its reader goroutine (run) and
// writer goroutine (write) own the connection; others reach it only through
// the send queue, which never blocks them.
//
// A session ends in three steps: closeWith queues the close frame; the
// writer sends it, half-closes the TCP connection and starts the linger
// window; the reader stops serving and discards what the client still
// sends until the client closes its side, the window ends or
// Limits.LingerBytes were read, and only then closes the socket.
type session struct {
	hub  *Hub
	conn *websocket.Conn
	adm  Admission

	send chan outgoing
	done chan struct{}

	closeOnce sync.Once
	// closeReason is written once under closeOnce; the reader goroutine
	// reads it only after its own closeWith call has returned.
	closeReason string
	// expiry closes the session when the room's window ends.
	expiry *time.Timer
	// dropQueue tells the writer not to flush the queue of a client that
	// stopped reading.
	dropQueue atomic.Bool
	// media is the session's media at the SFU in a conference room; nil
	// otherwise. Set when the session enters its room (during hello, or
	// by an admission from another goroutine), so guarded by mediaMu.
	mediaMu sync.Mutex
	media   MediaSession
	// waiting: the session waits in its room's lobby (lobby.go).
	waiting atomic.Bool
	// deadlineMu orders the read deadline: the reader extends it while the
	// session is served; once the close frame is out, lingerEnd is set and
	// no extension may undo the cut that comes with it.
	deadlineMu sync.Mutex
	lingerEnd  time.Time
	// kid is the session's SFrame KID in a conference room (Hub.nextKID),
	// zero otherwise. Set in hello before the session joins its room.
	kid uint64
}

func newSession(h *Hub, conn *websocket.Conn) *session {
	return &session{
		hub:  h,
		conn: conn,
		send: make(chan outgoing, h.limits.SendQueue),
		done: make(chan struct{}),
	}
}

// run authenticates the session, serves it, and cleans up when it ends.
func (s *session) run(ctx context.Context) {
	h := s.hub
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.write()
	}()
	defer func() {
		s.closeWith(websocket.CloseNormalClosure, "", false)
		if s.expiry != nil {
			s.expiry.Stop()
		}
		<-writerDone
		s.discardInput()
		s.conn.Close()
	}()

	if err := s.hello(ctx); err != nil {
		return
	}
	h.cfg.Metrics.Sessions.Inc()
	defer h.cfg.Metrics.Sessions.Dec()
	defer s.leave()

	s.readLoop()
}

// hello waits for the hello message, admits the session and welcomes it.
func (s *session) hello(ctx context.Context) error {
	h := s.hub
	// Network deadlines use the real clock; cfg.Now is for room windows.
	s.extendRead(h.limits.HelloTimeout)
	raw, err := s.readMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.fail(protocol.CodeHelloExpected, "no hello within "+h.limits.HelloTimeout.String())
			return err
		}
		s.refuseRead(err)
		return err
	}
	m, err := protocol.Decode(raw)
	if err != nil {
		s.fail(protocol.CodeFor(err), err.Error())
		return err
	}
	if m.Type != protocol.TypeHello {
		s.fail(protocol.CodeHelloExpected, "the first message must be hello")
		return errors.New("no hello")
	}
	h.cfg.Metrics.message(m.Type)
	adm, err := h.cfg.Admit(ctx, m.Token)
	if err != nil {
		code, msg := admitCode(err)
		s.fail(code, msg)
		return err
	}
	s.adm = adm
	if adm.Mode == protocol.ModeSFU {
		s.kid = h.nextKID()
	}
	s.expiry = time.AfterFunc(adm.WindowEnd.Sub(h.cfg.Now()), func() {
		s.closeWith(websocket.CloseNormalClosure, protocol.CodeRoomClosed, true)
	})
	if h.mustWait(adm) {
		h.wait(s)
		return nil
	}
	return s.enter()
}

// enter puts the session in its room: welcome, peer-joined to the others,
// media in a conference. It runs at hello, or when a waiting guest is
// admitted (on the admitting goroutine). A refusal closes the session.
func (s *session) enter() error {
	h := s.hub
	adm := s.adm
	end := adm.WindowEnd
	welcome := func(peers []*session) protocol.Message {
		w := protocol.Message{
			Type: protocol.TypeWelcome, V: protocol.Version,
			Self:   &protocol.Peer{ID: adm.ParticipantID, Role: adm.Role, KID: s.kid},
			Peers:  make([]protocol.Peer, 0, len(peers)),
			RoomID: adm.RoomID, Mode: adm.Mode, WindowEndsAt: &end,
		}
		for _, p := range peers {
			w.Peers = append(w.Peers, protocol.Peer{ID: p.adm.ParticipantID, Role: p.adm.Role, KID: p.kid})
		}
		return w
	}
	peers, replaced, err := h.attach(s, welcome)
	if err != nil {
		switch {
		case errors.Is(err, errSessionGone):
		case errors.Is(err, errRoomFull):
			s.fail(protocol.CodeRoomFull, "the room is full")
		default:
			s.fail(protocol.CodeServerShutdown, "the server is shutting down")
		}
		return err
	}
	s.waiting.Store(false)
	if replaced != nil {
		// The old session is no longer the participant's current one, so
		// its end is not announced as peer-left.
		replaced.fail(protocol.CodeReplaced, "this participant connected again elsewhere")
	}
	joined := protocol.Message{Type: protocol.TypePeerJoined,
		Peer: &protocol.Peer{ID: adm.ParticipantID, Role: adm.Role, Reconnect: replaced != nil, KID: s.kid}}
	for _, p := range peers {
		p.deliver(joined)
	}
	if h.cfg.Media != nil && adm.Mode == protocol.ModeSFU {
		h.joinMedia(s)
	}
	h.log.Info("participant connected", "room", adm.RoomID, "participant", adm.ParticipantID, "reconnect", replaced != nil)
	if len(peers) > 0 && h.markCall(adm.RoomID) {
		h.cfg.OnCall(adm.RoomID)
	}
	h.changed(adm.RoomID)
	if adm.Role == protocol.RoleHost {
		// Guests waiting for this host see it online at once.
		h.RefreshLobby(adm.RoomID)
	}
	return nil
}

func (s *session) setMedia(ms MediaSession) {
	s.mediaMu.Lock()
	s.media = ms
	s.mediaMu.Unlock()
}

func (s *session) mediaSession() MediaSession {
	s.mediaMu.Lock()
	defer s.mediaMu.Unlock()
	return s.media
}

func admitCode(err error) (code, message string) {
	switch {
	case errors.Is(err, ErrRoomClosed):
		return protocol.CodeRoomClosed, "the room's window has ended or the room was deleted"
	case errors.Is(err, ErrRoomNotOpen):
		return protocol.CodeUnauthorized, "the room is not open yet"
	default:
		return protocol.CodeUnauthorized, "the session token is invalid or expired; join again"
	}
}

// readLoop reads messages until the connection ends, dispatching each.
func (s *session) readLoop() {
	h := s.hub
	lim := rate.NewLimiter(rate.Limit(h.limits.Rate), h.limits.Burst)
	violations := 0
	idle := 3 * h.limits.PingInterval
	s.extendRead(idle)
	s.conn.SetPongHandler(func(string) error {
		s.extendRead(idle)
		return nil
	})
	for {
		raw, err := s.readMessage()
		if err != nil {
			s.refuseRead(err)
			return
		}
		select {
		case <-s.done:
			// Closed from elsewhere (replaced, slow, the room closing):
			// what the client sends now is discarded, not served.
			return
		default:
		}
		s.extendRead(idle)
		if !lim.Allow() {
			violations++
			h.cfg.Metrics.Errors.WithLabelValues(protocol.CodeRateLimited).Inc()
			if violations > h.limits.MaxViolations {
				s.closeWith(websocket.ClosePolicyViolation, protocol.CodeRateLimited, false)
				return
			}
			if violations == 1 || violations%10 == 0 {
				s.deliverError(protocol.CodeRateLimited, "too many messages; slow down")
			}
			continue
		}
		m, err := protocol.Decode(raw)
		if err != nil {
			code := protocol.CodeFor(err)
			h.cfg.Metrics.Errors.WithLabelValues(code).Inc()
			s.deliverError(code, err.Error())
			continue
		}
		h.cfg.Metrics.message(m.Type)
		if done := s.dispatch(m); done {
			return
		}
	}
}

// dispatch handles one valid message and reports whether the session ends.
func (s *session) dispatch(m protocol.Message) bool {
	if s.waiting.Load() {
		return s.dispatchWaiting(m)
	}
	switch m.Type {
	case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate, protocol.TypeMeta:
		s.relay(m)
	case protocol.TypeView:
		if m.To != SFUPeer || s.mediaSession() == nil {
			s.deliverError(protocol.CodeUnknownPeer, "view goes to the sfu of a conference room")
			return false
		}
		s.toSFU(m)
	case protocol.TypePing:
		s.deliver(protocol.Message{Type: protocol.TypePong})
	case protocol.TypeBye:
		s.closeWith(websocket.CloseNormalClosure, "bye", false)
		return true
	case protocol.TypeHello:
		s.deliverError(protocol.CodeInvalid, "hello was already received")
	case protocol.TypeCheck:
		// Only a waiting guest's check matters; later ones are harmless.
	}
	return false
}

// dispatchWaiting handles what a guest in the lobby may send.
func (s *session) dispatchWaiting(m protocol.Message) bool {
	switch m.Type {
	case protocol.TypePing:
		s.deliver(protocol.Message{Type: protocol.TypePong})
	case protocol.TypeBye:
		s.closeWith(websocket.CloseNormalClosure, "bye", false)
		return true
	case protocol.TypeCheck:
		s.hub.setCheck(s, *m.OK)
	default:
		s.deliverError(protocol.CodeNotAdmitted, "you are in the waiting room; the practice lets you in")
	}
	return false
}

// relay forwards a message to the peer it names, stamped with the sender.
func (s *session) relay(m protocol.Message) {
	if m.To == SFUPeer && s.mediaSession() != nil {
		s.toSFU(m)
		return
	}
	if m.To == s.adm.ParticipantID {
		s.deliverError(protocol.CodeUnknownPeer, "a message cannot be sent to oneself")
		return
	}
	peer := s.hub.member(s.adm.RoomID, m.To)
	if peer == nil {
		s.deliverError(protocol.CodeUnknownPeer, "that peer is not connected")
		return
	}
	out := protocol.Message{Type: m.Type, From: s.adm.ParticipantID,
		SDP: m.SDP, Candidate: m.Candidate, Data: m.Data}
	peer.deliver(out)
}

// toSFU hands the SFU what the client sent it: the client's first offer
// (the SFU answers it, and refuses any later one itself), answers to the
// SFU's offers, candidates and view sizes. meta is between participants.
func (s *session) toSFU(m protocol.Message) {
	switch m.Type {
	case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate, protocol.TypeView:
		s.mediaSession().Signal(protocol.Message{Type: m.Type, SDP: m.SDP, Candidate: m.Candidate, Views: m.Views})
	default:
		s.deliverError(protocol.CodeInvalid, "the sfu takes offers, answers, candidates and views")
	}
}

// deliverFromSFU is the SFU's way to the client: its offers and
// candidates, and the peer, error and reason fields of what it may say
// besides (a speaker, a refusal), stamped with from "sfu".
func (s *session) deliverFromSFU(m protocol.Message) {
	s.deliver(protocol.Message{Type: m.Type, From: SFUPeer, SDP: m.SDP, Candidate: m.Candidate,
		Peer: m.Peer, Error: m.Error, Reason: m.Reason})
}

// leave removes the session from its room and tells the others.
func (s *session) leave() {
	if s.hub.leaveLobby(s) {
		return
	}
	if ms := s.mediaSession(); ms != nil {
		// A replaced session's media is already gone at the SFU; this
		// does nothing then.
		ms.Leave()
	}
	peers, current := s.hub.detach(s)
	if !current {
		return
	}
	reason := s.closeReason
	if reason == "" {
		reason = "disconnected"
	}
	left := protocol.Message{Type: protocol.TypePeerLeft,
		Peer: &protocol.Peer{ID: s.adm.ParticipantID, Role: s.adm.Role, KID: s.kid}, Reason: reason}
	for _, p := range peers {
		p.deliver(left)
	}
	s.hub.cfg.OnLeave(s.adm.RoomID, s.adm.ParticipantID, reason)
	s.hub.log.Info("participant disconnected", "room", s.adm.RoomID, "participant", s.adm.ParticipantID)
	s.hub.changed(s.adm.RoomID)
}

// readMessage reads one message of at most protocol.MaxMessageBytes.
// gorilla's own read limit is not used: it answers an oversized message
// with a 1009 close frame of its own, with no reason, and its reader fails
// for good, so neither the too_large close nor the drain could follow.
// The rest of an oversized message stays unread for discardInput.
func (s *session) readMessage() ([]byte, error) {
	_, r, err := s.conn.NextReader()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(r, protocol.MaxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > protocol.MaxMessageBytes {
		return nil, fmt.Errorf("read message: %w: over %d bytes", protocol.ErrTooLarge, protocol.MaxMessageBytes)
	}
	return raw, nil
}

// extendRead moves the read deadline d ahead, unless the session's close
// frame is already out.
func (s *session) extendRead(d time.Duration) {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if s.lingerEnd.IsZero() {
		s.conn.SetReadDeadline(time.Now().Add(d))
	}
}

// startLinger opens the linger window, once, when the close frame is out.
// A deadline of now wakes a reader still waiting for a silent client (a
// session closed from elsewhere: replaced, the room closing), so that it
// stops serving and its peers hear peer-left at once; discardInput then
// reads on until lingerEnd.
func (s *session) startLinger() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if s.lingerEnd.IsZero() {
		s.lingerEnd = time.Now().Add(s.hub.limits.Linger)
		s.conn.SetReadDeadline(time.Now())
	}
}

// discardInput reads and drops what the client sends after the close
// frame, so that closing the socket does not meet unread input: the kernel
// would answer it with a reset, and a reset can destroy the error and the
// close frame before the client has read them. It stops when the client
// closes its side (it has read our close and our FIN), when the linger
// window ends, or after Limits.LingerBytes, whichever comes first; a
// client that floods on past that gets its reset. It reads the socket
// beneath gorilla, whose reader may have failed for good (a timeout).
func (s *session) discardInput() {
	s.startLinger() // when the close frame could not be written
	s.deadlineMu.Lock()
	s.conn.SetReadDeadline(s.lingerEnd)
	s.deadlineMu.Unlock()
	io.CopyN(io.Discard, s.conn.NetConn(), s.hub.limits.LingerBytes)
}

// refuseRead answers a failed read: an oversized message gets a close
// naming the limit, anything else just ends.
func (s *session) refuseRead(err error) {
	if errors.Is(err, protocol.ErrTooLarge) {
		s.hub.cfg.Metrics.Errors.WithLabelValues(protocol.CodeTooLarge).Inc()
		s.closeWith(websocket.CloseMessageTooBig, protocol.CodeTooLarge, false)
		return
	}
	s.closeWith(websocket.CloseNormalClosure, "", false)
}

// deliver queues a message without ever blocking; a full queue means the
// client is not reading, and it is closed instead of slowing the sender.
func (s *session) deliver(m protocol.Message) {
	data, err := json.Marshal(m)
	if err != nil {
		s.hub.log.Error("encode signaling message", "type", m.Type, "err", err)
		return
	}
	select {
	case <-s.done:
	case s.send <- outgoing{data: data}:
	default:
		s.hub.cfg.Metrics.Errors.WithLabelValues(protocol.CodeSlowConsumer).Inc()
		s.closeWith(websocket.ClosePolicyViolation, protocol.CodeSlowConsumer, false)
	}
}

func (s *session) deliverError(code, message string) {
	s.hub.cfg.Metrics.Errors.WithLabelValues(code).Inc()
	s.deliver(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{Code: code, Message: message}})
}

// fail sends an error message and then closes with the code as reason.
func (s *session) fail(code, message string) {
	s.deliverError(code, message)
	s.closeWith(websocket.ClosePolicyViolation, code, false)
}

// closeWith ends the session once: the writer sends what is queued, then a
// close frame with reason, and stops. With announce, a closing message
// precedes the close frame. It never blocks: when the queue is full (a
// client that does not read), the close frame is written directly and the
// queue is dropped.
func (s *session) closeWith(closeCode int, reason string, announce bool) {
	var m *protocol.Message
	if announce {
		m = &protocol.Message{Type: protocol.TypeClosing, Reason: reason}
	}
	s.closeOnce.Do(func() { s.close(closeCode, reason, m) })
}

// closeAnnounced is closeWith with a closing message of the caller's
// (declined, with the practice's text).
func (s *session) closeAnnounced(closeCode int, m protocol.Message) {
	s.closeOnce.Do(func() { s.close(closeCode, m.Reason, &m) })
}

// close is closeWith's body; it runs once, under closeOnce.
func (s *session) close(closeCode int, reason string, announce *protocol.Message) {
	s.closeReason = reason
	queued := true
	if announce != nil {
		queued = s.enqueue(*announce)
	}
	if queued {
		select {
		case s.send <- outgoing{close: true, closeCode: closeCode, data: []byte(reason)}:
		default:
			queued = false
		}
	}
	if !queued {
		s.dropQueue.Store(true)
		// WriteControl may run concurrently with the writer.
		msg := websocket.FormatCloseMessage(closeCode, reason)
		s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
		// Closing the socket unblocks a writer stuck on a full TCP
		// buffer and the reader, so the session ends now.
		s.conn.Close()
	}
	close(s.done)
}

// enqueue queues m without blocking and reports whether it fit.
func (s *session) enqueue(m protocol.Message) bool {
	data, err := json.Marshal(m)
	if err != nil {
		return false
	}
	select {
	case s.send <- outgoing{data: data}:
		return true
	default:
		return false
	}
}

// write sends queued messages and pings, closes the session at the end of
// the room's window, and returns after sending the close frame.
func (s *session) write() {
	h := s.hub
	ping := time.NewTicker(h.limits.PingInterval)
	defer ping.Stop()
	for {
		select {
		case out := <-s.send:
			if !s.writeFrame(out) {
				s.conn.Close()
				return
			}
			if out.close {
				s.endWrites()
				return
			}
		case <-s.done:
			if !s.dropQueue.Load() && s.flush() {
				s.endWrites()
				return
			}
			s.conn.Close()
			return
		case <-ping.C:
			s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := s.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				s.closeWith(websocket.CloseNormalClosure, "", false)
			}
		}
	}
}

// flush writes what was queued before the close, ending with the close
// frame, and reports whether the close frame was written.
func (s *session) flush() bool {
	for {
		select {
		case out := <-s.send:
			if !s.writeFrame(out) {
				return false
			}
			if out.close {
				return true
			}
		default:
			return false
		}
	}
}

// endWrites follows a written close frame: nothing more is sent, so the
// TCP connection is half-closed, which lets a client that has read the
// close frame close its side and end discardInput at once; and the linger
// window starts.
func (s *session) endWrites() {
	if cw, ok := s.conn.NetConn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	s.startLinger()
}

func (s *session) writeFrame(out outgoing) bool {
	deadline := time.Now().Add(writeWait)
	if out.close {
		msg := websocket.FormatCloseMessage(out.closeCode, string(out.data))
		return s.conn.WriteControl(websocket.CloseMessage, msg, deadline) == nil
	}
	s.conn.SetWriteDeadline(deadline)
	return s.conn.WriteMessage(websocket.TextMessage, out.data) == nil
}
