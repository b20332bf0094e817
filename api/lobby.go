package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/signaling"
	"github.com/konsil/konsil/store"
)

// The workspace's live view of its waiting rooms: a Server-Sent Events
// stream per open workspace, fed by the hub's OnChange, and the routes
// that admit, decline and send back.

const (
	// maxStreams bounds the open event streams of one practice.
	maxStreams = 64
	// streamBuffer is each stream's queue; a workspace that does not read
	// loses updates, never blocks the hub (the next update is complete).
	streamBuffer = 32
	// keepAlive keeps proxies from closing an idle stream.
	keepAlive = 25 * time.Second
)

// LobbyEvent is one room's waiting room and who is in the call, as the
// workspace gets it.
type LobbyEvent struct {
	AppointmentID string              `json:"appointment_id"`
	RoomID        string              `json:"room_id"`
	Waiting       []signaling.Waiting `json:"waiting"`
	Present       []string            `json:"present"`
}

// Events carries lobby events to the practices' open workspaces and
// knows who has one open. Its state is guarded by mu.
type Events struct {
	mu      sync.Mutex
	streams map[string]map[*stream]bool // tenant -> streams
	online  map[string]int              // user id -> open streams
	// done is closed when the server shuts down: streams end, or
	// http.Server.Shutdown would wait for them forever.
	done     chan struct{}
	doneOnce sync.Once
}

// Close ends every stream (server shutdown).
func (e *Events) Close() { e.doneOnce.Do(func() { close(e.done) }) }

type stream struct {
	userID   string
	deviceID string
	ch       chan event
	// gone is closed when the stream's user or browser was removed: the
	// stream ends at once.
	gone     chan struct{}
	goneOnce sync.Once
}

// event is one Server-Sent Event: its name and its JSON data.
type event struct {
	name string
	data any
}

// NewEvents returns an empty Events.
func NewEvents() *Events {
	return &Events{streams: map[string]map[*stream]bool{}, online: map[string]int{}, done: make(chan struct{})}
}

// Online tells whether a user has the workspace open.
func (e *Events) Online(userID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.online[userID] > 0
}

func (e *Events) open(tenantID, userID, deviceID string) (*stream, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.streams[tenantID]) >= maxStreams {
		return nil, false
	}
	st := &stream{userID: userID, deviceID: deviceID, ch: make(chan event, streamBuffer), gone: make(chan struct{})}
	if e.streams[tenantID] == nil {
		e.streams[tenantID] = map[*stream]bool{}
	}
	e.streams[tenantID][st] = true
	e.online[userID]++
	return st, true
}

func (e *Events) close(tenantID string, st *stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.streams[tenantID], st)
	if len(e.streams[tenantID]) == 0 {
		delete(e.streams, tenantID)
	}
	if e.online[st.userID]--; e.online[st.userID] <= 0 {
		delete(e.online, st.userID)
	}
}

// end closes the tenant's streams that match: those of a removed user or
// a revoked browser. Each stream's own close then unregisters it.
func (e *Events) end(tenantID string, match func(*stream) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for st := range e.streams[tenantID] {
		if match(st) {
			st.goneOnce.Do(func() { close(st.gone) })
		}
	}
}

// publish hands ev to every stream of the tenant without blocking.
func (e *Events) publish(tenantID string, ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for st := range e.streams[tenantID] {
		select {
		case st.ch <- ev:
		default:
		}
	}
}

// presence answers practice.HostStatus from the hub and the streams.
type presence struct {
	hub    *signaling.Hub
	events *Events
}

func (p presence) Online(userID string) bool { return p.events.Online(userID) }

func (p presence) InRoom(roomID, participantID string) bool {
	return slices.Contains(p.hub.Occupants(roomID), participantID)
}

// CloseStreams ends the workspaces' event streams; call it before
// shutting the HTTP server down.
func (s *Server) CloseStreams() { s.events.Close() }

// HostStatus is the hub's signaling.Config.HostStatus for rooms of the
// workspace.
func (s *Server) HostStatus(ctx context.Context, roomID string) protocol.Host {
	host, err := s.cfg.Practice.HostStatus(ctx, roomID, presence{s.cfg.Hub, s.events})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("host status", "room", roomID, "err", err)
	}
	return host
}

// RoomChanged is the hub's signaling.Config.OnChange: the room's
// practice gets its new lobby. It looks the room up on its own
// goroutine, so the hub never waits for the store.
func (s *Server) RoomChanged(roomID string) {
	if s.cfg.Practice == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, err := s.cfg.Practice.AppointmentOfRoom(ctx, roomID)
		if err != nil {
			return // a room of the REST API: nobody watches it here
		}
		s.events.publish(a.TenantID, event{"lobby", s.lobbyEvent(a)})
	}()
}

func (s *Server) lobbyEvent(a store.Appointment) LobbyEvent {
	ev := LobbyEvent{AppointmentID: a.ID, RoomID: a.RoomID, Waiting: s.cfg.Hub.Lobby(a.RoomID), Present: s.cfg.Hub.Occupants(a.RoomID)}
	if ev.Waiting == nil {
		ev.Waiting = []signaling.Waiting{}
	}
	if ev.Present == nil {
		ev.Present = []string{}
	}
	return ev
}

