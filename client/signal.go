package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/protocol"
)

const (
	// readLimit leaves slack over the protocol's message limit for what the
	// server adds when it relays (from, type), so a maximal client message
	// still arrives at the peer.
	readLimit = protocol.MaxMessageBytes + 4<<10

	handshakeTimeout = 15 * time.Second
	writeTimeout     = 10 * time.Second

	// The client pings every pingInterval and gives up on a connection that
	// stayed silent for readTimeout. The server's WebSocket ping frames do
	// not count: gorilla answers them inside ReadMessage, so they never end
	// a read; our own ping brings back a pong message that does. Without
	// this a server that vanished without a FIN would leave a Call waiting
	// forever instead of reporting the loss so that it can Reconnect.
	pingInterval = 20 * time.Second
	readTimeout  = 3 * pingInterval

	// closeWait is how long Close waits for the server's close frame
	// before it drops the TCP connection.
	closeWait = time.Second

	// messageBuffer absorbs a burst of trickled candidates while the
	// consumer is busy with an offer.
	messageBuffer = 64
)

// SignalError is a refusal or an end of session told by the server, either
// as an error message or as the reason of the WebSocket close frame. Code
// is one of the protocol.Code values (room_full, unauthorized, replaced…).
type SignalError struct {
	Code    string
	Message string
}

func (e *SignalError) Error() string {
	if e.Message == "" {
		return "signal: " + e.Code
	}
	return "signal: " + e.Code + ": " + e.Message
}

// Signal is one signaling session on a WebSocket, after hello and welcome.
//
// One reader goroutine owns the receiving side and hands messages to
// Messages; writes are serialised by wmu because gorilla allows a single
// concurrent writer; mu guards the end state. A keepalive goroutine sends
// protocol pings. Close stops both and waits for them.
type Signal struct {
	conn    *websocket.Conn
	welcome protocol.Message
	msgs    chan protocol.Message

	wmu sync.Mutex

	closing   chan struct{} // closed by Close: stop delivering, stop pinging
	closeOnce sync.Once
	readDone  chan struct{}
	wg        sync.WaitGroup

	mu   sync.Mutex
	err  error             // why the session ended; nil while it runs
	last *protocol.Message // the last message if it was error or closing
}

// DialSignal opens a signaling session: it dials wsURL (the ws_url of a
// join response), sends hello with the session token and waits for
// welcome. A refusal by the server is returned as *SignalError (for
// example Code "room_full" or "unauthorized"); a refused WebSocket upgrade
// as *APIError. ctx bounds the dial and the handshake only.
func DialSignal(ctx context.Context, wsURL, sessionToken string) (*Signal, error) {
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: handshakeTimeout}
	conn, resp, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, dialError(err, resp)
	}
	conn.SetReadLimit(readLimit)
	s := &Signal{
		conn:     conn,
		msgs:     make(chan protocol.Message, messageBuffer),
		closing:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
	if s.welcome, err = s.handshake(ctx, sessionToken); err != nil {
		conn.Close()
		return nil, err
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.keepalive()
	return s, nil
}

// dialError turns a refused upgrade into an *APIError when the server
// answered with its JSON error body, and wraps anything else.
func dialError(err error, resp *http.Response) error {
	if resp == nil {
		return fmt.Errorf("signal: dial: %w", err)
	}
	defer resp.Body.Close()
	// gorilla has already buffered at most 1 KiB of the body.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	return fmt.Errorf("signal: dial: %w", parseAPIError("signal", resp, raw))
}

// handshake sends hello and reads the answer. The deadline comes from ctx
// (handshakeTimeout when it has none), and cancelling ctx interrupts the
// read by moving the deadline into the past.
func (s *Signal) handshake(ctx context.Context, token string) (protocol.Message, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(handshakeTimeout)
	}
	s.conn.SetWriteDeadline(deadline)
	s.conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	hello, _ := json.Marshal(protocol.Message{Type: protocol.TypeHello, V: protocol.Version, Token: token})
	if err := s.conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		return protocol.Message{}, fmt.Errorf("signal: send hello: %w", err)
	}
	_, raw, err := s.conn.ReadMessage()
	if err != nil {
		if ctx.Err() != nil {
			return protocol.Message{}, fmt.Errorf("signal: wait for welcome: %w", ctx.Err())
		}
		return protocol.Message{}, s.readError(err)
	}
	m, err := decodeFromServer(raw)
	if err != nil {
		return protocol.Message{}, err
	}
	switch {
	case m.Type == protocol.TypeError && m.Error != nil:
		return protocol.Message{}, &SignalError{Code: m.Error.Code, Message: m.Error.Message}
	case m.Type != protocol.TypeWelcome:
		return protocol.Message{}, fmt.Errorf("signal: expected welcome, got %q", m.Type)
	case m.V != protocol.Version:
		return protocol.Message{}, fmt.Errorf("signal: server speaks version %d, want %d", m.V, protocol.Version)
	case m.Self == nil || m.Self.ID == "":
		return protocol.Message{}, errors.New("signal: welcome lacks self")
	}
	s.conn.SetWriteDeadline(time.Time{})
	return m, nil
}

