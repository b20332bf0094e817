package signaling

import (
	"context"
	"sort"
	"time"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/protocol"
)

// The waiting room (docs/PROTOCOL.md, "Waiting room"). In a room with one,
// a guest's session waits in the room's lobby until someone of the
// practice admits it: it is no member, so nobody sees it, it relays
// nothing and gets no media. Admission is remembered for the life of the
// hub, so a reconnect does not wait again, until the guest is sent back.

// lobbyRefresh is how often a waiting guest's host status is looked up
// again; a changed status is sent at once.
const lobbyRefresh = 10 * time.Second

// Device check results of a waiting guest.
const (
	CheckUnknown = ""
	CheckOK      = "ok"
	CheckFailed  = "failed"
)

// lobby is the waiting room of one room; guarded by Hub.mu.
type lobby struct {
	waiting  map[string]*waiter
	admitted map[string]bool
}

// waiter is a guest's session waiting in a lobby.
type waiter struct {
	s     *session
	since time.Time
	check string
	host  protocol.Host
	timer *time.Timer
}

// Waiting is a guest in a room's waiting room, as the practice sees it.
type Waiting struct {
	ParticipantID string    `json:"participant_id"`
	Since         time.Time `json:"since"`
	// Check is the guest's pre-call device check: "ok", "failed" or ""
	// (not reported).
	Check string `json:"check"`
}

func (h *Hub) lobbyLocked(roomID string) *lobby {
	lb := h.lobbies[roomID]
	if lb == nil {
		lb = &lobby{waiting: map[string]*waiter{}, admitted: map[string]bool{}}
		h.lobbies[roomID] = lb
	}
	return lb
}

