// Package signaling runs the WebSocket sessions of participants: it admits a
// session by its session token, keeps who is in which room on this node, and
// relays offers, answers, ICE candidates and opaque metadata between the
// peers of a room. It never reads SDP beyond its size and never sees a key.
// Rooms, tokens and quotas belong to the caller (package api), which passes
// them in through Config; so does the SFU of conference rooms, through
// MediaRouter.
package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/protocol"
)

// Errors an Admit func returns; the hub answers each with its code.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrRoomClosed   = errors.New("room closed")
	ErrRoomNotOpen  = errors.New("room not open")
)

// SFUPeer is the address of the SFU in conference rooms: clients send
// their answers and candidates to it, and its offers and candidates reach
// them from it.
const SFUPeer = "sfu"

// MediaRouter is the SFU as the hub sees it. The hub joins every session
// of a conference room (Mode "sfu") to it after the welcome, hands it what
// the client sends to SFUPeer, and leaves it when the session ends.
type MediaRouter interface {
	// Join starts media for one session of a participant; the router's
	// first offer follows through send, which never blocks. A participant
	// that joins again (a new session replacing the old one) starts over
	// with a fresh PeerConnection.
	Join(roomID, participantID string, send func(protocol.Message)) (MediaSession, error)
}

// MediaSession is one session's media at the router.
type MediaSession interface {
	// Signal hands over an offer, answer, candidate or view the client
	// sent to SFUPeer.
	// It never blocks.
	Signal(m protocol.Message)
	// Leave ends the session's media. It does nothing for a session that
	// a newer one of the same participant has replaced.
	Leave()
}

// Admission is what a valid session token grants.
type Admission struct {
	RoomID        string
	ParticipantID string
	Role          string
	Mode          string
	Capacity      int
	WindowEnd     time.Time
	// WaitingRoom: guests wait in the lobby until admitted (lobby.go).
	WaitingRoom bool
}

// Config wires a Hub to the rest of the server.
type Config struct {
	// Admit checks a session token and returns what it grants.
	Admit func(ctx context.Context, token string) (Admission, error)
	// OnCall is called (outside any lock) when a room first has two
	// participants connected at once on this node.
	OnCall func(roomID string)
	// OnLeave is called (outside any lock) when a participant's current
	// session ends, with the reason its peers hear ("bye", "room_deleted",
	// "disconnected", ...). It is not called for a replaced session.
	OnLeave func(roomID, participantID, reason string)
	// Media carries the media of conference rooms (Mode "sfu"). When nil,
	// conference rooms are relayed like peer-to-peer ones.
	Media MediaRouter
	// Now is the clock; time.Now when nil.
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics
	// Origin checks the Origin header of the upgrade; same-host only when nil.
	CheckOrigin func(r *http.Request) bool
	Limits      Limits
	// HostStatus tells a waiting guest whom it waits for (lobby.go);
	// nil says "away" with no name.
	HostStatus func(ctx context.Context, roomID string) protocol.Host
	// OnChange is called (outside any lock) when a room's waiting room
	// or members change; it must not block.
	OnChange func(roomID string)
}

// Limits of a session. Zero values take the defaults.
type Limits struct {
	// HelloTimeout is how long a new connection may take to authenticate.
	HelloTimeout time.Duration
	// PingInterval is how often the server pings; a session that answers
	// nothing for three intervals is closed.
	PingInterval time.Duration
	// Rate and Burst bound messages per second per session. ICE gathering
	// sends a burst of candidates at once, so the burst is generous.
	Rate  float64
	Burst int
	// MaxViolations is how many rate-limited messages a session may send
	// before it is closed.
	MaxViolations int
	// SendQueue is the outgoing queue per session; a session whose queue
	// is full is too slow and gets closed rather than delay anyone else.
	SendQueue int
	// Linger is how long the server reads on, discarding, after its close
	// frame, and LingerBytes how much: closing a socket with input still
	// unread makes the kernel answer with a reset, which can overtake the
	// error and the close frame, so a client cut off in mid-flood would
	// never learn why. The client closing its side ends it sooner.
	Linger      time.Duration
	LingerBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.HelloTimeout == 0 {
		l.HelloTimeout = 10 * time.Second
	}
	if l.PingInterval == 0 {
		l.PingInterval = 20 * time.Second
	}
	if l.Rate == 0 {
		l.Rate = 50
	}
	if l.Burst == 0 {
		l.Burst = 200
	}
	if l.MaxViolations == 0 {
		l.MaxViolations = 100
	}
	if l.SendQueue == 0 {
		l.SendQueue = 256
	}
	if l.Linger == 0 {
		l.Linger = time.Second
	}
	if l.LingerBytes == 0 {
		l.LingerBytes = 1 << 20
	}
	return l
}

