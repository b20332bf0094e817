package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

func testCancelledContext(t *testing.T, open Opener) {
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"CreateTenant", func() error { return b.CreateTenant(ctx, store.Tenant{ID: "beta"}) }},
		{"GetTenant", func() error { return second(b.GetTenant(ctx, "alpha")) }},
		{"ListTenants", func() error { return second(b.ListTenants(ctx)) }},
		{"UpdateTenant", func() error { return b.UpdateTenant(ctx, store.Tenant{ID: "alpha"}) }},
		{"DeleteTenant", func() error { return b.DeleteTenant(ctx, "alpha") }},
		{"CreateAPIKey", func() error { return b.CreateAPIKey(ctx, store.APIKey{ID: "k", Hash: hash("k")}) }},
		{"APIKeyByHash", func() error { return second(b.APIKeyByHash(ctx, hash("k"))) }},
		{"ListAPIKeys", func() error { return second(b.ListAPIKeys(ctx, "")) }},
		{"DeleteAPIKey", func() error { return b.DeleteAPIKey(ctx, "", "k") }},
		{"CreateRoom", func() error { return b.CreateRoom(ctx, testRoom("alpha", "r2", day, day)) }},
		{"GetRoom", func() error { return second(b.GetRoom(ctx, "r1")) }},
		{"ListRooms", func() error { return second(b.ListRooms(ctx, "alpha", time.Time{}, time.Time{})) }},
		{"DeleteRoom", func() error { return b.DeleteRoom(ctx, "r1") }},
		{"LookupCredential", func() error { return second(b.LookupCredential(ctx, hash("r1/host/code"))) }},
		{"DeleteRoomsEndedBefore", func() error { return second(b.DeleteRoomsEndedBefore(ctx, day.Add(48*time.Hour))) }},
		{"CountCall", func() error { return second(b.CountCall(ctx, "r1", store.Month(day))) }},
		{"CallsInMonth", func() error { return second(b.CallsInMonth(ctx, "alpha", store.Month(day))) }},
		{"RehashAPIKey", func() error { return b.RehashAPIKey(ctx, "k", hash("k"), hash("k2")) }},
	}
	for _, c := range calls {
		wantErr(t, c.name, c.call(), context.Canceled)
	}

	// None of the writes happened.
	bg := context.Background()
	if _, err := b.GetRoom(bg, "r1"); err != nil {
		t.Errorf("room r1 after cancelled deletes: %v", err)
	}
	if _, err := b.GetTenant(bg, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant beta after cancelled create: %v", err)
	}
	if n, err := b.CallsInMonth(bg, "alpha", store.Month(day)); err != nil || n != 0 {
		t.Errorf("CallsInMonth after cancelled CountCall = %d, %v; want 0", n, err)
	}
}
