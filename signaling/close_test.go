package signaling_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/signaling"
)

// A client that floods without reading still learns why it was cut off:
// the server sends the error and the close frame and reads on for a moment,
// so its kernel does not answer the unread flood with a reset that would
// destroy both. One round can pass by luck; twenty in a row do not.
func TestFloodingClientLearnsWhyItWasClosed(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // runs after the server stops
	s := testutil.StartServer(t, func(c *server.Config) {
		c.Signaling = signaling.Limits{Rate: 20, Burst: 20, MaxViolations: 30}
	})
	room := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	ping := []byte(`{"type":"ping"}`)
	for round := 0; round < 20; round++ {
		guest, _ := connect(t, s, room.Participants[1].Token)
		host.expect(protocol.TypePeerJoined)
		// 20 pass, 30 are dropped, the 51st closes; the rest arrive
		// after the close, unread by the session.
		for i := 0; i < 300; i++ {
			if guest.conn.WriteMessage(websocket.TextMessage, ping) != nil {
				break // the server reset the connection
			}
		}
		guest.expectErrorSkipping(protocol.CodeRateLimited)
		guest.expectClose(websocket.ClosePolicyViolation, protocol.CodeRateLimited)
		guest.conn.Close()
		if left := host.expect(protocol.TypePeerLeft); left.Reason != protocol.CodeRateLimited {
			t.Fatalf("round %d: peer-left reason %q", round, left.Reason)
		}
	}
	host.alive()
}

// An oversized message is answered with a close naming the limit, 1009
// too_large, even when the client goes on sending.
func TestOversizedMessageClosesWithTooLarge(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	big := []byte(`{"type":"offer","to":"x","sdp":"` + strings.Repeat("a", protocol.MaxMessageBytes) + `"}`)
	for round := 0; round < 20; round++ {
		guest, _ := connect(t, s, room.Participants[1].Token)
		host.expect(protocol.TypePeerJoined)
		for i := 0; i < 3; i++ {
			if guest.conn.WriteMessage(websocket.TextMessage, big) != nil {
				break
			}
		}
		guest.expectClose(websocket.CloseMessageTooBig, protocol.CodeTooLarge)
		guest.conn.Close()
		if left := host.expect(protocol.TypePeerLeft); left.Reason != protocol.CodeTooLarge {
			t.Fatalf("round %d: peer-left reason %q", round, left.Reason)
		}
	}
	host.alive()

	// A first message over the limit, before hello, is closed the same way.
	c := dial(t, join(t, s, room.Participants[1].Token))
	c.sendRaw(big)
	c.expectClose(websocket.CloseMessageTooBig, protocol.CodeTooLarge)
}

// expectErrorSkipping reads until an error message with code, skipping
// anything else (the pongs of the messages that were let through).
func (c *wsClient) expectErrorSkipping(code string) {
	c.t.Helper()
	for {
		m, err := c.next()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.t.Fatalf("closed with %d %q before error %s", ce.Code, ce.Text, code)
			}
			c.t.Fatalf("connection ended with %v before error %s", err, code)
		}
		if m.Type == protocol.TypeError && m.Error != nil && m.Error.Code == code {
			return
		}
	}
}

// The server's reading on after a close cannot be used to keep a socket
// open: a client that goes on sending is cut off after Limits.LingerBytes,
// and one that neither sends nor closes after Limits.Linger.
func TestLingerAfterCloseIsBounded(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	big := []byte(`{"type":"offer","to":"x","sdp":"` + strings.Repeat("a", protocol.MaxMessageBytes) + `"}`)

	t.Run("bytes", func(t *testing.T) {
		s := testutil.StartServer(t, func(c *server.Config) {
			c.Signaling = signaling.Limits{Linger: time.Hour, LingerBytes: 64 << 10}
		})
		room := s.CreateRoom(t, 2, "host", "guest")
		c, _ := connect(t, s, room.Participants[0].Token)
		c.sendRaw(big)
		c.expectClose(websocket.CloseMessageTooBig, protocol.CodeTooLarge)
		// Having answered the close, gorilla writes no more; the raw
		// socket still can.
		raw := c.conn.NetConn()
		raw.SetWriteDeadline(time.Time{}) // gorilla's, from its close answer
		junk := make([]byte, 4096)
		sent := 0
		for ; sent < 64<<20; sent += len(junk) {
			if _, err := raw.Write(junk); err != nil {
				return // cut off
			}
		}
		t.Fatalf("the server still read after %d bytes sent past its close", sent)
	})

	t.Run("time", func(t *testing.T) {
		s := testutil.StartServer(t, func(c *server.Config) {
			c.Signaling = signaling.Limits{Linger: 50 * time.Millisecond, LingerBytes: 1 << 30}
		})
		room := s.CreateRoom(t, 2, "host", "guest")
		c, _ := connect(t, s, room.Participants[0].Token)
		c.sendRaw(big)
		c.expectClose(websocket.CloseMessageTooBig, protocol.CodeTooLarge)
		// The client neither closes nor floods; a write now and then
		// fails once the server has closed the socket.
		raw := c.conn.NetConn()
		raw.SetWriteDeadline(time.Time{}) // gorilla's, from its close answer
		deadline := time.Now().Add(10 * time.Second)
		for _, err := raw.Write([]byte{0}); err == nil; _, err = raw.Write([]byte{0}) {
			if time.Now().After(deadline) {
				t.Fatal("the socket is still open 10 s after the close frame")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