// Hub holds the live sessions of this node. Its state (rooms and their
// members) is guarded by mu; each session's socket is owned by that
// session's two goroutines.
type Hub struct {
	cfg      Config
	limits   Limits
	upgrader websocket.Upgrader
	log      *slog.Logger

	mu       sync.Mutex
	rooms    map[string]*room
	lobbies  map[string]*lobby
	closing  bool
	sessions sync.WaitGroup
	// lastKID is the SFrame KID given to the latest conference session
	// (nextKID).
	lastKID uint64
}

// room is the set of connected participants of one room, by participant id.
type room struct {
	members map[string]*session
	// callSeen is set once two members were connected at the same time.
	callSeen bool
	// mediaMu orders the room's joins to the SFU, so that of two sessions
	// of one participant racing through hello, the newer one always ends
	// up with the media.
	mediaMu sync.Mutex
}

// New returns a Hub.
func New(cfg Config) *Hub {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.OnCall == nil {
		cfg.OnCall = func(string) {}
	}
	if cfg.OnLeave == nil {
		cfg.OnLeave = func(string, string, string) {}
	}
	h := &Hub{
		cfg:     cfg,
		limits:  cfg.Limits.withDefaults(),
		log:     cfg.Logger,
		rooms:   map[string]*room{},
		lobbies: map[string]*lobby{},
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     cfg.CheckOrigin,
	}
	return h
}

// ServeHTTP upgrades the request to a WebSocket and runs the session until
// it ends.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.sessions.Add(1)
	h.mu.Unlock()
	defer h.sessions.Done()

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has written the HTTP error.
		h.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	s := newSession(h, conn)
	s.run(r.Context())
}

// Occupants returns the participant ids connected to a room on this node.
func (h *Hub) Occupants(roomID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[roomID]
	if rm == nil {
		return nil
	}
	ids := make([]string, 0, len(rm.members))
	for id := range rm.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// CloseRoom ends every session of a room with a closing message naming
// reason (for example protocol.CodeRoomDeleted).
func (h *Hub) CloseRoom(roomID, reason string) {
	h.mu.Lock()
	var victims []*session
	if rm := h.rooms[roomID]; rm != nil {
		for _, s := range rm.members {
			victims = append(victims, s)
		}
	}
	if lb := h.lobbies[roomID]; lb != nil {
		for _, w := range lb.waiting {
			victims = append(victims, w.s)
		}
		delete(h.lobbies, roomID)
	}
	h.mu.Unlock()
	for _, s := range victims {
		s.closeWith(websocket.CloseNormalClosure, reason, true)
	}
}

// Shutdown closes every session with a closing message and waits until
// their goroutines have ended or ctx is done.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	var all []*session
	for _, rm := range h.rooms {
		for _, s := range rm.members {
			all = append(all, s)
		}
	}
	for _, lb := range h.lobbies {
		for _, w := range lb.waiting {
			all = append(all, w.s)
		}
	}
	h.mu.Unlock()
	for _, s := range all {
		s.closeWith(websocket.CloseGoingAway, protocol.CodeServerShutdown, true)
	}
	done := make(chan struct{})
	go func() {
		h.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("signaling shutdown: %w", ctx.Err())
	}
}

