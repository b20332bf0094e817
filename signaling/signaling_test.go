package signaling_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/signaling"
)

// wsClient is a bare protocol client: it speaks JSON frames and nothing else,
// so tests can send what a well-behaved SDK never would.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func join(t *testing.T, s *testutil.Server, token string) protocol.JoinResponse {
	t.Helper()
	var j protocol.JoinResponse
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: token}, &j); code != 200 {
		t.Fatalf("join: HTTP %d", code)
	}
	return j
}

func dial(t *testing.T, j protocol.JoinResponse) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(j.WebSocketURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

// connect joins and says hello, and returns the client after its welcome.
func connect(t *testing.T, s *testutil.Server, token string) (*wsClient, protocol.Message) {
	t.Helper()
	j := join(t, s, token)
	c := dial(t, j)
	c.hello(j.SessionToken)
	w := c.expect(protocol.TypeWelcome)
	return c, w
}

func (c *wsClient) hello(token string) {
	c.send(protocol.Message{Type: protocol.TypeHello, V: protocol.Version, Token: token})
}

func (c *wsClient) send(m protocol.Message) {
	c.t.Helper()
	raw, _ := json.Marshal(m)
	c.sendRaw(raw)
}

func (c *wsClient) sendRaw(raw []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, raw); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads one message, or returns the error that ended the connection.
func (c *wsClient) next() (protocol.Message, error) {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, raw, err := c.conn.ReadMessage()
	if err != nil {
		return protocol.Message{}, err
	}
	var m protocol.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q", raw)
	}
	return m, nil
}

// expect reads messages until one of type typ, skipping pongs.
func (c *wsClient) expect(typ string) protocol.Message {
	c.t.Helper()
	for {
		m, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
		if m.Type != protocol.TypePong {
			c.t.Fatalf("waiting for %s, got %+v", typ, m)
		}
	}
}

func (c *wsClient) expectError(code string) {
	c.t.Helper()
	m := c.expect(protocol.TypeError)
	if m.Error == nil || m.Error.Code != code {
		c.t.Fatalf("error %+v, want %s", m.Error, code)
	}
}

