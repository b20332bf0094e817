package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// testPasskeys holds passkey records to what passkey login relies on: one
// record per credential id, listed per user, removed with their user or
// practice; a ceremony is taken once and retention drops expired ones.
func testPasskeys(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	for _, tn := range []string{"t1", "t2"} {
		if err := b.CreateTenant(ctx, store.Tenant{ID: tn, Name: "Praxis", CreatedAt: day}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []store.User{
		{ID: "u1", TenantID: "t1", Email: "anna@praxis.example", Role: "admin", CreatedAt: day},
		{ID: "u2", TenantID: "t1", Email: "ben@praxis.example", Role: "admin", CreatedAt: day},
		{ID: "u3", TenantID: "t2", Email: "cem@other.example", Role: "admin", CreatedAt: day},
	} {
		if err := b.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	keys := []store.Passkey{
		{ID: "cred-a", TenantID: "t1", UserID: "u1", Credential: []byte(`{"a":1}`), WrappedKey: "v1.x", Label: "Laptop", CreatedAt: day},
		{ID: "cred-b", TenantID: "t1", UserID: "u1", Credential: []byte(`{"b":1}`), Label: "Key", CreatedAt: day.Add(time.Hour)},
		{ID: "cred-c", TenantID: "t1", UserID: "u2", Credential: []byte(`{"c":1}`), CreatedAt: day},
		{ID: "cred-d", TenantID: "t2", UserID: "u3", Credential: []byte(`{"d":1}`), CreatedAt: day},
	}
	for _, p := range keys {
		if err := b.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreatePasskey(ctx, store.Passkey{ID: "cred-a", TenantID: "t1", UserID: "u2"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a taken credential id: %v, want ErrExists", err)
	}
	if err := b.CreatePasskey(ctx, store.Passkey{ID: "cred-x", TenantID: "t2", UserID: "u1"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a passkey for a user of another practice: %v, want ErrNotFound", err)
	}
	list, err := b.ListPasskeys(ctx, "u1")
	if err != nil || len(list) != 2 || list[0].ID != "cred-a" || list[0].WrappedKey != "v1.x" || string(list[1].Credential) != `{"b":1}` {
		t.Fatalf("list of u1: %+v %v", list, err)
	}
	got := list[1]
	got.LastUsed, got.Credential = day.Add(2*time.Hour), []byte(`{"b":2}`)
	if err := b.UpdatePasskey(ctx, got); err != nil {
		t.Fatal(err)
	}
	if p, err := b.GetPasskey(ctx, "cred-b"); err != nil || !p.LastUsed.Equal(day.Add(2*time.Hour)) || string(p.Credential) != `{"b":2}` {
		t.Errorf("after update: %+v %v", p, err)
	}
	got.UserID = "u2"
	if err := b.UpdatePasskey(ctx, got); err == nil {
		t.Error("a passkey moved to another user")
	}
	if err := b.DeletePasskey(ctx, "cred-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetPasskey(ctx, "cred-b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted passkey: %v", err)
	}

	// A removed user's passkeys go with it; a removed practice's too.
	if _, err := b.DeleteUser(ctx, "t1", "u2", func([]store.User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetPasskey(ctx, "cred-c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("passkey of a removed user: %v", err)
	}
	if err := b.DeleteTenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetPasskey(ctx, "cred-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("passkey of a removed practice: %v", err)
	}
	if list, err := b.ListPasskeys(ctx, "u1"); err != nil || len(list) != 0 {
		t.Errorf("list after the practice went: %+v %v", list, err)
	}
	if _, err := b.GetPasskey(ctx, "cred-d"); err != nil {
		t.Errorf("another practice's passkey went too: %v", err)
	}

	// Ceremonies: taken once; retention drops the expired.
	for i, exp := range []time.Time{day.Add(5 * time.Minute), day.Add(time.Hour)} {
		c := store.PasskeyCeremony{Hash: hash(string(rune('a' + i))), Kind: "login", SessionData: []byte(`{}`), ExpiresAt: exp}
		if err := b.CreatePasskeyCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := b.TakePasskeyCeremony(ctx, hash("a")); err != nil || c.Kind != "login" {
		t.Fatalf("take: %+v %v", c, err)
	}
	if _, err := b.TakePasskeyCeremony(ctx, hash("a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a ceremony taken twice: %v", err)
	}
	if err := b.CreatePasskeyCeremony(ctx, store.PasskeyCeremony{Hash: hash("c"), Kind: "register", UserID: "u3",
		SessionData: []byte(`{}`), ExpiresAt: day.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.DeleteExpiredPasskeyCeremonies(ctx, day.Add(10*time.Minute)); err != nil || n != 1 {
		t.Errorf("expired ceremonies removed: %d %v, want 1", n, err)
	}
	if _, err := b.TakePasskeyCeremony(ctx, hash("b")); err != nil {
		t.Errorf("a live ceremony went: %v", err)
	}
}
