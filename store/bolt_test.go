package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// day is the reference time of these tests: a Tuesday morning in UTC.
var day = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// hash stands in for package access: tests need distinct, realistic hashes,
// not real tokens.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// openTestBolt opens a store in a fresh directory and closes it when the test
// ends. It returns the path so tests can reopen the same file.
func openTestBolt(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "konsil.db")
	return openBoltAt(t, path), path
}

func openBoltAt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// reopen closes b and opens the same file again, as a restart would.
func reopen(t *testing.T, b *Bolt, path string) *Bolt {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openBoltAt(t, path)
}

func mustCreateTenant(t *testing.T, b *Bolt, id string) Tenant {
	t.Helper()
	tn := Tenant{ID: id, Name: "Praxis " + id, MonthlyCallQuota: 100, CreatedAt: day}
	if err := b.CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("CreateTenant %s: %v", id, err)
	}
	return tn
}

// testRoom is a two-party consultation with a host and a guest, each with a
// link token and a short code derived from the room id.
func testRoom(tenantID, id string, starts, ends time.Time) Room {
	return Room{
		ID: id, TenantID: tenantID, Mode: "p2p", Capacity: 2,
		StartsAt: starts, EndsAt: ends, TimeZone: "Europe/Berlin", CreatedAt: day,
		Participants: []Participant{
			{ID: "host", Role: "host", Label: "Dr. A", TokenHash: hash(id + "/host/token"), CodeHash: hash(id + "/host/code")},
			{ID: "guest", Role: "guest", Label: "Patient", TokenHash: hash(id + "/guest/token"), CodeHash: hash(id + "/guest/code")},
		},
	}
}

