// Package storetest is the contract of package store: one suite of
// behaviour tests that every implementation of store.Store passes, run
// by the bbolt store's tests (package store) and the Redis store's
// (package store/redis). A behaviour of the Store interface is tested
// here, once; what only one implementation has (bbolt's file and its
// lock, Redis's key names) is tested beside it.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

// Opener makes a fresh, empty store for one test and closes it when the
// test ends. reopen closes s and opens the same data again, as a restart
// of the server would, and returns the new store.
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Run runs the whole contract against the stores open makes, each test
// as a subtest with a store of its own.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"TenantLifecycle", testTenantLifecycle},
		{"CreateTenantRejectsBadIDs", testCreateTenantRejectsBadIDs},
		{"APIKeys", testAPIKeys},
		{"RehashAPIKey", testRehashAPIKey},
		{"RoomCreateAndLookup", testRoomCreateAndLookup},
		{"CreateRoomConflicts", testCreateRoomConflicts},
		{"ListRoomsOverlap", testListRoomsOverlap},
		{"SetRoomWindow", testSetRoomWindow},
		{"DeleteRoomRemovesCredentials", testDeleteRoomRemovesCredentials},
		{"CountCallOncePerRoomAcrossRestart", testCountCallOncePerRoomAcrossRestart},
		{"CountCallConcurrent", testCountCallConcurrent},
		{"DeleteTenantRemovesEverything", testDeleteTenantRemovesEverything},
		{"DeleteRoomsEndedBefore", testDeleteRoomsEndedBefore},
		{"RetentionFollowsMovedWindows", testRetentionFollowsMovedWindows},
		{"CancelledContext", testCancelledContext},
		{"PracticeRecords", testPracticeRecords},
		{"PracticeUserAdmin", testPracticeUserAdmin},
		{"Devices", testDevices},
		{"DeleteTenantRemovesPractice", testDeleteTenantRemovesPractice},
		{"Passkeys", testPasskeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open) })
	}
}

// day is the reference time of these tests: a Tuesday morning in UTC.
var day = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// hash stands in for package access: tests need distinct, realistic hashes,
// not real tokens.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustCreateTenant(t *testing.T, b store.Store, id string) store.Tenant {
	t.Helper()
	tn := store.Tenant{ID: id, Name: "Praxis " + id, MonthlyCallQuota: 100, CreatedAt: day}
	if err := b.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("CreateTenant %s: %v", id, err)
	}
	return tn
}

// testRoom is a two-party consultation with a host and a guest, each with a
// link token and a short code derived from the room id.
func testRoom(tenantID, id string, starts, ends time.Time) store.Room {
	return store.Room{
		ID: id, TenantID: tenantID, Mode: "p2p", Capacity: 2,
		StartsAt: starts, EndsAt: ends, TimeZone: "Europe/Berlin", CreatedAt: day,
		Participants: []store.Participant{
			{ID: "host", Role: "host", Label: "Dr. A", TokenHash: hash(id + "/host/token"), CodeHash: hash(id + "/host/code")},
			{ID: "guest", Role: "guest", Label: "Patient", TokenHash: hash(id + "/guest/token"), CodeHash: hash(id + "/guest/code")},
		},
	}
}

func mustCreateRoom(t *testing.T, b store.Store, r store.Room) store.Room {
	t.Helper()
	if err := b.CreateRoom(context.Background(), r); err != nil {
		t.Fatalf("CreateRoom %s: %v", r.ID, err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func roomIDs(rooms []store.Room) []string {
	ids := []string{}
	for _, r := range rooms {
		ids = append(ids, r.ID)
	}
	return ids
}

// second returns the error of a two-value call, for tables of checks.
func second[T any](_ T, err error) error { return err }
