package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

var errKeepOne = errors.New("keep one admin")

// keepAdmin is the check package practice gives: some admin must remain.
func keepAdmin(after []store.User) error {
	for _, u := range after {
		if u.Role == "admin" {
			return nil
		}
	}
	return errKeepOne
}

// testPracticeUserAdmin holds role changes and removal to what the admin
// page relies on: another tenant's user is not found, a refused check
// changes nothing, and a removed user's sessions, devices and login are
// gone at once while the appointments they held stay.
func testPracticeUserAdmin(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	for _, id := range []string{"t1", "t2"} {
		if err := b.CreateTenant(ctx, store.Tenant{ID: id, Name: "Praxis " + id, CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []store.User{
		{ID: "anna", TenantID: "t1", Email: "anna@praxis.example", Name: "Anna", Role: "admin", CreatedAt: day},
		{ID: "ben", TenantID: "t1", Email: "ben@praxis.example", Name: "Ben", Role: "clinician", CreatedAt: day},
		{ID: "other", TenantID: "t2", Email: "o@praxis-b.example", Name: "Other", Role: "admin", CreatedAt: day},
	} {
		if err := b.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := b.SetUserRole(ctx, "t1", "anna", "clinician", keepAdmin); !errors.Is(err, errKeepOne) {
		t.Errorf("demoting the only admin: %v, want the check's error", err)
	}
	if u, _ := b.GetUser(ctx, "anna"); u.Role != "admin" {
		t.Errorf("after a refused demotion the role is %q", u.Role)
	}
	if _, err := b.SetUserRole(ctx, "t2", "ben", "admin", keepAdmin); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's user: %v, want ErrNotFound", err)
	}
	if _, err := b.DeleteUser(ctx, "t2", "ben", keepAdmin); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing another tenant's user: %v, want ErrNotFound", err)
	}
	if u, err := b.SetUserRole(ctx, "t1", "ben", "admin", keepAdmin); err != nil || u.Role != "admin" {
		t.Fatalf("promote: %+v %v", u, err)
	}
	if u, err := b.SetUserRole(ctx, "t1", "anna", "assistant", keepAdmin); err != nil || u.Role != "assistant" {
		t.Fatalf("demote with another admin left: %+v %v", u, err)
	}
	if u, _ := b.GetUser(ctx, "anna"); u.Role != "assistant" || u.Email != "anna@praxis.example" {
		t.Errorf("stored after demotion: %+v", u)
	}
	if _, err := b.DeleteUser(ctx, "t1", "ben", keepAdmin); !errors.Is(err, errKeepOne) {
		t.Errorf("removing the last admin: %v, want the check's error", err)
	}
	if _, err := b.GetUser(ctx, "ben"); err != nil {
		t.Errorf("after a refused removal: %v", err)
	}

	for _, h := range []string{"s1", "s2"} {
		if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash(h), UserID: "anna", TenantID: "t1", CreatedAt: day, ExpiresAt: day.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash("ben"), UserID: "ben", TenantID: "t1", CreatedAt: day, ExpiresAt: day.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateDevice(ctx, store.Device{ID: "d1", TenantID: "t1", UserID: "anna", Hash: hash("browser"), CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	held := store.Appointment{ID: "a1", TenantID: "t1", RoomID: "r1", HolderID: "anna", StartsAt: day, EndsAt: day.Add(24 * time.Hour), Status: store.AppointmentScheduled}
	if err := b.CreateAppointment(ctx, held); err != nil {
		t.Fatal(err)
	}
	if u, err := b.DeleteUser(ctx, "t1", "anna", keepAdmin); err != nil || u.ID != "anna" {
		t.Fatalf("remove: %+v %v", u, err)
	}
	for _, h := range []string{"s1", "s2"} {
		if _, err := b.LoginSessionByHash(ctx, hash(h)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s of the removed user: %v, want ErrNotFound", h, err)
		}
	}
	if _, err := b.GetDevice(ctx, "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device of the removed user: %v, want ErrNotFound", err)
	}
	if _, err := b.LoginSessionByHash(ctx, hash("ben")); err != nil {
		t.Errorf("another user's session went with the removed one: %v", err)
	}
	if _, err := b.UserByEmail(ctx, "anna@praxis.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("login of the removed user: %v, want ErrNotFound", err)
	}
	if _, err := b.GetUser(ctx, "anna"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed user: %v", err)
	}
	if us, _ := b.ListUsers(ctx, "t1"); len(us) != 1 || us[0].ID != "ben" {
		t.Errorf("users after removal: %+v", us)
	}
	if a, err := b.GetAppointment(ctx, "a1"); err != nil || a.HolderID != "anna" {
		t.Errorf("the removed user's appointment: %+v %v", a, err)
	}
	// The address is free for a new invitation.
	if err := b.CreateUser(ctx, store.User{ID: "anna2", TenantID: "t1", Email: "anna@praxis.example", Name: "Anna", Role: "clinician", CreatedAt: day}); err != nil {
		t.Errorf("re-using a removed user's address: %v", err)
	}
	if _, err := b.DeleteUser(ctx, "t1", "anna", keepAdmin); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing twice: %v, want ErrNotFound", err)
	}
}