func mustCreateRoom(t *testing.T, b *Bolt, r Room) Room {
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

func roomIDs(rooms []Room) []string {
	ids := []string{}
	for _, r := range rooms {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestBoltTenantLifecycle(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)

	beta := mustCreateTenant(t, b, "beta")
	alpha := mustCreateTenant(t, b, "alpha")

	got, err := b.GetTenant(ctx, "alpha")
	if err != nil || !reflect.DeepEqual(got, alpha) {
		t.Fatalf("GetTenant alpha = %+v, %v; want %+v", got, err, alpha)
	}
	wantErr(t, "CreateTenant duplicate", b.CreateTenant(ctx, Tenant{ID: "alpha"}), ErrExists)

	list, err := b.ListTenants(ctx)
	if err != nil || !reflect.DeepEqual(list, []Tenant{alpha, beta}) {
		t.Fatalf("ListTenants = %+v, %v; want alpha, beta", list, err)
	}

	// UpdateTenant changes name and quota but not when the tenant was created.
	update := Tenant{ID: "alpha", Name: "MVZ Alpha", MonthlyCallQuota: 5, CreatedAt: day.Add(time.Hour)}
	if err := b.UpdateTenant(ctx, update); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	want := Tenant{ID: "alpha", Name: "MVZ Alpha", MonthlyCallQuota: 5, CreatedAt: day}
	if got, err := b.GetTenant(ctx, "alpha"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetTenant after update = %+v, %v; want %+v", got, err, want)
	}
	wantErr(t, "UpdateTenant missing", b.UpdateTenant(ctx, Tenant{ID: "nobody"}), ErrNotFound)

	if err := b.DeleteTenant(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	_, err = b.GetTenant(ctx, "alpha")
	wantErr(t, "GetTenant deleted", err, ErrNotFound)
	wantErr(t, "DeleteTenant twice", b.DeleteTenant(ctx, "alpha"), ErrNotFound)
	if list, err := b.ListTenants(ctx); err != nil || !reflect.DeepEqual(list, []Tenant{beta}) {
		t.Fatalf("ListTenants after delete = %+v, %v; want beta", list, err)
	}
}

func TestBoltCreateTenantRejectsBadIDs(t *testing.T) {
	b, _ := openTestBolt(t)
	for _, id := range []string{"", "a/b"} {
		if err := b.CreateTenant(context.Background(), Tenant{ID: id}); err == nil {
			t.Errorf("CreateTenant(%q) succeeded, want error", id)
		}
	}
}

func TestBoltAPIKeys(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateTenant(t, b, "beta")

	keys := []APIKey{
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
	if _, err := b.APIKeyByHash(ctx, hash("unknown")); !errors.Is(err, ErrNotFound) {
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
		key  APIKey
		want error
	}{
		{name: "duplicate id", key: APIKey{ID: "k-a1", TenantID: "alpha", Hash: hash("fresh")}, want: ErrExists},
		{name: "duplicate hash", key: APIKey{ID: "k-new", TenantID: "alpha", Hash: hash("a1")}, want: ErrExists},
		{name: "unknown tenant", key: APIKey{ID: "k-new", TenantID: "gamma", Hash: hash("fresh")}, want: ErrNotFound},
	}
	for _, tt := range createErrors {
		wantErr(t, "CreateAPIKey "+tt.name, b.CreateAPIKey(ctx, tt.key), tt.want)
	}
	if _, err := b.APIKeyByHash(ctx, hash("fresh")); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed CreateAPIKey left its hash behind: %v", err)
	}

	// A tenant cannot revoke another tenant's key, nor an admin key.
	wantErr(t, "DeleteAPIKey other tenant", b.DeleteAPIKey(ctx, "beta", "k-a1"), ErrNotFound)
	wantErr(t, "DeleteAPIKey admin key as tenant", b.DeleteAPIKey(ctx, "alpha", "k-admin"), ErrNotFound)
	if _, err := b.APIKeyByHash(ctx, hash("a1")); err != nil {
		t.Fatalf("key revoked by the wrong tenant: %v", err)
	}

	if err := b.DeleteAPIKey(ctx, "alpha", "k-a1"); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	_, err := b.APIKeyByHash(ctx, hash("a1"))
	wantErr(t, "APIKeyByHash revoked", err, ErrNotFound)
	wantErr(t, "DeleteAPIKey twice", b.DeleteAPIKey(ctx, "alpha", "k-a1"), ErrNotFound)
	if got, err := b.ListAPIKeys(ctx, "alpha"); err != nil || len(got) != 1 || got[0].ID != "k-a2" {
		t.Fatalf("ListAPIKeys after revoke = %+v, %v; want k-a2", got, err)
	}
	// The revoked hash is free again.
	if err := b.CreateAPIKey(ctx, APIKey{ID: "k-a3", TenantID: "alpha", Hash: hash("a1")}); err != nil {
		t.Fatalf("CreateAPIKey reusing revoked hash: %v", err)
	}
}

func TestBoltRoomCreateAndLookup(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	room := testRoom("alpha", "r1", day, day.Add(24*time.Hour))
	// A participant without a code (link only) must not index an empty hash.
	room.Participants = append(room.Participants, Participant{ID: "obs", Role: "guest", TokenHash: hash("r1/obs/token")})
	mustCreateRoom(t, b, room)

	got, err := b.GetRoom(ctx, "r1")
	if err != nil || !reflect.DeepEqual(got, room) {
		t.Fatalf("GetRoom = %+v, %v\nwant %+v", got, err, room)
	}
	_, err = b.GetRoom(ctx, "r2")
	wantErr(t, "GetRoom missing", err, ErrNotFound)

	lookups := []struct {
		name        string
		hash        []byte
		participant string
	}{
		{name: "host token", hash: room.Participants[0].TokenHash, participant: "host"},
		{name: "host code", hash: room.Participants[0].CodeHash, participant: "host"},
		{name: "guest token", hash: room.Participants[1].TokenHash, participant: "guest"},
		{name: "guest code", hash: room.Participants[1].CodeHash, participant: "guest"},
		{name: "observer token", hash: room.Participants[2].TokenHash, participant: "obs"},
	}
	for _, tt := range lookups {
		want := Credential{RoomID: "r1", ParticipantID: tt.participant, Hash: tt.hash}
		got, err := b.LookupCredential(ctx, tt.hash)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("LookupCredential(%s) = %+v, %v; want %+v", tt.name, got, err, want)
		}
	}
	for _, h := range [][]byte{hash("unknown"), {}, nil} {
		_, err := b.LookupCredential(ctx, h)
		wantErr(t, "LookupCredential unknown", err, ErrNotFound)
	}
}

func TestBoltCreateRoomConflicts(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	existing := mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))

	tests := []struct {
		name   string
		modify func(r *Room)
		want   error
	}{
		{name: "same room id", modify: func(r *Room) { r.ID = "r1" }, want: ErrExists},
		{name: "token hash of another room", modify: func(r *Room) {
			r.Participants[1].TokenHash = existing.Participants[0].TokenHash
		}, want: ErrExists},
		{name: "code hash of another room", modify: func(r *Room) {
			r.Participants[1].CodeHash = existing.Participants[1].CodeHash
		}, want: ErrExists},
		{name: "hash repeated within the room", modify: func(r *Room) {
			r.Participants[1].CodeHash = r.Participants[0].TokenHash
		}, want: ErrExists},
		{name: "participant id repeated", modify: func(r *Room) { r.Participants[1].ID = "host" }, want: ErrExists},
		{name: "unknown tenant", modify: func(r *Room) { r.TenantID = "gamma" }, want: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh := testRoom("alpha", "r2", day, day.Add(time.Hour))
			tt.modify(&fresh)
			wantErr(t, "CreateRoom", b.CreateRoom(ctx, fresh), tt.want)

			// Nothing half-written: the new room's own hashes resolve to
			// nothing, the old room's still resolve to the old room.
			if fresh.ID != "r1" {
				_, err := b.GetRoom(ctx, fresh.ID)
				wantErr(t, "GetRoom of refused room", err, ErrNotFound)
			}
			for _, p := range testRoom("alpha", "r2", day, day).Participants {
				for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
					_, err := b.LookupCredential(ctx, h)
					wantErr(t, "LookupCredential of refused room", err, ErrNotFound)
				}
			}
			for _, p := range existing.Participants {
				for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
					if c, err := b.LookupCredential(ctx, h); err != nil || c.RoomID != "r1" {
						t.Errorf("existing credential = %+v, %v; want room r1", c, err)
					}
				}
			}
			if rooms, err := b.ListRooms(ctx, "alpha", time.Time{}, time.Time{}); err != nil || len(rooms) != 1 {
				t.Errorf("ListRooms = %v, %v; want only r1", roomIDs(rooms), err)
			}
		})
	}
}