// eventStream streams lobby events: first one per appointment of the day
// around now, then every change, as Server-Sent Events.
func (s *Server) eventStream(c *gin.Context) {
	sess := sessionOf(c)
	st, ok := s.events.open(sess.TenantID(), sess.UserID(), sess.Device.ID)
	if !ok {
		s.fail(c, newError(http.StatusTooManyRequests, CodeRateLimited, "too many open workspaces for this practice"))
		return
	}
	ctx := c.Request.Context()
	defer func() {
		// Closed first, so that guests waiting for this user see the
		// status without this stream.
		s.events.close(sess.TenantID(), st)
		s.refreshHolderLobbies(context.WithoutCancel(ctx), sess)
	}()
	s.refreshHolderLobbies(ctx, sess)
	appts, err := s.cfg.Practice.ActiveRooms(ctx, sess.TenantID())
	if err != nil {
		s.fail(c, err)
		return
	}
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	for _, a := range appts {
		if !writeEvent(w, event{"lobby", s.lobbyEvent(a)}) {
			return
		}
	}
	w.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.events.done:
			return
		case <-st.gone:
			return
		case ev := <-st.ch:
			if !writeEvent(w, ev) {
				return
			}
			w.Flush()
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
		}
	}
}

// refreshHolderLobbies tells guests waiting for this user that its
// status changed (the workspace opened or closed).
func (s *Server) refreshHolderLobbies(ctx context.Context, sess practice.Session) {
	rooms, err := s.cfg.Practice.RoomsOfHolder(ctx, sess.TenantID(), sess.UserID())
	if err != nil {
		return
	}
	for _, r := range rooms {
		go s.cfg.Hub.RefreshLobby(r)
	}
}

func writeEvent(w gin.ResponseWriter, ev event) bool {
	b, err := json.Marshal(ev.data)
	if err != nil {
		return false
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, b)
	return err == nil
}

func (s *Server) lobby(c *gin.Context) {
	a, err := s.cfg.Practice.Appointment(c.Request.Context(), sessionOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.lobbyEvent(a))
}

// lobbyRequest names a guest of the appointment's room.
type lobbyRequest struct {
	ParticipantID string `json:"participant_id"`
	// All admits everyone waiting (admit only).
	All bool `json:"all,omitempty"`
	// Text is the practice's message to a declined guest.
	Text string `json:"text,omitempty"`
}

// lobbyAction decodes a lobby request and finds its appointment, for
// admins and clinicians of the practice.
func (s *Server) lobbyAction(c *gin.Context) (store.Appointment, lobbyRequest, bool) {
	req, ok := decoded[lobbyRequest](s, c)
	if !ok {
		return store.Appointment{}, req, false
	}
	a, err := s.cfg.Practice.ForLobby(c.Request.Context(), sessionOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return store.Appointment{}, req, false
	}
	if !req.All && (req.ParticipantID == "" || len(req.ParticipantID) > 64) {
		s.fail(c, newError(http.StatusBadRequest, CodeInvalidRequest, "participant_id is required"))
		return store.Appointment{}, req, false
	}
	if len(req.Text) > protocol.MaxTextBytes {
		s.fail(c, newError(http.StatusBadRequest, CodeInvalidRequest, "text exceeds %d bytes", protocol.MaxTextBytes))
		return store.Appointment{}, req, false
	}
	return a, req, true
}

// guestOf tells whether id is a guest of the appointment's room.
func (s *Server) guestOf(ctx context.Context, a store.Appointment, id string) bool {
	r, err := s.svc.store.GetRoom(ctx, a.RoomID)
	if err != nil {
		return false
	}
	p, ok := r.Participant(id)
	return ok && p.Role == protocol.RoleGuest
}

func (s *Server) admit(c *gin.Context) {
	a, req, ok := s.lobbyAction(c)
	if !ok {
		return
	}
	var ids []string
	if req.All {
		for _, w := range s.cfg.Hub.Lobby(a.RoomID) {
			ids = append(ids, w.ParticipantID)
		}
	} else {
		if !s.guestOf(c.Request.Context(), a, req.ParticipantID) {
			s.fail(c, newError(http.StatusNotFound, CodeNotFound, "no guest of this appointment has that id"))
			return
		}
		ids = []string{req.ParticipantID}
	}
	admitted := 0
	for _, id := range ids {
		if s.cfg.Hub.Admit(a.RoomID, id) {
			admitted++
		}
	}
	if !req.All && admitted == 0 {
		s.fail(c, newError(http.StatusNotFound, CodeNotFound, "that guest is not waiting (any more)"))
		return
	}
	c.JSON(http.StatusOK, s.lobbyEvent(a))
}

func (s *Server) decline(c *gin.Context) {
	a, req, ok := s.lobbyAction(c)
	if !ok {
		return
	}
	if !s.cfg.Hub.Decline(a.RoomID, req.ParticipantID, req.Text) {
		s.fail(c, newError(http.StatusNotFound, CodeNotFound, "nobody with that id is waiting"))
		return
	}
	c.JSON(http.StatusOK, s.lobbyEvent(a))
}

func (s *Server) sendBack(c *gin.Context) {
	a, req, ok := s.lobbyAction(c)
	if !ok {
		return
	}
	if !s.guestOf(c.Request.Context(), a, req.ParticipantID) || !s.cfg.Hub.SendBack(a.RoomID, req.ParticipantID) {
		s.fail(c, newError(http.StatusNotFound, CodeNotFound, "no guest with that id is in the call"))
		return
	}
	c.JSON(http.StatusOK, s.lobbyEvent(a))
}
