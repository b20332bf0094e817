package practice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// The waiting room as the practice sees it: who may let guests in, and
// what a waiting guest is told about the clinician. The waiting itself
// is the signaling hub's (signaling/lobby.go).

// ForLobby returns an appointment of the session's practice whose
// waiting room the user may run: admins and clinicians, not assistants,
// and not for a cancelled appointment.
func (s *Service) ForLobby(ctx context.Context, sess Session, id string) (store.Appointment, error) {
	if !mayHold(sess.Role()) {
		return store.Appointment{}, ErrForbidden
	}
	a, err := s.appointment(ctx, sess, id)
	if err != nil {
		return store.Appointment{}, err
	}
	if a.Status == store.AppointmentCancelled {
		return store.Appointment{}, invalid("the appointment is cancelled")
	}
	return a, nil
}

// Appointment returns an appointment of the session's practice.
func (s *Service) Appointment(ctx context.Context, sess Session, id string) (store.Appointment, error) {
	return s.appointment(ctx, sess, id)
}

// AppointmentOfRoom returns the appointment a room belongs to.
func (s *Service) AppointmentOfRoom(ctx context.Context, roomID string) (store.Appointment, error) {
	return s.store.AppointmentByRoom(ctx, roomID)
}

// Presence is what HostStatus needs to know of the live system.
type Presence interface {
	// Online tells whether a user has the workspace open.
	Online(userID string) bool
	// InRoom tells whether a participant is connected to a room.
	InRoom(roomID, participantID string) bool
}

// HostStatus tells a guest waiting in a room who holds the appointment
// and whether they are online (workspace open, or already in this
// room), in another call, or away.
func (s *Service) HostStatus(ctx context.Context, roomID string, p Presence) (protocol.Host, error) {
	a, err := s.store.AppointmentByRoom(ctx, roomID)
	if err != nil {
		return protocol.Host{Status: protocol.HostAway}, err
	}
	u, err := s.store.GetUser(ctx, a.HolderID)
	if err != nil {
		return protocol.Host{Status: protocol.HostAway}, fmt.Errorf("holder of room %s: %w", roomID, err)
	}
	host := protocol.Host{Name: u.Name, Status: protocol.HostAway}
	if p.InRoom(roomID, a.HostParticipantID) {
		host.Status = protocol.HostOnline
		return host, nil
	}
	now := s.now()
	others, err := s.store.ListAppointments(ctx, a.TenantID, now.Add(-24*time.Hour), now.Add(24*time.Hour))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return host, err
	}
	for _, o := range others {
		if o.HolderID == a.HolderID && o.RoomID != roomID && p.InRoom(o.RoomID, o.HostParticipantID) {
			host.Status = protocol.HostInCall
			return host, nil
		}
	}
	if p.Online(a.HolderID) {
		host.Status = protocol.HostOnline
	}
	return host, nil
}

// ActiveRooms lists the rooms of a practice's appointments around now
// (a day either side), for the workspace's live view.
func (s *Service) ActiveRooms(ctx context.Context, tenantID string) ([]store.Appointment, error) {
	now := s.now()
	return s.store.ListAppointments(ctx, tenantID, now.Add(-24*time.Hour), now.Add(24*time.Hour))
}

// RoomsOfHolder lists the rooms a user holds around now.
func (s *Service) RoomsOfHolder(ctx context.Context, tenantID, userID string) ([]string, error) {
	as, err := s.ActiveRooms(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range as {
		if a.HolderID == userID {
			out = append(out, a.RoomID)
		}
	}
	return out, nil
}
