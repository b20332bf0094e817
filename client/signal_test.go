package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/protocol"
)

// wsTestServer serves handler on every WebSocket connection. stop closes
// the server and waits for the handlers, which must return once the
// client has gone.
func wsTestServer(handler func(*websocket.Conn)) (url string, stop func()) {
	var wg sync.WaitGroup
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		handler(conn)
	}))
	return "ws" + strings.TrimPrefix(srv.URL, "http"), func() { srv.Close(); wg.Wait() }
}

func readMsg(conn *websocket.Conn) (protocol.Message, error) {
	_, raw, err := conn.ReadMessage()
	if err != nil {
		return protocol.Message{}, err
	}
	return protocol.Decode(raw)
}

func writeMsg(conn *websocket.Conn, m protocol.Message) {
	raw, _ := json.Marshal(m)
	conn.WriteMessage(websocket.TextMessage, raw)
}

func closeWith(conn *websocket.Conn, reason string) {
	conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.ClosePolicyViolation, reason), time.Now().Add(time.Second))
}

func welcomeFor(id string, peers ...protocol.Peer) protocol.Message {
	return protocol.Message{Type: protocol.TypeWelcome, V: protocol.Version,
		Self: &protocol.Peer{ID: id, Role: protocol.RoleHost}, Peers: peers, RoomID: "r1", Mode: protocol.ModeP2P}
}

// next receives one message or fails after a few seconds.
func next(t *testing.T, ch <-chan protocol.Message) (protocol.Message, bool) {
	t.Helper()
	select {
	case m, ok := <-ch:
		return m, ok
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
		return protocol.Message{}, false
	}
}

