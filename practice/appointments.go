package practice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// AppointmentView is an appointment as the workspace sees it.
type AppointmentView struct {
	ID        string    `json:"id"`
	RoomID    string    `json:"room_id"`
	HolderID  string    `json:"holder_id"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	TimeZone  string    `json:"time_zone"`
	Kind      string    `json:"kind"`
	Capacity  int       `json:"capacity"`
	Status    string    `json:"status"`
	Sealed    string    `json:"sealed"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

func appointmentView(a store.Appointment) AppointmentView {
	return AppointmentView{ID: a.ID, RoomID: a.RoomID, HolderID: a.HolderID, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
		TimeZone: a.TimeZone, Kind: a.Kind, Capacity: a.Capacity, Status: a.Status, Sealed: a.Sealed,
		CreatedBy: a.CreatedBy, UpdatedAt: a.UpdatedAt}
}

// AppointmentRequest creates an appointment and its room.
type AppointmentRequest struct {
	HolderID string                 `json:"holder_id"`
	Window   protocol.WindowRequest `json:"window"`
	Kind     string                 `json:"kind"`
	Invitees int                    `json:"invitees"`
}

// CreatedAppointment is the answer to a new appointment: the room's
// participants with their tokens and codes, which exist in clear only in
// this answer (the browser seals them into the appointment).
type CreatedAppointment struct {
	Appointment  AppointmentView        `json:"appointment"`
	Participants []protocol.Participant `json:"participants"`
}

// mayEdit tells whether a role may schedule, change and cancel.
func mayEdit(role string) bool {
	return role == RoleAdmin || role == RoleClinician || role == RoleAssistant
}

// mayHold tells whether a role may hold and join calls.
func mayHold(role string) bool { return role == RoleAdmin || role == RoleClinician }

// CreateAppointment makes the room (one host, the holder, and the
// invitees as guests) and the appointment around it. base is the link
// base when the server has no public URL.
func (s *Service) CreateAppointment(ctx context.Context, sess Session, req AppointmentRequest, base string) (CreatedAppointment, error) {
	if !mayEdit(sess.Role()) {
		return CreatedAppointment{}, ErrForbidden
	}
	if err := s.checkHolder(ctx, sess, req.HolderID); err != nil {
		return CreatedAppointment{}, err
	}
	roles, err := inviteeRoles(req.Kind, req.Invitees)
	if err != nil {
		return CreatedAppointment{}, err
	}
	room, err := s.rooms.CreateRoom(ctx, sess.TenantID(), protocol.RoomRequest{
		Window: req.Window, Capacity: len(roles), Participants: roles, WaitingRoom: true}, base)
	if err != nil {
		return CreatedAppointment{}, err
	}
	id, err := access.NewID()
	if err != nil {
		return CreatedAppointment{}, err
	}
	now := s.now().UTC()
	a := store.Appointment{ID: id, TenantID: sess.TenantID(), RoomID: room.ID, HolderID: req.HolderID,
		HostParticipantID: room.Participants[0].ID,
		Kind:              req.Kind, Capacity: room.Capacity, StartsAt: room.Window.StartsAt, EndsAt: room.Window.EndsAt,
		TimeZone: room.Window.TimeZone, Status: store.AppointmentScheduled, CreatedBy: sess.UserID(),
		CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateAppointment(ctx, a); err != nil {
		if derr := s.rooms.DeleteRoom(ctx, sess.TenantID(), room.ID); derr != nil {
			s.log.Error("delete room of failed appointment", "room", room.ID, "err", derr)
		}
		return CreatedAppointment{}, err
	}
	s.log.Info("appointment created", "tenant", a.TenantID, "appointment", a.ID, "room", a.RoomID, "kind", a.Kind)
	return CreatedAppointment{Appointment: appointmentView(a), Participants: room.Participants}, nil
}

// inviteeRoles is the room's participants: the holder as host first.
func inviteeRoles(kind string, invitees int) ([]protocol.ParticipantRequest, error) {
	switch kind {
	case KindConsultation:
		if invitees != 1 {
			return nil, invalid("a consultation has exactly 1 invitee")
		}
	case KindConference:
		if invitees < 2 || invitees > maxInvitees {
			return nil, invalid("a conference has 2 to %d invitees", maxInvitees)
		}
	default:
		return nil, invalid("kind must be consultation or conference")
	}
	out := []protocol.ParticipantRequest{{Role: protocol.RoleHost}}
	for range invitees {
		out = append(out, protocol.ParticipantRequest{Role: protocol.RoleGuest})
	}
	return out, nil
}

// checkHolder makes sure the holder is a user of the session's practice
// who may hold calls.
func (s *Service) checkHolder(ctx context.Context, sess Session, holderID string) error {
	if holderID == "" {
		return invalid("holder_id is required")
	}
	u, err := s.store.GetUser(ctx, holderID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.TenantID != sess.TenantID()) {
		return invalid("holder_id names no user of this practice")
	}
	if err != nil {
		return err
	}
	if !mayHold(u.Role) {
		return invalid("the holder must be an admin or clinician (assistants do not join calls)")
	}
	return nil
}

// appointment returns an appointment of the session's practice; another
// practice's is ErrNotFound, as if it did not exist.
func (s *Service) appointment(ctx context.Context, sess Session, id string) (store.Appointment, error) {
	a, err := s.store.GetAppointment(ctx, id)
	if err != nil {
		return store.Appointment{}, err
	}
	if a.TenantID != sess.TenantID() {
		return store.Appointment{}, fmt.Errorf("appointment %s: %w", id, store.ErrNotFound)
	}
	return a, nil
}

// ListAppointments lists the practice's appointments overlapping [from, to).
func (s *Service) ListAppointments(ctx context.Context, sess Session, from, to time.Time) ([]AppointmentView, error) {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, invalid("from must be before to")
	}
	if !from.IsZero() && !to.IsZero() && to.Sub(from) > 62*24*time.Hour {
		return nil, invalid("from and to may be at most 62 days apart")
	}
	as, err := s.store.ListAppointments(ctx, sess.TenantID(), from, to)
	if err != nil {
		return nil, err
	}
	out := make([]AppointmentView, 0, len(as))
	for _, a := range as {
		out = append(out, appointmentView(a))
	}
	return out, nil
}

// AppointmentUpdate changes an appointment's ciphertext and holder.
type AppointmentUpdate struct {
	Sealed   string `json:"sealed"`
	HolderID string `json:"holder_id,omitempty"`
}

// UpdateAppointment stores new ciphertext (and a new holder).
func (s *Service) UpdateAppointment(ctx context.Context, sess Session, id string, up AppointmentUpdate) (AppointmentView, error) {
	if !mayEdit(sess.Role()) {
		return AppointmentView{}, ErrForbidden
	}
	if err := validSealed("sealed", up.Sealed, MaxSealed, true); err != nil {
		return AppointmentView{}, err
	}
	a, err := s.appointment(ctx, sess, id)
	if err != nil {
		return AppointmentView{}, err
	}
	if up.HolderID != "" && up.HolderID != a.HolderID {
		if err := s.checkHolder(ctx, sess, up.HolderID); err != nil {
			return AppointmentView{}, err
		}
		a.HolderID = up.HolderID
	}
	a.Sealed, a.UpdatedAt = up.Sealed, s.now().UTC()
	if err := s.store.UpdateAppointment(ctx, a); err != nil {
		return AppointmentView{}, err
	}
	return appointmentView(a), nil
}

// CancelAppointment deletes the room, so its links stop working, and
// marks the appointment cancelled.
func (s *Service) CancelAppointment(ctx context.Context, sess Session, id string) (AppointmentView, error) {
	if !mayEdit(sess.Role()) {
		return AppointmentView{}, ErrForbidden
	}
	return s.setStatus(ctx, sess, id, store.AppointmentCancelled)
}

// FinishAppointment marks an appointment done; its room stays open for
// the rest of its window (a patient may call back).
func (s *Service) FinishAppointment(ctx context.Context, sess Session, id string) (AppointmentView, error) {
	if !mayHold(sess.Role()) {
		return AppointmentView{}, ErrForbidden
	}
	return s.setStatus(ctx, sess, id, store.AppointmentDone)
}

func (s *Service) setStatus(ctx context.Context, sess Session, id, status string) (AppointmentView, error) {
	a, err := s.appointment(ctx, sess, id)
	if err != nil {
		return AppointmentView{}, err
	}
	if a.Status == store.AppointmentCancelled {
		return AppointmentView{}, invalid("the appointment is cancelled")
	}
	if status == store.AppointmentCancelled {
		if err := s.rooms.DeleteRoom(ctx, sess.TenantID(), a.RoomID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return AppointmentView{}, err
		}
	}
	a.Status, a.UpdatedAt = status, s.now().UTC()
	if err := s.store.UpdateAppointment(ctx, a); err != nil {
		return AppointmentView{}, err
	}
	s.log.Info("appointment "+status, "tenant", a.TenantID, "appointment", a.ID)
	return appointmentView(a), nil
}

// MoveAppointment gives a scheduled appointment, and its room, another
// window, asked for as at creation (a day in a time zone, or a start)
// and checked by the same access.ResolveWindow. The room keeps its
// participants: the links and codes already sent stay valid, but only
// in the new window.
func (s *Service) MoveAppointment(ctx context.Context, sess Session, id string, req protocol.WindowRequest) (AppointmentView, error) {
	if !mayEdit(sess.Role()) {
		return AppointmentView{}, ErrForbidden
	}
	a, err := s.appointment(ctx, sess, id)
	if err != nil {
		return AppointmentView{}, err
	}
	if a.Status != store.AppointmentScheduled {
		return AppointmentView{}, invalid("only a scheduled appointment can be moved; this one is %s", a.Status)
	}
	w, err := access.ResolveWindow(req, s.now())
	if err != nil {
		return AppointmentView{}, err
	}
	old := protocol.Window{StartsAt: a.StartsAt, EndsAt: a.EndsAt, TimeZone: a.TimeZone}
	moved := protocol.Window{StartsAt: w.Start.UTC(), EndsAt: w.End.UTC(), TimeZone: w.TimeZone}
	if err := s.rooms.MoveRoom(ctx, sess.TenantID(), a.RoomID, moved); err != nil {
		return AppointmentView{}, fmt.Errorf("move room of appointment %s: %w", id, err)
	}
	a.StartsAt, a.EndsAt, a.TimeZone, a.UpdatedAt = moved.StartsAt, moved.EndsAt, moved.TimeZone, s.now().UTC()
	if err := s.store.UpdateAppointment(ctx, a); err != nil {
		// The calendar would show the old window while the links
		// follow the new one: put the room back.
		if rerr := s.rooms.MoveRoom(ctx, sess.TenantID(), a.RoomID, old); rerr != nil {
			s.log.Error("move room of failed appointment move back", "appointment", a.ID, "room", a.RoomID, "err", rerr)
		}
		return AppointmentView{}, err
	}
	s.log.Info("appointment moved", "tenant", a.TenantID, "appointment", a.ID, "room", a.RoomID)
	return appointmentView(a), nil
}