// expectClose reads until the server closes, and checks code and reason.
func (c *wsClient) expectClose(code int, reason string) {
	c.t.Helper()
	for {
		_, err := c.next()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, want close %d %q", err, code, reason)
		}
		if ce.Code != code || ce.Text != reason {
			c.t.Fatalf("close %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return
	}
}

// alive proves the session still works: ping gets pong.
func (c *wsClient) alive() {
	c.t.Helper()
	c.send(protocol.Message{Type: protocol.TypePing})
	c.expect(protocol.TypePong)
}

func TestHelloFirst(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	j := join(t, s, room.Participants[0].Token)

	c := dial(t, j)
	c.send(protocol.Message{Type: protocol.TypePing})
	c.expectError(protocol.CodeHelloExpected)
	c.expectClose(websocket.ClosePolicyViolation, protocol.CodeHelloExpected)

	c = dial(t, j)
	c.hello(j.SessionToken + "x")
	c.expectError(protocol.CodeUnauthorized)
	c.expectClose(websocket.ClosePolicyViolation, protocol.CodeUnauthorized)

	c = dial(t, j)
	c.hello(j.SessionToken)
	w := c.expect(protocol.TypeWelcome)
	if w.V != protocol.Version || w.Self.ID != j.ParticipantID || w.RoomID != room.ID || len(w.Peers) != 0 || w.WindowEndsAt == nil {
		t.Errorf("welcome %+v", w)
	}
}

func TestRelayBetweenPeers(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	guest, w := connect(t, s, room.Participants[1].Token)
	if len(w.Peers) != 1 || w.Peers[0].ID != room.Participants[0].ID || w.Peers[0].Role != "host" {
		t.Fatalf("guest's welcome peers %+v", w.Peers)
	}
	pj := host.expect(protocol.TypePeerJoined)
	if pj.Peer.ID != room.Participants[1].ID || pj.Peer.Reconnect {
		t.Fatalf("peer-joined %+v", pj.Peer)
	}
	hostID := room.Participants[0].ID
	guest.send(protocol.Message{Type: protocol.TypeOffer, To: hostID, SDP: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"})
	got := host.expect(protocol.TypeOffer)
	if got.From != room.Participants[1].ID || got.SDP != "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" || got.To != "" {
		t.Errorf("relayed offer %+v", got)
	}
	guest.send(protocol.Message{Type: protocol.TypeMeta, To: hostID, Data: "c2VjcmV0"})
	if got := host.expect(protocol.TypeMeta); got.Data != "c2VjcmV0" {
		t.Errorf("meta %+v", got)
	}
	guest.send(protocol.Message{Type: protocol.TypeOffer, To: "nobody", SDP: "v=0"})
	guest.expectError(protocol.CodeUnknownPeer)

	guest.send(protocol.Message{Type: protocol.TypeBye})
	left := host.expect(protocol.TypePeerLeft)
	if left.Peer.ID != room.Participants[1].ID || left.Reason != "bye" {
		t.Errorf("peer-left %+v", left)
	}
}

// Each kind of bad message gets its answer, and neither the other peer nor
// another room notices.
func TestBadMessagesHurtOnlyTheSender(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.Signaling = signaling.Limits{Rate: 20, Burst: 20, MaxViolations: 30}
	})
	room := s.CreateRoom(t, 2, "host", "guest")
	other := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	guest, _ := connect(t, s, room.Participants[1].Token)
	host.expect(protocol.TypePeerJoined)
	bystander, _ := connect(t, s, other.Participants[0].Token)

	guest.sendRaw([]byte(`{"type":"offer",`))
	guest.expectError(protocol.CodeMalformed)
	guest.sendRaw([]byte(`{"type":"teleport"}`))
	guest.expectError(protocol.CodeUnknownType)
	guest.sendRaw([]byte(`{"type":"offer","to":"x"}`))
	guest.expectError(protocol.CodeInvalid)
	guest.alive()

	// A flood: the sender is told to slow down...
	for i := 0; i < 25; i++ {
		guest.send(protocol.Message{Type: protocol.TypePing})
	}
	for {
		m, err := guest.next()
		if err != nil {
			t.Fatalf("no rate_limited error: %v", err)
		}
		if m.Type == protocol.TypeError && m.Error.Code == protocol.CodeRateLimited {
			break
		}
	}
	// ...and closed when it goes on.
	for i := 0; i < 80; i++ {
		if guest.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
			break // closed by the server mid-flood
		}
	}
	for {
		_, err := guest.next()
		if err == nil {
			continue
		}
		// The server closes with 1008 rate_limited and reads on, so no
		// reset overtakes the close frame.
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != protocol.CodeRateLimited {
			t.Fatalf("flood ended with %v", err)
		}
		break
	}
	if left := host.expect(protocol.TypePeerLeft); left.Reason != protocol.CodeRateLimited {
		t.Errorf("peer-left reason %q", left.Reason)
	}
	host.alive()
	bystander.alive()

	// An oversized message closes the sender with 1009.
	guest2, _ := connect(t, s, room.Participants[1].Token)
	host.expect(protocol.TypePeerJoined)
	guest2.sendRaw([]byte(`{"type":"offer","to":"x","sdp":"` + strings.Repeat("a", protocol.MaxMessageBytes) + `"}`))
	guest2.expectClose(websocket.CloseMessageTooBig, protocol.CodeTooLarge)
	host.expect(protocol.TypePeerLeft)
	host.alive()
	bystander.alive()
}

