package server_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
)

// Shutdown with live signaling sessions tells each client and leaves no
// goroutine behind.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	var conns []*websocket.Conn
	for _, p := range room.Participants {
		var j protocol.JoinResponse
		s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: p.Token}, &j)
		c, _, err := websocket.DefaultDialer.Dial(j.WebSocketURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hello, _ := json.Marshal(protocol.Message{Type: protocol.TypeHello, V: protocol.Version, Token: j.SessionToken})
		c.WriteMessage(websocket.TextMessage, hello)
		conns = append(conns, c)
	}
	// Wait until both are welcomed, so shutdown meets live sessions.
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m protocol.Message
		if err := c.ReadJSON(&m); err != nil || m.Type != protocol.TypeWelcome {
			t.Fatalf("welcome: %+v %v", m, err)
		}
	}
	s.Stop(t)
	for _, c := range conns {
		sawClosing := false
		for {
			var m protocol.Message
			if err := c.ReadJSON(&m); err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Errorf("session ended with %v, want going away", err)
				}
				break
			}
			sawClosing = sawClosing || (m.Type == protocol.TypeClosing && m.Reason == protocol.CodeServerShutdown)
		}
		if !sawClosing {
			t.Error("no closing message before shutdown")
		}
		c.Close()
	}
	http := &net.Dialer{Timeout: time.Second}
	if c, err := http.DialContext(context.Background(), "tcp", s.URL[len("http://"):]); err == nil {
		c.Close()
		t.Error("server still accepts connections after shutdown")
	}
}

// A store already open by a running server is refused with a clear error
// instead of a hang.
func TestSecondServerOnSameStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	s1, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Bootstrap == nil || s1.Bootstrap.AdminKey == "" {
		t.Fatal("first start created no admin key")
	}
	if _, err := server.New(context.Background(), server.Config{DataDir: dir}); err == nil {
		t.Fatal("second server on the same store started")
	}
	if err := s1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(context.Background())
	if s2.Bootstrap != nil {
		t.Error("second start created keys again")
	}
}
