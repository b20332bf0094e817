package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// testDevices holds device records to what device approval relies on:
// one record per user and browser, revoking a device ends the sessions
// made on it and no other, retention drops old pending and unused
// devices, and settings default to approval on.
func testDevices(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	if err := b.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Praxis", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateUser(ctx, store.User{ID: "u1", TenantID: "t1", Email: "anna@praxis.example", Role: "admin", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	laptop := store.Device{ID: "d1", TenantID: "t1", UserID: "u1", Hash: hash("laptop"), Label: "Firefox on Linux",
		Approved: true, CreatedAt: day, LastLogin: day}
	tablet := store.Device{ID: "d2", TenantID: "t1", UserID: "u1", Hash: hash("tablet"), Label: "Safari on iPadOS",
		Code: "482913", CreatedAt: day.Add(time.Hour)}
	for _, d := range []store.Device{laptop, tablet} {
		if err := b.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateDevice(ctx, store.Device{ID: "d3", TenantID: "t1", UserID: "u1", Hash: hash("laptop")}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second record for one user's browser: %v, want ErrExists", err)
	}
	if err := b.CreateDevice(ctx, store.Device{ID: "d4", TenantID: "nope", UserID: "u1", Hash: hash("x")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device of an unknown tenant: %v, want ErrNotFound", err)
	}
	got, err := b.DeviceByHash(ctx, "u1", hash("tablet"))
	if err != nil || got.ID != "d2" || got.Code != "482913" || got.Approved {
		t.Errorf("device by hash: %+v %v", got, err)
	}
	if _, err := b.DeviceByHash(ctx, "u2", hash("tablet")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another user's lookup of the same browser: %v, want ErrNotFound", err)
	}
	got.Approved, got.Code, got.ApprovedBy = true, "", "u1"
	if err := b.UpdateDevice(ctx, got); err != nil {
		t.Fatal(err)
	}
	moved := got
	moved.UserID = "u2"
	if err := b.UpdateDevice(ctx, moved); err == nil {
		t.Error("a device moved to another user")
	}
	if list, err := b.ListDevices(ctx, "t1"); err != nil || len(list) != 2 || list[0].ID != "d1" || !list[1].Approved {
		t.Errorf("list: %+v %v", list, err)
	}

	for h, dev := range map[string]string{"s1": "d1", "s2": "d2", "s3": "d2"} {
		if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash(h), UserID: "u1", TenantID: "t1", DeviceID: dev,
			CreatedAt: day, ExpiresAt: day.Add(12 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteDevice(ctx, "d2"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"s2", "s3"} {
		if _, err := b.LoginSessionByHash(ctx, hash(h)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s on the revoked device: %v, want gone", h, err)
		}
	}
	if _, err := b.LoginSessionByHash(ctx, hash("s1")); err != nil {
		t.Errorf("session on another device after a revoke: %v", err)
	}
	if _, err := b.DeviceByHash(ctx, "u1", hash("tablet")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked device by hash: %v", err)
	}

	pending := store.Device{ID: "d5", TenantID: "t1", UserID: "u1", Hash: hash("phone"), Code: "1", CreatedAt: day}
	if err := b.CreateDevice(ctx, pending); err != nil {
		t.Fatal(err)
	}
	n, err := b.DeleteStaleDevices(ctx, day.Add(time.Minute), day.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("stale devices: %d %v, want the pending one", n, err)
	}
	if _, err := b.GetDevice(ctx, "d1"); err != nil {
		t.Errorf("an approved device in use went: %v", err)
	}
	if n, _ := b.DeleteStaleDevices(ctx, day, day.Add(time.Minute)); n != 1 {
		t.Errorf("unused devices removed: %d, want 1", n)
	}

	if s, err := b.Settings(ctx, "t1"); err != nil || s.DeviceApprovalOff {
		t.Errorf("default settings: %+v %v", s, err)
	}
	if err := b.SetSettings(ctx, "t1", store.PracticeSettings{DeviceApprovalOff: true}); err != nil {
		t.Fatal(err)
	}
	if s, _ := b.Settings(ctx, "t1"); !s.DeviceApprovalOff {
		t.Error("settings did not keep")
	}
	if err := b.SetSettings(ctx, "nope", store.PracticeSettings{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settings of an unknown tenant: %v", err)
	}
}

// testDeleteTenantRemovesPractice: a deleted practice leaves no user,
// login, device, setup link or appointment behind, and another
// practice's records stay. A second first-user link is spent once the
// practice has its first user.
func testDeleteTenantRemovesPractice(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	for _, id := range []string{"t1", "t2"} {
		if err := b.CreateTenant(ctx, store.Tenant{ID: id, Name: id, CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
		for i, h := range []string{"first", "second"} {
			inv := store.Invite{Hash: hash(id + h), TenantID: id, Role: "admin", First: true, CreatedAt: day, ExpiresAt: day.Add(time.Hour)}
			if err := b.CreateInvite(ctx, inv); err != nil {
				t.Fatal(err)
			}
			err := b.UseInvite(ctx, inv.Hash, store.User{ID: id + "u" + h, TenantID: id, Email: h + "@" + id + ".example", Name: "Dr. " + id, CreatedAt: day})
			if i == 1 && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a second first-user link of %s: %v, want ErrNotFound", id, err)
			}
		}
		u := id + "ufirst"
		if err := b.CreateDevice(ctx, store.Device{ID: id + "d", TenantID: id, UserID: u, Hash: hash(id + "dev"), Approved: true, CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateLoginSession(ctx, store.LoginSession{Hash: hash(id + "s"), UserID: u, TenantID: id, DeviceID: id + "d", CreatedAt: day, ExpiresAt: day.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateInvite(ctx, store.Invite{Hash: hash(id + "inv"), TenantID: id, Role: "clinician", CreatedAt: day, ExpiresAt: day.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateAppointment(ctx, store.Appointment{ID: id + "a", TenantID: id, RoomID: id + "r", HolderID: u, StartsAt: day, EndsAt: day.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetSettings(ctx, id, store.PracticeSettings{DeviceApprovalOff: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteTenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UserByEmail(ctx, "first@t1.example"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user of the deleted practice: %v", err)
	}
	if _, err := b.LoginSessionByHash(ctx, hash("t1s")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session: %v", err)
	}
	if _, err := b.GetDevice(ctx, "t1d"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("device: %v", err)
	}
	if _, err := b.GetInvite(ctx, hash("t1inv")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("setup link: %v", err)
	}
	if _, err := b.AppointmentByRoom(ctx, "t1r"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("appointment: %v", err)
	}
	if s, _ := b.Settings(ctx, "t1"); s.DeviceApprovalOff {
		t.Error("settings of the deleted practice stay")
	}
	if _, err := b.UserByEmail(ctx, "first@t2.example"); err != nil {
		t.Errorf("the other practice's user: %v", err)
	}
	if _, err := b.LoginSessionByHash(ctx, hash("t2s")); err != nil {
		t.Errorf("the other practice's session: %v", err)
	}
	if _, err := b.AppointmentByRoom(ctx, "t2r"); err != nil {
		t.Errorf("the other practice's appointment: %v", err)
	}
}