func TestSignalHelloWelcomeEcho(t *testing.T) {
	defer goleak.VerifyNone(t)
	first := make(chan protocol.Message, 1)
	byeSeen := make(chan string, 1)
	url, stop := wsTestServer(func(conn *websocket.Conn) {
		hello, err := readMsg(conn)
		first <- hello
		if err != nil {
			return
		}
		writeMsg(conn, welcomeFor("p1", protocol.Peer{ID: "p2", Role: protocol.RoleGuest}))
		for {
			m, err := readMsg(conn)
			if err != nil {
				return
			}
			switch m.Type {
			case protocol.TypePing:
				writeMsg(conn, protocol.Message{Type: protocol.TypePong})
			case protocol.TypeBye:
				byeSeen <- m.Reason
			default:
				m.From, m.To = m.To, ""
				writeMsg(conn, m)
			}
		}
	})
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := DialSignal(ctx, url, "session-token")
	if err != nil {
		t.Fatalf("DialSignal: %v", err)
	}
	if hello := <-first; hello.Type != protocol.TypeHello || hello.V != protocol.Version || hello.Token != "session-token" {
		t.Errorf("first message = %+v, want hello v1 with the token", hello)
	}
	w := s.Welcome()
	if w.Self.ID != "p1" || len(w.Peers) != 1 || w.Peers[0].ID != "p2" || w.RoomID != "r1" {
		t.Errorf("welcome = %+v", w)
	}

	if err := s.Send(protocol.Message{Type: protocol.TypeMeta, To: "p2", Data: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m, _ := next(t, s.Messages()); m.Type != protocol.TypeMeta || m.From != "p2" || m.Data != "hi" {
		t.Errorf("echo = %+v", m)
	}
	if err := s.Send(protocol.Message{Type: protocol.TypePing}); err != nil {
		t.Fatalf("Send ping: %v", err)
	}
	if m, _ := next(t, s.Messages()); m.Type != protocol.TypePong {
		t.Errorf("answer to ping = %+v", m)
	}

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-byeSeen:
	case <-time.After(time.Second):
		t.Error("server saw no bye")
	}
	if _, ok := next(t, s.Messages()); ok {
		t.Error("Messages still open after Close")
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed", s.Err())
	}
	if err := s.Send(protocol.Message{Type: protocol.TypePing}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	s.Close() // idempotent
}

func TestSignalRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		name     string
		answer   func(*websocket.Conn)
		wantCode string
		wantMsg  string
		wantErr  string
	}{
		{
			name: "error then close",
			answer: func(c *websocket.Conn) {
				writeMsg(c, protocol.Message{Type: protocol.TypeError,
					Error: &protocol.ErrorInfo{Code: protocol.CodeRoomFull, Message: "the room is full"}})
				closeWith(c, protocol.CodeRoomFull)
			},
			wantCode: protocol.CodeRoomFull, wantMsg: "the room is full",
		},
		{
			name:     "close reason only",
			answer:   func(c *websocket.Conn) { closeWith(c, protocol.CodeUnauthorized) },
			wantCode: protocol.CodeUnauthorized,
		},
		{
			name:    "something other than welcome",
			answer:  func(c *websocket.Conn) { writeMsg(c, protocol.Message{Type: protocol.TypePong}) },
			wantErr: `expected welcome, got "pong"`,
		},
		{
			name: "wrong version",
			answer: func(c *websocket.Conn) {
				w := welcomeFor("p1")
				w.V = 2
				writeMsg(c, w)
			},
			wantErr: "version 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, stop := wsTestServer(func(conn *websocket.Conn) {
				if _, err := readMsg(conn); err != nil {
					return
				}
				tt.answer(conn)
				for { // until the client hangs up
					if _, _, err := conn.ReadMessage(); err != nil {
						return
					}
				}
			})
			defer stop()
			s, err := DialSignal(context.Background(), url, "t")
			if err == nil {
				s.Close()
				t.Fatal("DialSignal succeeded")
			}
			if tt.wantErr != "" {
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			var se *SignalError
			if !errors.As(err, &se) || se.Code != tt.wantCode || (tt.wantMsg != "" && se.Message != tt.wantMsg) {
				t.Errorf("error = %#v, want *SignalError{%q, %q}", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestSignalUpgradeRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"room_closed","message":"the room is closed"}}`))
	}))
	defer srv.Close()
	_, err := DialSignal(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "t")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !IsCode(err, "room_closed") {
		t.Errorf("error = %v, want *APIError 403 room_closed", err)
	}
}

func TestSignalEndedByServer(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		name     string
		end      func(*websocket.Conn)
		wantType string // last message before Messages closes
		wantCode string
	}{
		{
			name: "replaced",
			end: func(c *websocket.Conn) {
				writeMsg(c, protocol.Message{Type: protocol.TypeError,
					Error: &protocol.ErrorInfo{Code: protocol.CodeReplaced, Message: "joined elsewhere"}})
				closeWith(c, protocol.CodeReplaced)
			},
			wantType: protocol.TypeError, wantCode: protocol.CodeReplaced,
		},
		{
			name: "closing then a close without reason",
			end: func(c *websocket.Conn) {
				writeMsg(c, protocol.Message{Type: protocol.TypeClosing, Reason: protocol.CodeRoomDeleted})
				c.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			},
			wantType: protocol.TypeClosing, wantCode: protocol.CodeRoomDeleted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, stop := wsTestServer(func(conn *websocket.Conn) {
				if _, err := readMsg(conn); err != nil {
					return
				}
				writeMsg(conn, welcomeFor("p1"))
				tt.end(conn)
				for {
					if _, _, err := conn.ReadMessage(); err != nil {
						return
					}
				}
			})
			defer stop()
			s, err := DialSignal(context.Background(), url, "t")
			if err != nil {
				t.Fatalf("DialSignal: %v", err)
			}
			defer s.Close()
			var last protocol.Message
			for {
				m, ok := next(t, s.Messages())
				if !ok {
					break
				}
				last = m
			}
			if last.Type != tt.wantType {
				t.Errorf("last message %q, want %q", last.Type, tt.wantType)
			}
			if !IsCode(s.Err(), tt.wantCode) {
				t.Errorf("Err = %v, want code %q", s.Err(), tt.wantCode)
			}
		})
	}
}

func TestSignalLimitsAndStalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	url, stop := wsTestServer(func(conn *websocket.Conn) {
		if _, err := readMsg(conn); err != nil {
			return
		}
		writeMsg(conn, welcomeFor("p1"))
		// More than the client buffers, to a client that does not read.
		for i := 0; i < 3*messageBuffer; i++ {
			writeMsg(conn, protocol.Message{Type: protocol.TypePong})
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	defer stop()
	s, err := DialSignal(context.Background(), url, "t")
	if err != nil {
		t.Fatalf("DialSignal: %v", err)
	}
	big := protocol.Message{Type: protocol.TypeMeta, To: "p2", Data: strings.Repeat("x", protocol.MaxMessageBytes)}
	if err := s.Send(big); !errors.Is(err, protocol.ErrTooLarge) {
		t.Errorf("Send of %d bytes = %v, want ErrTooLarge", len(big.Data), err)
	}
	// Close must not hang on the reader blocked in delivery.
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs while nobody reads Messages")
	}
}

func TestSignalHandshakeCancelled(t *testing.T) {
	defer goleak.VerifyNone(t)
	url, stop := wsTestServer(func(conn *websocket.Conn) {
		for { // never answers hello
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	})
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := DialSignal(ctx, url, "t")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DialSignal = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("DialSignal returned after %v", d)
	}
}