// attach adds s to its room and queues its welcome. It refuses when the
// room is full, and replaces an earlier session of the same participant.
// It returns the other members and the replaced session, if any.
//
// The welcome is queued under the lock: once s is visible to its peers they
// may send to it at once (an offer, a peer-joined of their own), and the
// protocol promises welcome first.
func (h *Hub) attach(s *session, welcome func(peers []*session) protocol.Message) (peers []*session, replaced *session, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, nil, errShuttingDown
	}
	select {
	case <-s.done:
		// A waiting guest admitted as its connection ended: its leave
		// has run or will find nothing, so it must not become a member.
		return nil, nil, errSessionGone
	default:
	}
	rm := h.rooms[s.adm.RoomID]
	if rm == nil {
		rm = &room{members: map[string]*session{}}
		h.rooms[s.adm.RoomID] = rm
		h.cfg.Metrics.Rooms.Set(float64(len(h.rooms)))
	}
	replaced = rm.members[s.adm.ParticipantID]
	others := len(rm.members)
	if replaced != nil {
		others--
	}
	if others >= s.adm.Capacity {
		if len(rm.members) == 0 {
			delete(h.rooms, s.adm.RoomID)
			h.cfg.Metrics.Rooms.Set(float64(len(h.rooms)))
		}
		return nil, nil, errRoomFull
	}
	rm.members[s.adm.ParticipantID] = s
	for id, m := range rm.members {
		if id != s.adm.ParticipantID {
			peers = append(peers, m)
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].adm.ParticipantID < peers[j].adm.ParticipantID })
	s.deliver(welcome(peers))
	return peers, replaced, nil
}

// markCall reports whether this is the first time the room has two members.
func (h *Hub) markCall(roomID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[roomID]
	if rm == nil || rm.callSeen || len(rm.members) < 2 {
		return false
	}
	rm.callSeen = true
	return true
}

// detach removes s from its room if it is still the participant's current
// session, and returns the members left to tell.
func (h *Hub) detach(s *session) (peers []*session, wasCurrent bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[s.adm.RoomID]
	if rm == nil || rm.members[s.adm.ParticipantID] != s {
		return nil, false
	}
	delete(rm.members, s.adm.ParticipantID)
	if len(rm.members) == 0 {
		delete(h.rooms, s.adm.RoomID)
		h.cfg.Metrics.Rooms.Set(float64(len(h.rooms)))
	}
	for _, m := range rm.members {
		peers = append(peers, m)
	}
	return peers, true
}

// joinMedia joins s to the SFU, unless a newer session of the same
// participant has taken its place meanwhile. Joins of one room are
// serialized, and each checks it is still current under that order: the
// newest session's join always comes last.
func (h *Hub) joinMedia(s *session) {
	h.mu.Lock()
	rm := h.rooms[s.adm.RoomID]
	h.mu.Unlock()
	if rm == nil {
		return
	}
	rm.mediaMu.Lock()
	defer rm.mediaMu.Unlock()
	if h.member(s.adm.RoomID, s.adm.ParticipantID) != s {
		return
	}
	ms, err := h.cfg.Media.Join(s.adm.RoomID, s.adm.ParticipantID, s.deliverFromSFU)
	if err != nil {
		// The session goes on without media: signaling and meta still
		// work, and a new session tries again.
		h.log.Error("join the SFU", "room", s.adm.RoomID, "participant", s.adm.ParticipantID, "err", err)
		return
	}
	s.setMedia(ms)
}

// nextKID gives a conference session its SFrame KID: the node clock in
// milliseconds, or one more than the last KID when that is larger. A KID
// with the room's media key must never encrypt twice from counter 0
// (RFC 9605 §9.1: nonce reuse), and a participant that reconnects keeps
// the room secret, so every session needs a KID never used in its room
// before. A counter from 1 would be unique only for the life of this
// process; seeding it with the clock keeps it unique across restarts of
// the node too, as long as its clock does not go back. Rooms served by
// two nodes at once could draw the same millisecond: that needs a node
// id in the KID or a counter in the store (docs/SECURITY.md).
func (h *Hub) nextKID() uint64 {
	now := uint64(max(h.cfg.Now().UnixMilli(), 0))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastKID = max(h.lastKID+1, now)
	return h.lastKID
}

// member returns the current session of a participant in a room.
func (h *Hub) member(roomID, participantID string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rm := h.rooms[roomID]; rm != nil {
		return rm.members[participantID]
	}
	return nil
}