func TestBoltListRoomsOverlap(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateTenant(t, b, "beta")

	// The query window is [10:00, 12:00).
	at := func(h, m int) time.Time { return time.Date(2026, 3, 10, h, m, 0, 0, time.UTC) }
	from, to := at(10, 0), at(12, 0)
	rooms := []struct {
		id         string
		tenant     string
		start, end time.Time
	}{
		{id: "before", tenant: "alpha", start: at(8, 0), end: at(9, 0)},
		{id: "ends-at-from", tenant: "alpha", start: at(9, 0), end: at(10, 0)},
		{id: "over-start", tenant: "alpha", start: at(9, 30), end: at(10, 30)},
		{id: "inside-b", tenant: "alpha", start: at(10, 30), end: at(11, 0)},
		{id: "inside-a", tenant: "alpha", start: at(10, 30), end: at(11, 30)},
		{id: "over-end", tenant: "alpha", start: at(11, 30), end: at(12, 30)},
		{id: "covering", tenant: "alpha", start: at(6, 0), end: at(18, 0)},
		{id: "starts-at-to", tenant: "alpha", start: at(12, 0), end: at(13, 0)},
		{id: "after", tenant: "alpha", start: at(14, 0), end: at(15, 0)},
		{id: "other-tenant", tenant: "beta", start: at(10, 30), end: at(11, 0)},
	}
	for _, r := range rooms {
		mustCreateRoom(t, b, testRoom(r.tenant, r.id, r.start, r.end))
	}

	tests := []struct {
		name     string
		tenant   string
		from, to time.Time
		want     []string
	}{
		{
			name: "bounded window", tenant: "alpha", from: from, to: to,
			want: []string{"covering", "over-start", "inside-a", "inside-b", "over-end"},
		},
		{
			name: "open start", tenant: "alpha", to: at(9, 45),
			want: []string{"covering", "before", "ends-at-from", "over-start"},
		},
		{
			name: "open end", tenant: "alpha", from: at(12, 15),
			want: []string{"covering", "over-end", "starts-at-to", "after"},
		},
		{
			name: "unbounded", tenant: "alpha",
			want: []string{"covering", "before", "ends-at-from", "over-start", "inside-a", "inside-b", "over-end", "starts-at-to", "after"},
		},
		{name: "other tenant", tenant: "beta", from: from, to: to, want: []string{"other-tenant"}},
		{name: "unknown tenant", tenant: "gamma", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.ListRooms(ctx, tt.tenant, tt.from, tt.to)
			if err != nil || !slices.Equal(roomIDs(got), tt.want) {
				t.Fatalf("ListRooms = %v, %v; want %v", roomIDs(got), err, tt.want)
			}
		})
	}
}

