package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// testPracticeRecords holds the workspace's records to what package
// practice relies on: one user per login, a setup link used once, the
// appointment of a room, logout everywhere, and retention that removes
// ended appointments, expired links and sessions and nothing else.
func testPracticeRecords(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	if err := b.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Praxis", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	u := store.User{ID: "u1", TenantID: "t1", Email: "anna@praxis.example", Name: "Dr. Anna Berg", Role: "admin", CreatedAt: day}
	inv := store.Invite{Hash: hash("setup"), TenantID: "t1", Role: "admin", First: true, CreatedAt: day, ExpiresAt: day.Add(time.Hour)}
	if err := b.CreateInvite(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if err := b.UseInvite(ctx, inv.Hash, u); err != nil {
		t.Fatalf("use invite: %v", err)
	}
	if err := b.UseInvite(ctx, inv.Hash, store.User{ID: "u2", TenantID: "t1", Email: "x@praxis.example"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second use of an invite: %v, want ErrNotFound", err)
	}
	if err := b.CreateUser(ctx, store.User{ID: "u3", TenantID: "t1", Email: "anna@praxis.example"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second user with the same login: %v, want ErrExists", err)
	}
	if got, err := b.UserByEmail(ctx, "anna@praxis.example"); err != nil || got.ID != "u1" {
		t.Errorf("user by e-mail: %+v %v", got, err)
	}
	if has, _ := b.HasUsers(ctx, "t1"); !has {
		t.Error("HasUsers: false")
	}

	for _, h := range []string{"s1", "s2"} {
		if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash(h), UserID: "u1", TenantID: "t1", CreatedAt: day, ExpiresAt: day.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteUserSessions(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LoginSessionByHash(ctx, hash("s2")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after logout everywhere: %v", err)
	}

	ended := store.Appointment{ID: "a1", TenantID: "t1", RoomID: "r1", HolderID: "u1", StartsAt: day.Add(-48 * time.Hour), EndsAt: day.Add(-24 * time.Hour), Status: store.AppointmentDone}
	today := store.Appointment{ID: "a2", TenantID: "t1", RoomID: "r2", HolderID: "u1", StartsAt: day, EndsAt: day.Add(24 * time.Hour), Status: store.AppointmentScheduled}
	for _, a := range []store.Appointment{ended, today} {
		if err := b.CreateAppointment(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.AppointmentByRoom(ctx, "r2"); err != nil || got.ID != "a2" {
		t.Errorf("appointment of room r2: %+v %v", got, err)
	}
	if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash("live"), UserID: "u1", TenantID: "t1", CreatedAt: day, ExpiresAt: day.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateInvite(ctx, store.Invite{Hash: hash("old"), TenantID: "t1", Role: "clinician", CreatedAt: day.Add(-8 * 24 * time.Hour), ExpiresAt: day.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := b.DeleteExpired(ctx, day)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired: %d, %v; want 1", n, err)
	}
	if _, err := b.GetAppointment(ctx, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ended appointment kept: %v", err)
	}
	if _, err := b.AppointmentByRoom(ctx, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ended appointment's room index kept: %v", err)
	}
	if _, err := b.GetInvite(ctx, hash("old")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired invite kept: %v", err)
	}
	if list, _ := b.ListAppointments(ctx, "t1", time.Time{}, time.Time{}); len(list) != 1 || list[0].ID != "a2" {
		t.Errorf("left after retention: %+v", list)
	}
	if _, err := b.LoginSessionByHash(ctx, hash("live")); err != nil {
		t.Errorf("live session removed: %v", err)
	}
}
