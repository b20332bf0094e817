package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/signaling"
	"github.com/konsil/konsil/store"
)

// Service is the API's logic without HTTP: rooms, tenants, keys and joins.
// The REST handlers and the `konsil rooms` command against a local store
// both use it.
type Service struct {
	store    store.Store
	hasher   *access.Hasher
	sessions *access.Sessions
	now      func() time.Time
	// PublicURL is the base of links ("https://video.example.org"); when
	// empty, links are made from the request's host.
	publicURL  string
	sessionTTL time.Duration
	// occupants tells who is connected to a room; nil means nobody (a
	// local store with no server).
	occupants func(roomID string) []string
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store      store.Store
	Now        func() time.Time
	PublicURL  string
	SessionTTL time.Duration
	Occupants  func(roomID string) []string
	// Keys are the server secrets (package keyring); nil makes random
	// ones that end with the process, for tools and tests that keep
	// nothing.
	Keys *keyring.Ring
}

// NewService loads or creates the server secrets and returns a Service.
func NewService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 10 * time.Minute
	}
	if cfg.Keys == nil {
		var err error
		if cfg.Keys, err = keyring.Ephemeral(); err != nil {
			return nil, err
		}
	}
	hasher, err := access.NewHasher(cfg.Keys.Accepted(keyring.CodePepper)...)
	if err != nil {
		return nil, err
	}
	sessions, err := access.NewSessions(cfg.Keys.Accepted(keyring.SessionKey)...)
	if err != nil {
		return nil, err
	}
	return &Service{
		store: cfg.Store, hasher: hasher, sessions: sessions, now: cfg.Now,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"), sessionTTL: cfg.SessionTTL,
		occupants: cfg.Occupants,
	}, nil
}

// CreateRoom validates req, makes a token and a short code per participant,
// stores their hashes and returns the room with the clear credentials,
// which exist nowhere else afterwards. base is the link base when the
// service has no public URL.
func (s *Service) CreateRoom(ctx context.Context, tenantID string, req protocol.RoomRequest, base string) (protocol.Room, error) {
	now := s.now()
	w, err := access.ValidateRoom(req, now)
	if err != nil {
		return protocol.Room{}, err
	}
	if err := s.checkQuota(ctx, tenantID, now); err != nil {
		return protocol.Room{}, err
	}
	id, err := access.NewID()
	if err != nil {
		return protocol.Room{}, err
	}
	r := store.Room{
		ID: id, TenantID: tenantID, Mode: access.Mode(req.Capacity), Capacity: req.Capacity,
		StartsAt: w.Start.UTC(), EndsAt: w.End.UTC(), TimeZone: w.TimeZone, CreatedAt: now.UTC(),
		WaitingRoom: req.WaitingRoom,
	}
	out := roomView(r)
	for _, pr := range req.Participants {
		p, view, err := s.newParticipant(pr, s.linkBase(base))
		if err != nil {
			return protocol.Room{}, err
		}
		r.Participants = append(r.Participants, p)
		out.Participants = append(out.Participants, view)
	}
	if err := s.store.CreateRoom(ctx, r); err != nil {
		return protocol.Room{}, fmt.Errorf("create room: %w", err)
	}
	return out, nil
}

func (s *Service) newParticipant(pr protocol.ParticipantRequest, base string) (store.Participant, protocol.Participant, error) {
	id, err := access.NewID()
	if err != nil {
		return store.Participant{}, protocol.Participant{}, err
	}
	token, err := access.NewToken()
	if err != nil {
		return store.Participant{}, protocol.Participant{}, err
	}
	code, err := access.NewCode()
	if err != nil {
		return store.Participant{}, protocol.Participant{}, err
	}
	p := store.Participant{
		ID: id, Role: pr.Role, Label: pr.Label,
		TokenHash: s.hasher.Hash(access.KindToken, token),
		CodeHash:  s.hasher.Hash(access.KindCode, code),
	}
	view := protocol.Participant{
		ID: id, Role: pr.Role, Label: pr.Label,
		Token: token, Code: access.FormatCode(code), Link: base + "/r/" + token,
	}
	return p, view, nil
}