func TestBoltDeleteRoomRemovesCredentials(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	room := mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	other := mustCreateRoom(t, b, testRoom("alpha", "r2", day, day.Add(time.Hour)))

	if err := b.DeleteRoom(ctx, "r1"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	_, err := b.GetRoom(ctx, "r1")
	wantErr(t, "GetRoom deleted", err, ErrNotFound)
	for _, p := range room.Participants {
		for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
			_, err := b.LookupCredential(ctx, h)
			wantErr(t, "LookupCredential of deleted room", err, ErrNotFound)
		}
	}
	if c, err := b.LookupCredential(ctx, other.Participants[0].TokenHash); err != nil || c.RoomID != "r2" {
		t.Fatalf("other room's credential = %+v, %v", c, err)
	}
	if rooms, err := b.ListRooms(ctx, "alpha", time.Time{}, time.Time{}); err != nil || !slices.Equal(roomIDs(rooms), []string{"r2"}) {
		t.Fatalf("ListRooms = %v, %v; want r2", roomIDs(rooms), err)
	}
	wantErr(t, "DeleteRoom twice", b.DeleteRoom(ctx, "r1"), ErrNotFound)

	// Id and hashes are free again.
	mustCreateRoom(t, b, room)
}

func TestBoltCountCallOncePerRoomAcrossRestart(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	mustCreateRoom(t, b, testRoom("alpha", "r2", day, day.Add(time.Hour)))
	month := Month(day)

	steps := []struct {
		room string
		want bool
	}{
		{room: "r1", want: true},
		{room: "r1", want: false}, // both participants reconnect: same call
		{room: "r2", want: true},
	}
	for i, s := range steps {
		got, err := b.CountCall(ctx, s.room, month)
		if err != nil || got != s.want {
			t.Fatalf("step %d: CountCall(%s) = %v, %v; want %v", i, s.room, got, err, s.want)
		}
	}
	_, err := b.CountCall(ctx, "missing", month)
	wantErr(t, "CountCall missing room", err, ErrNotFound)

	b = reopen(t, b, path)

	if n, err := b.CallsInMonth(ctx, "alpha", month); err != nil || n != 2 {
		t.Fatalf("CallsInMonth after reopen = %d, %v; want 2", n, err)
	}
	if n, err := b.CallsInMonth(ctx, "alpha", "2026-04"); err != nil || n != 0 {
		t.Fatalf("CallsInMonth other month = %d, %v; want 0", n, err)
	}
	if counted, err := b.CountCall(ctx, "r1", month); err != nil || counted {
		t.Fatalf("CountCall r1 after reopen = %v, %v; want false", counted, err)
	}
	if r, err := b.GetRoom(ctx, "r1"); err != nil || !r.CallCounted {
		t.Fatalf("GetRoom r1 CallCounted = %v, %v; want true", r.CallCounted, err)
	}
	if _, err := b.CountCall(ctx, "r1", "March"); err == nil {
		t.Fatal("CountCall with a malformed month succeeded")
	}
}

