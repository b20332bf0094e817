package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/store"
)

// RelayRevoked tells whether a TURN credential issued to participant of
// room no longer holds: the room was deleted (by its tenant, the
// practice or retention), its window is not open now (it ended or was
// moved), or the participant is no longer in it. The embedded relay asks
// on every authenticated TURN request and for its live allocations, so a
// revoked link stops relaying although its credential runs until the
// window's end plus grace. An error means the store could not tell.
func (s *Service) RelayRevoked(ctx context.Context, roomID, participantID string) (bool, error) {
	r, err := s.store.GetRoom(ctx, roomID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("relay credential: %w", err)
	}
	if _, ok := r.Participant(participantID); !ok {
		return true, nil
	}
	return (access.Window{Start: r.StartsAt, End: r.EndsAt}).At(s.now()) != access.Open, nil
}
