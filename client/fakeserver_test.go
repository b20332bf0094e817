package client

// Why a fake server, when the real one can run in-process (and does, in
// package e2e)? Because these tests need faults the real server must never
// produce on its own: losing what it relays to a participant (mute),
// cutting a session without a word as a broken network would (drop), and
// refusing at signaling a join it just granted, which the real server does
// only when two joins race for the last place (refuse). Anything the real
// server does right is tested against the real server, not here.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/protocol"
)

// fakeServer plays the Konsil server for one peer-to-peer room with a host
// ("host-link", "p-host") and a guest ("guest-link", "p-guest"), just as
// far as the fault tests need: join, hello/welcome, replacement of a
// participant's older session, peer-joined/left and relay. "p-guest" is
// the smaller id, so the guest offers. State is guarded by mu; each
// connection's writes by its wmu.
type fakeServer struct {
	srv *httptest.Server
	up  websocket.Upgrader
	wg  sync.WaitGroup

	mu       sync.Mutex
	tokens   map[string]protocol.Peer // link token -> participant
	sessions map[string]protocol.Peer // session token -> participant
	conns    map[string]*fakeConn     // participant id -> current session
	refuse   map[string]string        // link token -> code refused at signaling
	muted    map[string]bool          // participant id -> relayed messages to it are lost
	n        int
}

type fakeConn struct {
	peer protocol.Peer
	conn *websocket.Conn
	wmu  sync.Mutex
}

func (c *fakeConn) send(m protocol.Message) {
	raw, _ := json.Marshal(m)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.conn.WriteMessage(websocket.TextMessage, raw)
}

func (c *fakeConn) closeWith(code string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.ClosePolicyViolation, code), time.Now().Add(time.Second))
	c.conn.Close()
}

func newFakeServer() *fakeServer {
	fs := &fakeServer{
		tokens: map[string]protocol.Peer{
			"host-link":  {ID: "p-host", Role: protocol.RoleHost},
			"guest-link": {ID: "p-guest", Role: protocol.RoleGuest},
		},
		sessions: map[string]protocol.Peer{},
		conns:    map[string]*fakeConn{},
		refuse:   map[string]string{},
		muted:    map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/join", fs.join)
	mux.HandleFunc("GET /ws", fs.ws)
	fs.srv = httptest.NewServer(mux)
	return fs
}

func (fs *fakeServer) URL() string { return fs.srv.URL }

// close drops every session and waits for the server's goroutines.
func (fs *fakeServer) close() {
	fs.mu.Lock()
	for _, c := range fs.conns {
		c.conn.Close()
	}
	fs.mu.Unlock()
	fs.srv.Close()
	fs.wg.Wait()
	fs.srv.Client().CloseIdleConnections()
}

// drop cuts a participant's signaling connection without a word, as a
// network failure would.
func (fs *fakeServer) drop(id string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if c := fs.conns[id]; c != nil {
		c.conn.Close()
	}
}

// mute loses (or, with false, delivers again) what is relayed to id.
func (fs *fakeServer) mute(id string, muted bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.muted[id] = muted
}

func (fs *fakeServer) join(w http.ResponseWriter, r *http.Request) {
	var req protocol.JoinRequest
	json.NewDecoder(r.Body).Decode(&req)
	fs.mu.Lock()
	p, ok := fs.tokens[req.Token]
	fs.n++
	session := fmt.Sprintf("session-%d", fs.n)
	fs.sessions[session] = p
	if code := fs.refuse[req.Token]; code != "" {
		fs.sessions[session] = protocol.Peer{ID: "refused:" + code}
	}
	fs.mu.Unlock()
	if !ok {
		http.Error(w, "unknown link", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(protocol.JoinResponse{
		SessionToken: session, ParticipantID: p.ID, Role: p.Role, RoomID: "room-1",
		Mode: protocol.ModeP2P, Capacity: 2, WebSocketURL: "ws://" + r.Host + "/ws",
	})
}

func (fs *fakeServer) ws(w http.ResponseWriter, r *http.Request) {
	fs.wg.Add(1)
	defer fs.wg.Done()
	conn, err := fs.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	_, raw, err := conn.ReadMessage()
	if err != nil {
		return
	}
	hello, err := protocol.Decode(raw)
	fs.mu.Lock()
	p, ok := fs.sessions[hello.Token]
	fs.mu.Unlock()
	if err != nil || hello.Type != protocol.TypeHello || !ok {
		return
	}
	c := &fakeConn{peer: p, conn: conn}
	if code, refused := strings.CutPrefix(p.ID, "refused:"); refused {
		c.send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{Code: code, Message: "refused"}})
		c.closeWith(code)
		return
	}
	fs.enter(c)
	for {
		_, raw, err := conn.ReadMessage()
		if err != nil {
			fs.leave(c, "disconnected")
			return
		}
		// Pings and bye need no answer here: the tests are over long
		// before the client's read timeout, and a bye is followed by the
		// close that ends this loop.
		if m, err := protocol.Decode(raw); err == nil {
			fs.relay(c, m)
		}
	}
}

func (fs *fakeServer) enter(c *fakeConn) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	old := fs.conns[c.peer.ID]
	if old != nil {
		old.send(protocol.Message{Type: protocol.TypeError, Error: &protocol.ErrorInfo{Code: protocol.CodeReplaced}})
		old.closeWith(protocol.CodeReplaced)
	}
	fs.conns[c.peer.ID] = c
	var peers []protocol.Peer
	for id, o := range fs.conns {
		if id != c.peer.ID {
			peers = append(peers, o.peer)
		}
	}
	c.send(protocol.Message{Type: protocol.TypeWelcome, V: protocol.Version, Self: &c.peer, Peers: peers,
		RoomID: "room-1", Mode: protocol.ModeP2P})
	joined := c.peer
	joined.Reconnect = old != nil
	for id, o := range fs.conns {
		if id != c.peer.ID {
			o.send(protocol.Message{Type: protocol.TypePeerJoined, Peer: &joined})
		}
	}
}

func (fs *fakeServer) leave(c *fakeConn, reason string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.conns[c.peer.ID] != c {
		return // replaced: the participant is still here
	}
	delete(fs.conns, c.peer.ID)
	for _, o := range fs.conns {
		o.send(protocol.Message{Type: protocol.TypePeerLeft, Peer: &c.peer, Reason: reason})
	}
}

// relay forwards m to the participant it names, unless that one is muted.
// Anything without a present addressee (ping, bye) is dropped.
func (fs *fakeServer) relay(from *fakeConn, m protocol.Message) {
	fs.mu.Lock()
	to := fs.conns[m.To]
	current := fs.conns[from.peer.ID] == from
	muted := fs.muted[m.To]
	fs.mu.Unlock()
	if to == nil || !current || muted {
		return
	}
	m.From, m.To = from.peer.ID, ""
	to.send(m)
}
