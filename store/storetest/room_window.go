package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// testSetRoomWindow: moving a room keeps its participants and
// credentials, and changes only the window.
func testSetRoomWindow(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	if err := b.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Praxis", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	r := testRoom("t1", "r1", day, day.Add(24*time.Hour))
	if err := b.CreateRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	later := day.Add(48 * time.Hour)
	if err := b.SetRoomWindow(ctx, "r1", later, later.Add(24*time.Hour), "America/New_York"); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetRoom(ctx, "r1")
	if err != nil || !got.StartsAt.Equal(later) || !got.EndsAt.Equal(later.Add(24*time.Hour)) || got.TimeZone != "America/New_York" {
		t.Fatalf("moved room: %+v %v", got, err)
	}
	if len(got.Participants) != len(r.Participants) {
		t.Errorf("participants after the move: %d, want %d", len(got.Participants), len(r.Participants))
	}
	if c, err := b.LookupCredential(ctx, r.Participants[1].TokenHash); err != nil || c.RoomID != "r1" {
		t.Errorf("the guest's link after the move: %+v %v", c, err)
	}
	if err := b.SetRoomWindow(ctx, "nope", later, later.Add(time.Hour), "UTC"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("moving an unknown room: %v", err)
	}
}