// mustWait tells whether a session's participant has to wait.
func (h *Hub) mustWait(adm Admission) bool {
	if !adm.WaitingRoom || adm.Role == protocol.RoleHost {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	lb := h.lobbies[adm.RoomID]
	return lb == nil || !lb.admitted[adm.ParticipantID]
}

// wait puts s in its room's lobby, replacing an earlier waiting session
// of the same participant, and tells the client whom it waits for.
func (h *Hub) wait(s *session) {
	host := h.hostStatus(s.adm.RoomID)
	w := &waiter{s: s, since: h.cfg.Now().UTC(), host: host}
	s.waiting.Store(true)
	h.mu.Lock()
	lb := h.lobbyLocked(s.adm.RoomID)
	old := lb.waiting[s.adm.ParticipantID]
	lb.waiting[s.adm.ParticipantID] = w
	// Queued under the lock: an admission right after must come behind it.
	s.deliver(protocol.Message{Type: protocol.TypeLobby, Host: &host})
	w.timer = time.AfterFunc(lobbyRefresh, func() { h.refreshWaiter(s.adm.RoomID, w) })
	h.mu.Unlock()
	if old != nil {
		old.timer.Stop()
		old.s.fail(protocol.CodeReplaced, "this participant connected again elsewhere")
	}
	h.log.Info("participant waiting", "room", s.adm.RoomID, "participant", s.adm.ParticipantID)
	h.changed(s.adm.RoomID)
}

func (h *Hub) hostStatus(roomID string) protocol.Host {
	if h.cfg.HostStatus == nil {
		return protocol.Host{Status: protocol.HostAway}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return h.cfg.HostStatus(ctx, roomID)
}

// refreshWaiter looks the host's status up again for a waiting session
// and sends it when it changed; it reschedules itself while w waits.
func (h *Hub) refreshWaiter(roomID string, w *waiter) {
	host := h.hostStatus(roomID)
	h.mu.Lock()
	defer h.mu.Unlock()
	lb := h.lobbies[roomID]
	if lb == nil || lb.waiting[w.s.adm.ParticipantID] != w {
		return
	}
	if host != w.host {
		w.host = host
		w.s.deliver(protocol.Message{Type: protocol.TypeLobby, Host: &host})
	}
	w.timer.Reset(lobbyRefresh)
}

// RefreshLobby sends every guest waiting in a room the host's status
// now, if it changed (the host opened the workspace or joined a call).
func (h *Hub) RefreshLobby(roomID string) {
	h.mu.Lock()
	var ws []*waiter
	if lb := h.lobbies[roomID]; lb != nil {
		for _, w := range lb.waiting {
			ws = append(ws, w)
		}
	}
	h.mu.Unlock()
	for _, w := range ws {
		h.refreshWaiter(roomID, w)
	}
}

// leaveLobby drops s from its lobby if it still waits there.
func (h *Hub) leaveLobby(s *session) bool {
	h.mu.Lock()
	lb := h.lobbies[s.adm.RoomID]
	w := (*waiter)(nil)
	if lb != nil {
		w = lb.waiting[s.adm.ParticipantID]
	}
	if w == nil || w.s != s {
		h.mu.Unlock()
		return false
	}
	delete(lb.waiting, s.adm.ParticipantID)
	h.pruneLobbyLocked(s.adm.RoomID, lb)
	h.mu.Unlock()
	w.timer.Stop()
	h.changed(s.adm.RoomID)
	return true
}

// pruneLobbyLocked forgets a lobby nobody waits in and nobody was
// admitted to.
func (h *Hub) pruneLobbyLocked(roomID string, lb *lobby) {
	if len(lb.waiting) == 0 && len(lb.admitted) == 0 {
		delete(h.lobbies, roomID)
	}
}

// setCheck records a waiting guest's device check.
func (h *Hub) setCheck(s *session, ok bool) {
	h.mu.Lock()
	lb := h.lobbies[s.adm.RoomID]
	var w *waiter
	if lb != nil {
		w = lb.waiting[s.adm.ParticipantID]
	}
	if w == nil || w.s != s {
		h.mu.Unlock()
		return
	}
	w.check = CheckFailed
	if ok {
		w.check = CheckOK
	}
	h.mu.Unlock()
	h.changed(s.adm.RoomID)
}

// Lobby lists the guests waiting in a room, longest waiting first.
func (h *Hub) Lobby(roomID string) []Waiting {
	h.mu.Lock()
	defer h.mu.Unlock()
	lb := h.lobbies[roomID]
	if lb == nil {
		return nil
	}
	out := make([]Waiting, 0, len(lb.waiting))
	for id, w := range lb.waiting {
		out = append(out, Waiting{ParticipantID: id, Since: w.since, Check: w.check})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Admit lets a waiting guest in: its session enters the room at once,
// and its later sessions do not wait. A guest not waiting is not
// admitted ahead (a click on a stale list must not let a later session
// skip the waiting room); it reports whether the guest was waiting.
func (h *Hub) Admit(roomID, participantID string) bool {
	h.mu.Lock()
	lb := h.lobbies[roomID]
	var w *waiter
	if lb != nil {
		w = lb.waiting[participantID]
	}
	if w == nil {
		h.mu.Unlock()
		return false
	}
	lb.admitted[participantID] = true
	delete(lb.waiting, participantID)
	h.mu.Unlock()
	w.timer.Stop()
	h.log.Info("participant admitted", "room", roomID, "participant", participantID)
	if err := w.s.enter(); err != nil {
		h.log.Info("admitted participant could not enter", "room", roomID, "participant", participantID, "err", err)
	}
	h.changed(roomID)
	return true
}

// Decline sends a waiting guest away with the practice's message (at
// most protocol.MaxTextBytes). It reports whether the guest was waiting.
func (h *Hub) Decline(roomID, participantID, text string) bool {
	h.mu.Lock()
	lb := h.lobbies[roomID]
	var w *waiter
	if lb != nil {
		w = lb.waiting[participantID]
		delete(lb.waiting, participantID)
		h.pruneLobbyLocked(roomID, lb)
	}
	h.mu.Unlock()
	if w == nil {
		return false
	}
	w.timer.Stop()
	w.s.closeAnnounced(websocket.CloseNormalClosure, protocol.Message{Type: protocol.TypeClosing, Reason: protocol.ReasonDeclined, Text: text})
	h.log.Info("participant declined", "room", roomID, "participant", participantID)
	h.changed(roomID)
	return true
}

// SendBack takes an admitted guest out of the call and back to the
// waiting room: its session closes with sent_back, and the session it
// opens next waits. It reports whether the guest was in the room.
func (h *Hub) SendBack(roomID, participantID string) bool {
	h.mu.Lock()
	if lb := h.lobbies[roomID]; lb != nil {
		delete(lb.admitted, participantID)
		h.pruneLobbyLocked(roomID, lb)
	}
	var member *session
	if rm := h.rooms[roomID]; rm != nil {
		member = rm.members[participantID]
	}
	h.mu.Unlock()
	if member == nil || member.adm.Role == protocol.RoleHost {
		return false
	}
	member.closeWith(websocket.CloseNormalClosure, protocol.ReasonSentBack, true)
	h.log.Info("participant sent back to the waiting room", "room", roomID, "participant", participantID)
	return true
}

// changed tells the host's side that a room's lobby or members changed.
func (h *Hub) changed(roomID string) {
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(roomID)
	}
}
