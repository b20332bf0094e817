package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// testRetentionFollowsMovedWindows: retention goes by a room's or an
// appointment's window as it is now, not as it was made. A consultation
// moved to next week survives tonight's retention; one moved into the
// past goes with it.
func testRetentionFollowsMovedWindows(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	cutoff := day.Add(2 * time.Hour)
	later := day.Add(72 * time.Hour)

	mustCreateRoom(t, b, testRoom("alpha", "postponed", day, day.Add(time.Hour)))
	mustCreateRoom(t, b, testRoom("alpha", "brought-forward", later, later.Add(time.Hour)))
	for _, a := range []store.Appointment{
		{ID: "a-postponed", TenantID: "alpha", RoomID: "postponed", StartsAt: day, EndsAt: day.Add(time.Hour), Status: store.AppointmentScheduled},
		{ID: "a-brought-forward", TenantID: "alpha", RoomID: "brought-forward", StartsAt: later, EndsAt: later.Add(time.Hour), Status: store.AppointmentScheduled},
	} {
		if err := b.CreateAppointment(ctx, a); err != nil {
			t.Fatalf("CreateAppointment %s: %v", a.ID, err)
		}
	}

	move := func(room, appt string, to time.Time) {
		t.Helper()
		if err := b.SetRoomWindow(ctx, room, to, to.Add(time.Hour), "Europe/Berlin"); err != nil {
			t.Fatalf("SetRoomWindow %s: %v", room, err)
		}
		a, err := b.GetAppointment(ctx, appt)
		if err != nil {
			t.Fatal(err)
		}
		a.StartsAt, a.EndsAt = to, to.Add(time.Hour)
		if err := b.UpdateAppointment(ctx, a); err != nil {
			t.Fatalf("UpdateAppointment %s: %v", appt, err)
		}
	}
	move("postponed", "a-postponed", later)
	move("brought-forward", "a-brought-forward", day.Add(-time.Hour))

	if n, err := b.DeleteRoomsEndedBefore(ctx, cutoff); err != nil || n != 1 {
		t.Fatalf("DeleteRoomsEndedBefore = %d, %v; want 1", n, err)
	}
	if n, err := b.DeleteExpired(ctx, cutoff); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if _, err := b.GetRoom(ctx, "postponed"); err != nil {
		t.Errorf("postponed room after retention: %v", err)
	}
	if _, err := b.GetAppointment(ctx, "a-postponed"); err != nil {
		t.Errorf("postponed appointment after retention: %v", err)
	}
	if _, err := b.GetRoom(ctx, "brought-forward"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("room moved into the past after retention: %v, want ErrNotFound", err)
	}
	if _, err := b.AppointmentByRoom(ctx, "brought-forward"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("appointment moved into the past after retention: %v, want ErrNotFound", err)
	}
}
