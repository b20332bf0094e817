package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

func testTenantLifecycle(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)

	beta := mustCreateTenant(t, b, "beta")
	alpha := mustCreateTenant(t, b, "alpha")

	got, err := b.GetTenant(ctx, "alpha")
	if err != nil || !reflect.DeepEqual(got, alpha) {
		t.Fatalf("GetTenant alpha = %+v, %v; want %+v", got, err, alpha)
	}
	wantErr(t, "CreateTenant duplicate", b.CreateTenant(ctx, store.Tenant{ID: "alpha"}), store.ErrExists)

	list, err := b.ListTenants(ctx)
	if err != nil || !reflect.DeepEqual(list, []store.Tenant{alpha, beta}) {
		t.Fatalf("ListTenants = %+v, %v; want alpha, beta", list, err)
	}

	// UpdateTenant changes name and quota but not when the tenant was created.
	update := store.Tenant{ID: "alpha", Name: "MVZ Alpha", MonthlyCallQuota: 5, CreatedAt: day.Add(time.Hour)}
	if err := b.UpdateTenant(ctx, update); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	want := store.Tenant{ID: "alpha", Name: "MVZ Alpha", MonthlyCallQuota: 5, CreatedAt: day}
	if got, err := b.GetTenant(ctx, "alpha"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetTenant after update = %+v, %v; want %+v", got, err, want)
	}
	wantErr(t, "UpdateTenant missing", b.UpdateTenant(ctx, store.Tenant{ID: "nobody"}), store.ErrNotFound)

	if err := b.DeleteTenant(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	_, err = b.GetTenant(ctx, "alpha")
	wantErr(t, "GetTenant deleted", err, store.ErrNotFound)
	wantErr(t, "DeleteTenant twice", b.DeleteTenant(ctx, "alpha"), store.ErrNotFound)
	if list, err := b.ListTenants(ctx); err != nil || !reflect.DeepEqual(list, []store.Tenant{beta}) {
		t.Fatalf("ListTenants after delete = %+v, %v; want beta", list, err)
	}
}

func testCreateTenantRejectsBadIDs(t *testing.T, open Opener) {
	b, _ := open(t)
	for _, id := range []string{"", "a/b"} {
		if err := b.CreateTenant(context.Background(), store.Tenant{ID: id}); err == nil {
			t.Errorf("CreateTenant(%q) succeeded, want error", id)
		}
	}
}

func testAPIKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateTenant(t, b, "beta")

	keys := []store.APIKey{
		{ID: "k-admin", TenantID: "", Hash: hash("admin"), Prefix: "ksl_ad", CreatedAt: day},
		// Created later but with a smaller id: listing must follow CreatedAt.
		{ID: "k-a1", TenantID: "alpha", Hash: hash("a1"), Prefix: "ksl_a1", CreatedAt: day.Add(time.Minute)},
		{ID: "k-a2", TenantID: "alpha", Hash: hash("a2"), Prefix: "ksl_a2", CreatedAt: day},
		{ID: "k-b1", TenantID: "beta", Hash: hash("b1"), Prefix: "ksl_b1", CreatedAt: day},
	}
	for _, k := range keys {
		if err := b.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey %s: %v", k.ID, err)
		}
	}

	for _, k := range keys {
		got, err := b.APIKeyByHash(ctx, k.Hash)
		if err != nil || !reflect.DeepEqual(got, k) {
			t.Errorf("APIKeyByHash(%s) = %+v, %v; want %+v", k.ID, got, err, k)
		}
	}
	if _, err := b.APIKeyByHash(ctx, hash("unknown")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("APIKeyByHash unknown: %v, want ErrNotFound", err)
	}

	listTests := []struct {
		tenant string
		want   []string
	}{
		{tenant: "", want: []string{"k-admin"}},
		{tenant: "alpha", want: []string{"k-a2", "k-a1"}},
		{tenant: "beta", want: []string{"k-b1"}},
		{tenant: "gamma", want: []string{}},
	}
	for _, tt := range listTests {
		got, err := b.ListAPIKeys(ctx, tt.tenant)
		ids := []string{}
		for _, k := range got {
			ids = append(ids, k.ID)
		}
		if err != nil || !slices.Equal(ids, tt.want) {
			t.Errorf("ListAPIKeys(%q) = %v, %v; want %v", tt.tenant, ids, err, tt.want)
		}
	}

	createErrors := []struct {
		name string
		key  store.APIKey
		want error
	}{
		{name: "duplicate id", key: store.APIKey{ID: "k-a1", TenantID: "alpha", Hash: hash("fresh")}, want: store.ErrExists},
		{name: "duplicate hash", key: store.APIKey{ID: "k-new", TenantID: "alpha", Hash: hash("a1")}, want: store.ErrExists},
		{name: "unknown tenant", key: store.APIKey{ID: "k-new", TenantID: "gamma", Hash: hash("fresh")}, want: store.ErrNotFound},
	}
	for _, tt := range createErrors {
		wantErr(t, "CreateAPIKey "+tt.name, b.CreateAPIKey(ctx, tt.key), tt.want)
	}
	if _, err := b.APIKeyByHash(ctx, hash("fresh")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed CreateAPIKey left its hash behind: %v", err)
	}

	// A tenant cannot revoke another tenant's key, nor an admin key.
	wantErr(t, "DeleteAPIKey other tenant", b.DeleteAPIKey(ctx, "beta", "k-a1"), store.ErrNotFound)
	wantErr(t, "DeleteAPIKey admin key as tenant", b.DeleteAPIKey(ctx, "alpha", "k-admin"), store.ErrNotFound)
	if _, err := b.APIKeyByHash(ctx, hash("a1")); err != nil {
		t.Fatalf("key revoked by the wrong tenant: %v", err)
	}

	if err := b.DeleteAPIKey(ctx, "alpha", "k-a1"); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	_, err := b.APIKeyByHash(ctx, hash("a1"))
	wantErr(t, "APIKeyByHash revoked", err, store.ErrNotFound)
	wantErr(t, "DeleteAPIKey twice", b.DeleteAPIKey(ctx, "alpha", "k-a1"), store.ErrNotFound)
	if got, err := b.ListAPIKeys(ctx, "alpha"); err != nil || len(got) != 1 || got[0].ID != "k-a2" {
		t.Fatalf("ListAPIKeys after revoke = %+v, %v; want k-a2", got, err)
	}
	// The revoked hash is free again.
	if err := b.CreateAPIKey(ctx, store.APIKey{ID: "k-a3", TenantID: "alpha", Hash: hash("a1")}); err != nil {
		t.Fatalf("CreateAPIKey reusing revoked hash: %v", err)
	}
}

// testRehashAPIKey: after a pepper rotation a key moves to its new
// hash; the old one finds nothing, and a stale rehash changes nothing.
func testRehashAPIKey(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	k := store.APIKey{ID: "key1", Hash: []byte("old-hash"), Prefix: "ksk_ab", CreatedAt: time.Now()}
	if err := b.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("wrong"), []byte("new-hash")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rehash from a hash the key does not have = %v, want ErrNotFound", err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("old-hash"), []byte("new-hash")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.APIKeyByHash(ctx, []byte("old-hash")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old hash after rehash: %v, want ErrNotFound", err)
	}
	got, err := b.APIKeyByHash(ctx, []byte("new-hash"))
	if err != nil || got.ID != "key1" || string(got.Hash) != "new-hash" {
		t.Fatalf("new hash after rehash = %+v, %v", got, err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("old-hash"), []byte("newer")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second rehash from the old hash = %v, want ErrNotFound", err)
	}
}