// decodeFromServer parses one server message. Unknown fields are allowed
// (a newer server may add some); a message without a type is not.
func decodeFromServer(raw []byte) (protocol.Message, error) {
	var m protocol.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("signal: %w from server: %v", protocol.ErrMalformed, err)
	}
	if m.Type == "" {
		return m, fmt.Errorf("signal: %w from server: no type", protocol.ErrMalformed)
	}
	return m, nil
}

// Welcome returns the server's welcome: self, the peers already present,
// room id, mode and window end.
func (s *Signal) Welcome() protocol.Message { return s.welcome }

// Messages delivers every message after welcome, in order, including
// pong, error and closing. It is closed when the session ends; Err then
// says why. A consumer that stops reading holds up the connection (and
// with it the server's pings), so read until it is closed or call Close.
func (s *Signal) Messages() <-chan protocol.Message { return s.msgs }

// Err is nil while the session runs. Afterwards it is ErrClosed when
// Close ended it, a *SignalError when the server gave a reason (the code
// of an error message or the text of the close frame), or the network
// error.
func (s *Signal) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Send writes one message. It is safe for concurrent use; messages larger
// than protocol.MaxMessageBytes are refused before they reach the wire.
func (s *Signal) Send(m protocol.Message) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("signal: send %s: %w", m.Type, err)
	}
	if len(raw) > protocol.MaxMessageBytes {
		return fmt.Errorf("signal: send %s: %w: %d bytes, limit %d", m.Type, protocol.ErrTooLarge, len(raw), protocol.MaxMessageBytes)
	}
	if err := s.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.conn.WriteMessage(websocket.TextMessage, raw); err != nil {
		return fmt.Errorf("signal: send %s: %w", m.Type, err)
	}
	return nil
}

// Close leaves the room with bye, closes the connection and waits for the
// session's goroutines. It is idempotent and always returns nil; why the
// session ended is Err's business.
func (s *Signal) Close() error {
	s.shutdown(true)
	return nil
}

// abandon closes without bye: for a session the server has already
// replaced, where a bye would at best be ignored.
func (s *Signal) abandon() { s.shutdown(false) }

func (s *Signal) shutdown(bye bool) {
	s.closeOnce.Do(func() {
		if bye && s.Err() == nil {
			_ = s.Send(protocol.Message{Type: protocol.TypeBye, Reason: "bye"})
		}
		s.end(ErrClosed)
		close(s.closing)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		// A clean close lets the server tell a leave from a network failure;
		// the reader sees its close frame and ends.
		select {
		case <-s.readDone:
		case <-time.After(closeWait):
		}
		s.conn.Close()
	})
	s.wg.Wait()
}

// end records why the session ended; the first reason wins.
func (s *Signal) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *Signal) readLoop() {
	defer s.wg.Done()
	defer close(s.readDone)
	defer close(s.msgs)
	for {
		s.conn.SetReadDeadline(time.Now().Add(readTimeout))
		_, raw, err := s.conn.ReadMessage()
		if err != nil {
			s.end(s.readError(err))
			s.conn.Close()
			return
		}
		m, err := decodeFromServer(raw)
		if err != nil {
			// A server we cannot understand is a version mismatch or a bug;
			// guessing past it would only hide the cause.
			s.end(err)
			s.conn.Close()
			return
		}
		s.remember(m)
		select {
		case s.msgs <- m:
		case <-s.closing:
			// The owner is gone; keep reading until the close frame.
		}
	}
}

// remember keeps an error or closing message that may explain the close
// which follows it.
func (s *Signal) remember(m protocol.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Type == protocol.TypeError || m.Type == protocol.TypeClosing {
		s.last = &m
	} else {
		s.last = nil
	}
}

// readError explains a failed read: the close frame's reason text is the
// code (room_full, replaced…); an error or closing message just before it
// supplies the human message, or the code when the close frame has none.
func (s *Signal) readError(err error) error {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	var lastErr *SignalError
	switch {
	case last == nil:
	case last.Type == protocol.TypeError && last.Error != nil:
		lastErr = &SignalError{Code: last.Error.Code, Message: last.Error.Message}
	case last.Type == protocol.TypeClosing:
		lastErr = &SignalError{Code: last.Reason, Message: "server closed the session"}
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Text != "" {
		if lastErr != nil && lastErr.Code == ce.Text {
			return lastErr
		}
		return &SignalError{Code: ce.Text, Message: fmt.Sprintf("connection closed (%d)", ce.Code)}
	}
	if lastErr != nil && lastErr.Code != "" {
		return lastErr
	}
	return fmt.Errorf("signal: read: %w", err)
}

func (s *Signal) keepalive() {
	defer s.wg.Done()
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if s.Send(protocol.Message{Type: protocol.TypePing}) != nil {
				return
			}
		case <-s.closing:
			return
		case <-s.readDone:
			return
		}
	}
}
