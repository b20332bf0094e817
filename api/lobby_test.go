package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// wsPeer is a participant's signaling session.
type wsPeer struct {
	t    *testing.T
	conn *websocket.Conn
}

// connect joins with a link token and says hello; the first answer is
// returned (welcome, or lobby in a waiting room).
func connect(t *testing.T, s *testutil.Server, token string) (*wsPeer, protocol.Message) {
	t.Helper()
	var j protocol.JoinResponse
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: token}, &j); code != 200 {
		t.Fatalf("join: %d", code)
	}
	conn, _, err := websocket.DefaultDialer.Dial(j.WebSocketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &wsPeer{t: t, conn: conn}
	p.send(protocol.Message{Type: protocol.TypeHello, V: protocol.Version, Token: j.SessionToken})
	return p, p.next()
}

func (p *wsPeer) send(m protocol.Message) {
	p.t.Helper()
	if err := p.conn.WriteJSON(m); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next message other than pong, within 5 s.
func (p *wsPeer) next() protocol.Message {
	p.t.Helper()
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m protocol.Message
		if err := p.conn.ReadJSON(&m); err != nil {
			p.t.Fatalf("read: %v", err)
		}
		if m.Type != protocol.TypePong {
			return m
		}
	}
}

// closed reads until the close frame and returns its reason.
func (p *wsPeer) closed() string {
	p.t.Helper()
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := p.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if ok := asCloseError(err, &ce); ok {
				return ce.Text
			}
			p.t.Fatalf("read until close: %v", err)
		}
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	c, ok := err.(*websocket.CloseError)
	if ok {
		*ce = c
	}
	return ok
}