func TestBoltCountCallConcurrent(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))

	// Both participants' sessions notice the call at the same moment.
	const callers = 8
	results := make(chan bool, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			counted, err := b.CountCall(ctx, "r1", Month(day))
			if err != nil {
				t.Errorf("CountCall: %v", err)
			}
			results <- counted
		})
	}
	wg.Wait()
	close(results)
	var added int
	for counted := range results {
		if counted {
			added++
		}
	}
	if n, err := b.CallsInMonth(ctx, "alpha", Month(day)); added != 1 || n != 1 {
		t.Fatalf("%d callers reported counting, count is %d (%v); want 1 and 1", added, n, err)
	}
}

func TestBoltDeleteTenantRemovesEverything(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	month := Month(day)

	type fixture struct {
		room Room
		key  APIKey
	}
	setUp := func(tenant string) fixture {
		mustCreateTenant(t, b, tenant)
		f := fixture{
			room: mustCreateRoom(t, b, testRoom(tenant, tenant+"-r1", day, day.Add(time.Hour))),
			key:  APIKey{ID: tenant + "-k1", TenantID: tenant, Hash: hash(tenant + "-k1"), CreatedAt: day},
		}
		if err := b.CreateAPIKey(ctx, f.key); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		if _, err := b.CountCall(ctx, f.room.ID, month); err != nil {
			t.Fatalf("CountCall: %v", err)
		}
		return f
	}
	gone, kept := setUp("alpha"), setUp("beta")
	admin := APIKey{ID: "admin", Hash: hash("admin"), CreatedAt: day}
	if err := b.CreateAPIKey(ctx, admin); err != nil {
		t.Fatalf("CreateAPIKey admin: %v", err)
	}

	if err := b.DeleteTenant(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}

	checks := []struct {
		name string
		err  error
	}{
		{name: "GetTenant", err: second(b.GetTenant(ctx, "alpha"))},
		{name: "GetRoom", err: second(b.GetRoom(ctx, gone.room.ID))},
		{name: "LookupCredential token", err: second(b.LookupCredential(ctx, gone.room.Participants[0].TokenHash))},
		{name: "LookupCredential code", err: second(b.LookupCredential(ctx, gone.room.Participants[1].CodeHash))},
		{name: "APIKeyByHash", err: second(b.APIKeyByHash(ctx, gone.key.Hash))},
		{name: "CountCall", err: second(b.CountCall(ctx, gone.room.ID, month))},
	}
	for _, c := range checks {
		wantErr(t, c.name+" after DeleteTenant", c.err, ErrNotFound)
	}
	if keys, err := b.ListAPIKeys(ctx, "alpha"); err != nil || len(keys) != 0 {
		t.Errorf("ListAPIKeys = %+v, %v; want none", keys, err)
	}
	if rooms, err := b.ListRooms(ctx, "alpha", time.Time{}, time.Time{}); err != nil || len(rooms) != 0 {
		t.Errorf("ListRooms = %v, %v; want none", roomIDs(rooms), err)
	}

	// A tenant re-created under the same id starts with a clean month.
	mustCreateTenant(t, b, "alpha")
	if n, err := b.CallsInMonth(ctx, "alpha", month); err != nil || n != 0 {
		t.Errorf("CallsInMonth of re-created tenant = %d, %v; want 0", n, err)
	}

	// The other tenant and the admin key are untouched.
	if _, err := b.GetRoom(ctx, kept.room.ID); err != nil {
		t.Errorf("other tenant's room: %v", err)
	}
	if _, err := b.LookupCredential(ctx, kept.room.Participants[0].TokenHash); err != nil {
		t.Errorf("other tenant's credential: %v", err)
	}
	for _, k := range []APIKey{kept.key, admin} {
		if _, err := b.APIKeyByHash(ctx, k.Hash); err != nil {
			t.Errorf("key %s: %v", k.ID, err)
		}
	}
	if n, err := b.CallsInMonth(ctx, "beta", month); err != nil || n != 1 {
		t.Errorf("other tenant's CallsInMonth = %d, %v; want 1", n, err)
	}
}