func (s *Service) linkBase(base string) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	return strings.TrimRight(base, "/")
}

// checkQuota refuses a new room when the tenant's calls this month reached
// its quota.
func (s *Service) checkQuota(ctx context.Context, tenantID string, now time.Time) error {
	t, err := s.store.GetTenant(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if t.MonthlyCallQuota <= 0 {
		return nil
	}
	n, err := s.store.CallsInMonth(ctx, tenantID, store.Month(now))
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if n >= t.MonthlyCallQuota {
		y, m, _ := now.UTC().Date()
		return quotaExceeded(time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC))
	}
	return nil
}

// Room returns a tenant's room; other tenants' rooms are not found.
func (s *Service) Room(ctx context.Context, tenantID, id string) (protocol.Room, error) {
	r, err := s.tenantRoom(ctx, tenantID, id)
	if err != nil {
		return protocol.Room{}, err
	}
	return roomView(r), nil
}

func (s *Service) tenantRoom(ctx context.Context, tenantID, id string) (store.Room, error) {
	if len(id) > 64 {
		return store.Room{}, fmt.Errorf("room: %w", store.ErrNotFound)
	}
	r, err := s.store.GetRoom(ctx, id)
	if err != nil {
		return store.Room{}, err
	}
	if r.TenantID != tenantID {
		return store.Room{}, fmt.Errorf("room %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

// Rooms lists a tenant's rooms whose window overlaps [from, to).
func (s *Service) Rooms(ctx context.Context, tenantID string, from, to time.Time) ([]protocol.Room, error) {
	rs, err := s.store.ListRooms(ctx, tenantID, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Room, 0, len(rs))
	for _, r := range rs {
		out = append(out, roomView(r))
	}
	return out, nil
}

// DeleteRoom removes a tenant's room and all its data.
func (s *Service) DeleteRoom(ctx context.Context, tenantID, id string) error {
	if _, err := s.tenantRoom(ctx, tenantID, id); err != nil {
		return err
	}
	return s.store.DeleteRoom(ctx, id)
}

// MoveRoom gives a tenant's room another window [StartsAt, EndsAt). Its
// participants and their token and code hashes stay, so the links
// already sent keep their form; Join and Admit read the window from the
// stored room, so from now on they open in the new window only. Callers
// resolve w from a request first (access.ResolveWindow, as CreateRoom
// does).
func (s *Service) MoveRoom(ctx context.Context, tenantID, id string, w protocol.Window) error {
	if !w.EndsAt.After(w.StartsAt) {
		return fmt.Errorf("%w: the window must end after it starts", access.ErrInvalidWindow)
	}
	r, err := s.tenantRoom(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if err := s.store.SetRoomWindow(ctx, r.ID, w.StartsAt, w.EndsAt, w.TimeZone); err != nil {
		return fmt.Errorf("move room %s: %w", id, err)
	}
	return nil
}

func roomView(r store.Room) protocol.Room {
	v := protocol.Room{
		ID: r.ID, Mode: r.Mode, Capacity: r.Capacity, CreatedAt: r.CreatedAt, WaitingRoom: r.WaitingRoom,
		Window:       protocol.Window{StartsAt: r.StartsAt, EndsAt: r.EndsAt, TimeZone: r.TimeZone},
		Participants: make([]protocol.Participant, 0, len(r.Participants)),
	}
	for _, p := range r.Participants {
		v.Participants = append(v.Participants, protocol.Participant{ID: p.ID, Role: p.Role, Label: p.Label})
	}
	return v
}

// joinGrant is a successful join before it is shaped for the wire.
type joinGrant struct {
	room        store.Room
	participant store.Participant
	token       string
	expires     time.Time
}

// lookupCredential finds the credential under any accepted pepper's hash,
// the current one first.
func (s *Service) lookupCredential(ctx context.Context, hashes [][]byte) (store.Credential, error) {
	err := error(store.ErrNotFound)
	for _, h := range hashes {
		var cred store.Credential
		cred, err = s.store.LookupCredential(ctx, h)
		if err == nil && access.Equal(cred.Hash, h) {
			return cred, nil
		}
	}
	return store.Credential{}, err
}

// Join resolves a link token or short code and grants a session. Malformed
// and unknown credentials take the same path and get the same answer.
func (s *Service) Join(ctx context.Context, req protocol.JoinRequest) (joinGrant, error) {
	var hashes [][]byte
	switch {
	case req.Token != "" && req.Code != "":
		return joinGrant{}, newError(http.StatusBadRequest, CodeInvalidRequest, "give either token or code, not both")
	case req.Token != "":
		hashes = s.hasher.Hashes(access.KindToken, req.Token)
	case req.Code != "":
		hashes = s.hasher.Hashes(access.KindCode, access.NormalizeCode(req.Code))
	default:
		return joinGrant{}, newError(http.StatusBadRequest, CodeInvalidRequest, "give a token or a code")
	}
	cred, err := s.lookupCredential(ctx, hashes)
	if err != nil {
		return joinGrant{}, errUnknownCredential
	}
	r, err := s.store.GetRoom(ctx, cred.RoomID)
	if err != nil {
		return joinGrant{}, errUnknownCredential
	}
	p, ok := r.Participant(cred.ParticipantID)
	if !ok {
		return joinGrant{}, errUnknownCredential
	}
	now := s.now()
	w := access.Window{Start: r.StartsAt, End: r.EndsAt}
	switch w.At(now) {
	case access.NotOpen:
		return joinGrant{}, roomNotOpen(r.StartsAt)
	case access.Closed:
		return joinGrant{}, errRoomClosed
	}
	if s.full(r, p.ID) {
		return joinGrant{}, errRoomFull
	}
	exp := now.Add(s.sessionTTL)
	if exp.After(r.EndsAt) {
		exp = r.EndsAt
	}
	tok, err := s.sessions.Issue(access.Session{RoomID: r.ID, ParticipantID: p.ID, Expires: exp.Unix()})
	if err != nil {
		return joinGrant{}, err
	}
	return joinGrant{room: r, participant: p, token: tok, expires: exp}, nil
}

// full tells whether the room has no place for participant: everyone
// connected except an earlier session of the same participant counts.
func (s *Service) full(r store.Room, participant string) bool {
	if s.occupants == nil {
		return false
	}
	others := 0
	for _, id := range s.occupants(r.ID) {
		if id != participant {
			others++
		}
	}
	return others >= r.Capacity
}

// Admit checks a session token for the signaling hub.
func (s *Service) Admit(ctx context.Context, token string) (signaling.Admission, error) {
	now := s.now()
	sess, err := s.sessions.Check(token, now)
	if err != nil {
		return signaling.Admission{}, fmt.Errorf("%w: %v", signaling.ErrUnauthorized, err)
	}
	r, err := s.store.GetRoom(ctx, sess.RoomID)
	if err != nil {
		return signaling.Admission{}, fmt.Errorf("%w: %v", signaling.ErrRoomClosed, err)
	}
	p, ok := r.Participant(sess.ParticipantID)
	if !ok {
		return signaling.Admission{}, signaling.ErrUnauthorized
	}
	switch (access.Window{Start: r.StartsAt, End: r.EndsAt}).At(now) {
	case access.NotOpen:
		return signaling.Admission{}, signaling.ErrRoomNotOpen
	case access.Closed:
		return signaling.Admission{}, signaling.ErrRoomClosed
	}
	return signaling.Admission{
		RoomID: r.ID, ParticipantID: p.ID, Role: p.Role, Mode: r.Mode,
		Capacity: r.Capacity, WindowEnd: r.EndsAt, WaitingRoom: r.WaitingRoom,
	}, nil
}

// CountCall records that a room held a call, once per room.
func (s *Service) CountCall(ctx context.Context, roomID string) error {
	_, err := s.store.CountCall(ctx, roomID, store.Month(s.now()))
	return err
}

// Prune deletes rooms whose window ended more than retention ago.
func (s *Service) Prune(ctx context.Context, retention time.Duration) (int, error) {
	return s.store.DeleteRoomsEndedBefore(ctx, s.now().Add(-retention))
}