func TestWaitingRoom(t *testing.T) {
	s := testutil.StartServer(t)
	doc, sess, _ := setUp(t, s, s.SetupToken, "anna.berg@praxis.example", "Dr. Anna Berg")
	day := s.Clock.Now().UTC().Format("2006-01-02")
	var c practice.CreatedAppointment
	if code := doc.do("POST", "/appointments", practice.AppointmentRequest{HolderID: sess.User.ID, Kind: "conference", Invitees: 2,
		Window: protocol.WindowRequest{Day: day, TimeZone: "UTC"}}, &c); code != 201 {
		t.Fatalf("create: %d", code)
	}
	id := c.Appointment.ID
	host, guest1, guest2 := c.Participants[0], c.Participants[1], c.Participants[2]

	// The workspace's live stream.
	events := openEvents(t, s, doc)

	g1, first := connect(t, s, guest1.Token)
	if first.Type != protocol.TypeLobby || first.Host == nil || first.Host.Name != "Dr. Anna Berg" || first.Host.Status != protocol.HostOnline {
		t.Fatalf("guest's first message %+v (host %+v), want lobby with Dr. Anna Berg online (her workspace is open)", first, first.Host)
	}
	events.waitFor(t, "guest 1 waiting", func(ev api.LobbyEvent) bool {
		return ev.AppointmentID == id && len(ev.Waiting) == 1 && ev.Waiting[0].ParticipantID == guest1.ID
	})
	// A waiting guest is nobody's peer and relays nothing.
	g1.send(protocol.Message{Type: protocol.TypeOffer, To: host.ID, SDP: "v=0"})
	if m := g1.next(); m.Type != protocol.TypeError || m.Error.Code != protocol.CodeNotAdmitted {
		t.Fatalf("offer while waiting: %+v", m)
	}
	ok := true
	g1.send(protocol.Message{Type: protocol.TypeCheck, OK: &ok})
	events.waitFor(t, "device check shown", func(ev api.LobbyEvent) bool {
		return ev.AppointmentID == id && len(ev.Waiting) == 1 && ev.Waiting[0].Check == "ok"
	})

	// The host never waits, and does not see the waiting guest.
	h, hw := connect(t, s, host.Token)
	if hw.Type != protocol.TypeWelcome || len(hw.Peers) != 0 {
		t.Fatalf("host: %+v", hw)
	}

	// No admission without the CSRF token, and only of the room's guests.
	b := *doc
	b.t, b.csrf = t, ""
	b.errCode("POST", "/appointments/"+id+"/admit", map[string]string{"participant_id": guest1.ID}, 403)
	doc.errCode("POST", "/appointments/"+id+"/admit", map[string]string{"participant_id": host.ID}, 404)

	var lb api.LobbyEvent
	if code := doc.do("POST", "/appointments/"+id+"/admit", map[string]string{"participant_id": guest1.ID}, &lb); code != 200 {
		t.Fatalf("admit: %d", code)
	}
	if w := g1.next(); w.Type != protocol.TypeWelcome || len(w.Peers) != 1 || w.Peers[0].ID != host.ID {
		t.Fatalf("admitted guest: %+v", w)
	}
	if m := h.next(); m.Type != protocol.TypePeerJoined || m.Peer.ID != guest1.ID {
		t.Fatalf("host after admission: %+v", m)
	}
	events.waitFor(t, "guest 1 present", func(ev api.LobbyEvent) bool {
		return ev.AppointmentID == id && len(ev.Waiting) == 0 && len(ev.Present) == 2
	})

	// Declined with a message.
	g2, lobby2 := connect(t, s, guest2.Token)
	if lobby2.Type != protocol.TypeLobby || lobby2.Host.Status != protocol.HostOnline {
		t.Fatalf("guest 2: %+v", lobby2)
	}
	doc.errCode("POST", "/appointments/"+id+"/decline", map[string]string{"participant_id": guest2.ID, "text": strings.Repeat("x", protocol.MaxTextBytes+1)}, 400)
	doc.do("POST", "/appointments/"+id+"/decline", map[string]string{"participant_id": guest2.ID, "text": "Bitte rufen Sie in der Praxis an."}, nil)
	if m := g2.next(); m.Type != protocol.TypeClosing || m.Reason != protocol.ReasonDeclined || m.Text != "Bitte rufen Sie in der Praxis an." {
		t.Fatalf("declined guest: %+v", m)
	}
	if r := g2.closed(); r != protocol.ReasonDeclined {
		t.Errorf("close reason %q", r)
	}

	// Sent back: the session closes, the host sees peer-left, and the
	// guest's next session waits again.
	doc.do("POST", "/appointments/"+id+"/send-back", map[string]string{"participant_id": guest1.ID}, nil)
	if m := g1.next(); m.Type != protocol.TypeClosing || m.Reason != protocol.ReasonSentBack {
		t.Fatalf("sent back: %+v", m)
	}
	if m := h.next(); m.Type != protocol.TypePeerLeft || m.Peer.ID != guest1.ID || m.Reason != protocol.ReasonSentBack {
		t.Fatalf("host after send-back: %+v", m)
	}
	_, again := connect(t, s, guest1.Token)
	if again.Type != protocol.TypeLobby {
		t.Fatalf("guest after send-back: %+v, want lobby", again)
	}
	// Admitting a guest who does not wait (a stale list) admits nobody
	// ahead: guest 2, declined and gone, would wait again.
	doc.errCode("POST", "/appointments/"+id+"/admit", map[string]string{"participant_id": guest2.ID}, 404)
	g2b, g2again := connect(t, s, guest2.Token)
	if g2again.Type != protocol.TypeLobby {
		t.Fatalf("guest 2 after a stale admit: %+v, want lobby", g2again)
	}
	// The host leaves the call and closes the workspace: the waiting
	// guest hears at once that she is away.
	h.send(protocol.Message{Type: protocol.TypeBye})
	events.waitFor(t, "host gone", func(ev api.LobbyEvent) bool {
		return ev.AppointmentID == id && !slices.Contains(ev.Present, host.ID)
	})
	events.close()
	if m := g2b.next(); m.Type != protocol.TypeLobby || m.Host.Status != protocol.HostAway {
		t.Fatalf("guest 2 after the workspace closed: %+v (host %+v), want lobby away", m, m.Host)
	}
	events = openEvents(t, s, doc)
	if m := g2b.next(); m.Type != protocol.TypeLobby || m.Host.Status != protocol.HostOnline {
		t.Fatalf("guest 2 after the workspace opened again: %+v (host %+v), want lobby online", m, m.Host)
	}
	// Admit all.
	doc.do("POST", "/appointments/"+id+"/admit", map[string]bool{"all": true}, &lb)
	if len(lb.Waiting) != 0 || len(lb.Present) != 2 {
		t.Errorf("after admit all: %+v", lb)
	}
}

// eventStream reads the workspace's Server-Sent Events.
type eventStream struct {
	ch      chan api.LobbyEvent
	devices chan api.DeviceEvent
	close   context.CancelFunc
	// ended is closed when the server ends the stream.
	ended chan struct{}
}

func openEvents(t *testing.T, s *testutil.Server, b *browser) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/practice/events", nil)
	c := *b.c
	c.Timeout = 0
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	es := &eventStream{ch: make(chan api.LobbyEvent, 64), devices: make(chan api.DeviceEvent, 64), close: cancel, ended: make(chan struct{})}
	go func() {
		defer close(es.ended)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		name := ""
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = n
				continue
			}
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			switch name {
			case "lobby":
				var ev api.LobbyEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					es.ch <- ev
				}
			case "device":
				var ev api.DeviceEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					es.devices <- ev
				}
			}
		}
	}()
	return es
}

func (es *eventStream) waitFor(t *testing.T, what string, ok func(api.LobbyEvent) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var last api.LobbyEvent
	for {
		select {
		case ev := <-es.ch:
			if ok(ev) {
				return
			}
			last = ev
		case <-deadline:
			t.Fatalf("%s: no such event in 5 s; last %+v", what, last)
		}
	}
}