// second returns the error of a two-value call, for tables of checks.
func second[T any](_ T, err error) error { return err }

func TestBoltDeleteRoomsEndedBefore(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	cutoff := day
	rooms := []struct {
		id   string
		ends time.Time
		kept bool
	}{
		{id: "old", ends: cutoff.Add(-48 * time.Hour), kept: false},
		{id: "just-ended", ends: cutoff.Add(-time.Nanosecond), kept: false},
		{id: "ends-at-cutoff", ends: cutoff, kept: true},
		{id: "running", ends: cutoff.Add(time.Hour), kept: true},
	}
	for _, r := range rooms {
		mustCreateRoom(t, b, testRoom("alpha", r.id, r.ends.Add(-time.Hour), r.ends))
	}

	n, err := b.DeleteRoomsEndedBefore(ctx, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("DeleteRoomsEndedBefore = %d, %v; want 2", n, err)
	}
	for _, r := range rooms {
		_, getErr := b.GetRoom(ctx, r.id)
		_, credErr := b.LookupCredential(ctx, hash(r.id+"/guest/code"))
		if r.kept && (getErr != nil || credErr != nil) {
			t.Errorf("room %s should be kept: GetRoom %v, LookupCredential %v", r.id, getErr, credErr)
		}
		if !r.kept && (!errors.Is(getErr, ErrNotFound) || !errors.Is(credErr, ErrNotFound)) {
			t.Errorf("room %s should be gone: GetRoom %v, LookupCredential %v", r.id, getErr, credErr)
		}
	}
	if rooms, err := b.ListRooms(ctx, "alpha", time.Time{}, time.Time{}); err != nil || !slices.Equal(roomIDs(rooms), []string{"ends-at-cutoff", "running"}) {
		t.Errorf("ListRooms = %v, %v", roomIDs(rooms), err)
	}
	if n, err := b.DeleteRoomsEndedBefore(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second DeleteRoomsEndedBefore = %d, %v; want 0", n, err)
	}
}

// TestBoltLegacySecrets: a store written by a version that kept the
// server secrets in it hands them over once and then holds none.
func TestBoltLegacySecrets(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	if got, err := b.LegacySecrets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LegacySecrets of a new store = %v, %v; want none", got, err)
	}
	// What an older version wrote: name -> raw bytes in the secrets bucket.
	if err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketSecrets))
		if err := bk.Put([]byte("pepper"), []byte("old-pepper")); err != nil {
			return err
		}
		return bk.Put([]byte("session-key"), []byte("old-session-key"))
	}); err != nil {
		t.Fatal(err)
	}
	b = reopen(t, b, path)
	got, err := b.LegacySecrets(ctx)
	if err != nil || string(got["pepper"]) != "old-pepper" || string(got["session-key"]) != "old-session-key" || len(got) != 2 {
		t.Fatalf("LegacySecrets = %q, %v", got, err)
	}
	if err := b.DropLegacySecrets(ctx); err != nil {
		t.Fatal(err)
	}
	b = reopen(t, b, path)
	if got, err := b.LegacySecrets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LegacySecrets after drop = %q, %v; want none", got, err)
	}
}

// TestBoltRehashAPIKey: after a pepper rotation a key moves to its new
// hash; the old one finds nothing, and a stale rehash changes nothing.
func TestBoltRehashAPIKey(t *testing.T) {
	ctx := context.Background()
	b, _ := openTestBolt(t)
	k := APIKey{ID: "key1", Hash: []byte("old-hash"), Prefix: "ksk_ab", CreatedAt: time.Now()}
	if err := b.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("wrong"), []byte("new-hash")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rehash from a hash the key does not have = %v, want ErrNotFound", err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("old-hash"), []byte("new-hash")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.APIKeyByHash(ctx, []byte("old-hash")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old hash after rehash: %v, want ErrNotFound", err)
	}
	got, err := b.APIKeyByHash(ctx, []byte("new-hash"))
	if err != nil || got.ID != "key1" || string(got.Hash) != "new-hash" {
		t.Fatalf("new hash after rehash = %+v, %v", got, err)
	}
	if err := b.RehashAPIKey(ctx, "key1", []byte("old-hash"), []byte("newer")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second rehash from the old hash = %v, want ErrNotFound", err)
	}
}

func TestOpenBoltCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "konsil")
	path := filepath.Join(dir, "konsil.db")
	openBoltAt(t, path)

	for _, p := range []string{dir, path} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v; want no group or other access", p, perm)
		}
	}
}

func TestOpenBoltInUse(t *testing.T) {
	b, path := openTestBolt(t)

	done := make(chan error, 1)
	go func() {
		second, err := OpenBolt(path)
		if err == nil {
			_ = second.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("second OpenBolt: %v; want an in-use error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second OpenBolt still waiting after 5s")
	}

	// Once the first holder closes, the file opens normally.
	reopen(t, b, path)
}

func TestBoltCancelledContext(t *testing.T) {
	b, _ := openTestBolt(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"CreateTenant", func() error { return b.CreateTenant(ctx, Tenant{ID: "beta"}) }},
		{"GetTenant", func() error { return second(b.GetTenant(ctx, "alpha")) }},
		{"ListTenants", func() error { return second(b.ListTenants(ctx)) }},
		{"UpdateTenant", func() error { return b.UpdateTenant(ctx, Tenant{ID: "alpha"}) }},
		{"DeleteTenant", func() error { return b.DeleteTenant(ctx, "alpha") }},
		{"CreateAPIKey", func() error { return b.CreateAPIKey(ctx, APIKey{ID: "k", Hash: hash("k")}) }},
		{"APIKeyByHash", func() error { return second(b.APIKeyByHash(ctx, hash("k"))) }},
		{"ListAPIKeys", func() error { return second(b.ListAPIKeys(ctx, "")) }},
		{"DeleteAPIKey", func() error { return b.DeleteAPIKey(ctx, "", "k") }},
		{"CreateRoom", func() error { return b.CreateRoom(ctx, testRoom("alpha", "r2", day, day)) }},
		{"GetRoom", func() error { return second(b.GetRoom(ctx, "r1")) }},
		{"ListRooms", func() error { return second(b.ListRooms(ctx, "alpha", time.Time{}, time.Time{})) }},
		{"DeleteRoom", func() error { return b.DeleteRoom(ctx, "r1") }},
		{"LookupCredential", func() error { return second(b.LookupCredential(ctx, hash("r1/host/code"))) }},
		{"DeleteRoomsEndedBefore", func() error { return second(b.DeleteRoomsEndedBefore(ctx, day.Add(48*time.Hour))) }},
		{"CountCall", func() error { return second(b.CountCall(ctx, "r1", Month(day))) }},
		{"CallsInMonth", func() error { return second(b.CallsInMonth(ctx, "alpha", Month(day))) }},
		{"RehashAPIKey", func() error { return b.RehashAPIKey(ctx, "k", hash("k"), hash("k2")) }},
		{"LegacySecrets", func() error { return second(b.LegacySecrets(ctx)) }},
		{"DropLegacySecrets", func() error { return b.DropLegacySecrets(ctx) }},
	}
	for _, c := range calls {
		wantErr(t, c.name, c.call(), context.Canceled)
	}

	// None of the writes happened.
	bg := context.Background()
	if _, err := b.GetRoom(bg, "r1"); err != nil {
		t.Errorf("room r1 after cancelled deletes: %v", err)
	}
	if _, err := b.GetTenant(bg, "beta"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant beta after cancelled create: %v", err)
	}
	if n, err := b.CallsInMonth(bg, "alpha", Month(day)); err != nil || n != 0 {
		t.Errorf("CallsInMonth after cancelled CountCall = %d, %v; want 0", n, err)
	}
}