func TestReconnectReplacesOldSession(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	guestOld, _ := connect(t, s, room.Participants[1].Token)
	host.expect(protocol.TypePeerJoined)

	guestNew, w := connect(t, s, room.Participants[1].Token)
	if len(w.Peers) != 1 {
		t.Fatalf("new session's peers %+v", w.Peers)
	}
	guestOld.expectError(protocol.CodeReplaced)
	guestOld.expectClose(websocket.ClosePolicyViolation, protocol.CodeReplaced)
	pj := host.expect(protocol.TypePeerJoined)
	if !pj.Peer.Reconnect {
		t.Errorf("peer-joined %+v lacks reconnect", pj.Peer)
	}
	// The host hears no peer-left for the replaced session, and relays
	// reach the new one.
	host.send(protocol.Message{Type: protocol.TypeOffer, To: room.Participants[1].ID, SDP: "v=0 restart"})
	if got := guestNew.expect(protocol.TypeOffer); got.SDP != "v=0 restart" {
		t.Errorf("offer %+v", got)
	}
}

func TestRoomFullAtConnect(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest", "guest")
	// The third participant joined while the room was empty...
	late := join(t, s, room.Participants[2].Token)
	connect(t, s, room.Participants[0].Token)
	connect(t, s, room.Participants[1].Token)
	// ...and is refused when it connects to a full room.
	c := dial(t, late)
	c.hello(late.SessionToken)
	c.expectError(protocol.CodeRoomFull)
	c.expectClose(websocket.ClosePolicyViolation, protocol.CodeRoomFull)
	var e protocol.ErrorBody
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[2].Token}, &e); code != 409 || e.Error.Code != "room_full" {
		t.Errorf("join of a full room: %d %+v", code, e)
	}
}

func TestRoomDeletionAndWindowEndCloseSessions(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	host, _ := connect(t, s, room.Participants[0].Token)
	if code := s.Do(t, "DELETE", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if m := host.expect(protocol.TypeClosing); m.Reason != protocol.CodeRoomDeleted {
		t.Errorf("closing %+v", m)
	}
	host.expectClose(websocket.CloseNormalClosure, protocol.CodeRoomDeleted)

	// A window that ends a second from now closes the session then.
	start := s.Clock.Now().Add(-24*time.Hour + time.Second)
	var short protocol.Room
	s.Do(t, "POST", "/api/v1/rooms", s.TenantKey, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host"}},
	}, &short)
	c, _ := connect(t, s, short.Participants[0].Token)
	if m := c.expect(protocol.TypeClosing); m.Reason != protocol.CodeRoomClosed {
		t.Errorf("closing %+v", m)
	}
	c.expectClose(websocket.CloseNormalClosure, protocol.CodeRoomClosed)
}

// A client that stops reading is closed once its queue fills; the sender is
// never held up, and deleting the room does not wait for the stuck client.
func TestSlowConsumerIsClosedNotWaitedFor(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.Signaling = signaling.Limits{Rate: 1e6, Burst: 1e6, SendQueue: 8}
	})
	room := s.CreateRoom(t, 2, "host", "guest")
	stuck, _ := connect(t, s, room.Participants[0].Token) // never reads again
	sender, _ := connect(t, s, room.Participants[1].Token)
	data := strings.Repeat("A", 8000)
	deadline := time.Now().Add(20 * time.Second)
	var left protocol.Message
	for left.Type == "" {
		if time.Now().After(deadline) {
			t.Fatal("the stuck client was never closed")
		}
		sender.send(protocol.Message{Type: protocol.TypeMeta, To: room.Participants[0].ID, Data: data})
		sender.send(protocol.Message{Type: protocol.TypePing})
		for {
			m, err := sender.next()
			if err != nil {
				t.Fatalf("sender: %v", err)
			}
			if m.Type == protocol.TypePeerLeft {
				left = m
			}
			if m.Type == protocol.TypePong {
				break
			}
		}
	}
	if left.Reason != protocol.CodeSlowConsumer {
		t.Errorf("peer-left reason %q", left.Reason)
	}
	_ = stuck
	sender.alive()
	if code := s.Do(t, "DELETE", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
}

func TestHelloTimeout(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.Signaling = signaling.Limits{HelloTimeout: 200 * time.Millisecond}
	})
	room := s.CreateRoom(t, 2, "host", "guest")
	c := dial(t, join(t, s, room.Participants[0].Token))
	c.expectError(protocol.CodeHelloExpected)
	c.expectClose(websocket.ClosePolicyViolation, protocol.CodeHelloExpected)
}
