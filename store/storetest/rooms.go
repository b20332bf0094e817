package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/konsil/konsil/store"
)

func testRoomCreateAndLookup(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	room := testRoom("alpha", "r1", day, day.Add(24*time.Hour))
	// A participant without a code (link only) must not index an empty hash.
	room.Participants = append(room.Participants, store.Participant{ID: "obs", Role: "guest", TokenHash: hash("r1/obs/token")})
	mustCreateRoom(t, b, room)

	got, err := b.GetRoom(ctx, "r1")
	if err != nil || !reflect.DeepEqual(got, room) {
		t.Fatalf("GetRoom = %+v, %v\nwant %+v", got, err, room)
	}
	_, err = b.GetRoom(ctx, "r2")
	wantErr(t, "GetRoom missing", err, store.ErrNotFound)

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
		want := store.Credential{RoomID: "r1", ParticipantID: tt.participant, Hash: tt.hash}
		got, err := b.LookupCredential(ctx, tt.hash)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("LookupCredential(%s) = %+v, %v; want %+v", tt.name, got, err, want)
		}
	}
	for _, h := range [][]byte{hash("unknown"), {}, nil} {
		_, err := b.LookupCredential(ctx, h)
		wantErr(t, "LookupCredential unknown", err, store.ErrNotFound)
	}
}

func testCreateRoomConflicts(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	existing := mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))

	tests := []struct {
		name   string
		modify func(r *store.Room)
		want   error
	}{
		{name: "same room id", modify: func(r *store.Room) { r.ID = "r1" }, want: store.ErrExists},
		{name: "token hash of another room", modify: func(r *store.Room) {
			r.Participants[1].TokenHash = existing.Participants[0].TokenHash
		}, want: store.ErrExists},
		{name: "code hash of another room", modify: func(r *store.Room) {
			r.Participants[1].CodeHash = existing.Participants[1].CodeHash
		}, want: store.ErrExists},
		{name: "hash repeated within the room", modify: func(r *store.Room) {
			r.Participants[1].CodeHash = r.Participants[0].TokenHash
		}, want: store.ErrExists},
		{name: "participant id repeated", modify: func(r *store.Room) { r.Participants[1].ID = "host" }, want: store.ErrExists},
		{name: "unknown tenant", modify: func(r *store.Room) { r.TenantID = "gamma" }, want: store.ErrNotFound},
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
				wantErr(t, "GetRoom of refused room", err, store.ErrNotFound)
			}
			for _, p := range testRoom("alpha", "r2", day, day).Participants {
				for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
					_, err := b.LookupCredential(ctx, h)
					wantErr(t, "LookupCredential of refused room", err, store.ErrNotFound)
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

func testListRoomsOverlap(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
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

func testDeleteRoomRemovesCredentials(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	room := mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	other := mustCreateRoom(t, b, testRoom("alpha", "r2", day, day.Add(time.Hour)))

	if err := b.DeleteRoom(ctx, "r1"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	_, err := b.GetRoom(ctx, "r1")
	wantErr(t, "GetRoom deleted", err, store.ErrNotFound)
	for _, p := range room.Participants {
		for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
			_, err := b.LookupCredential(ctx, h)
			wantErr(t, "LookupCredential of deleted room", err, store.ErrNotFound)
		}
	}
	if c, err := b.LookupCredential(ctx, other.Participants[0].TokenHash); err != nil || c.RoomID != "r2" {
		t.Fatalf("other room's credential = %+v, %v", c, err)
	}
	if rooms, err := b.ListRooms(ctx, "alpha", time.Time{}, time.Time{}); err != nil || !slices.Equal(roomIDs(rooms), []string{"r2"}) {
		t.Fatalf("ListRooms = %v, %v; want r2", roomIDs(rooms), err)
	}
	wantErr(t, "DeleteRoom twice", b.DeleteRoom(ctx, "r1"), store.ErrNotFound)

	// Id and hashes are free again.
	mustCreateRoom(t, b, room)
}

func testCountCallOncePerRoomAcrossRestart(t *testing.T, open Opener) {
	ctx := context.Background()
	b, reopen := open(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))
	mustCreateRoom(t, b, testRoom("alpha", "r2", day, day.Add(time.Hour)))
	month := store.Month(day)

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
	wantErr(t, "CountCall missing room", err, store.ErrNotFound)

	b = reopen()

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

func testCountCallConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	mustCreateTenant(t, b, "alpha")
	mustCreateRoom(t, b, testRoom("alpha", "r1", day, day.Add(time.Hour)))

	// Both participants' sessions notice the call at the same moment.
	const callers = 8
	results := make(chan bool, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			counted, err := b.CountCall(ctx, "r1", store.Month(day))
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
	if n, err := b.CallsInMonth(ctx, "alpha", store.Month(day)); added != 1 || n != 1 {
		t.Fatalf("%d callers reported counting, count is %d (%v); want 1 and 1", added, n, err)
	}
}

func testDeleteTenantRemovesEverything(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
	month := store.Month(day)

	type fixture struct {
		room store.Room
		key  store.APIKey
	}
	setUp := func(tenant string) fixture {
		mustCreateTenant(t, b, tenant)
		f := fixture{
			room: mustCreateRoom(t, b, testRoom(tenant, tenant+"-r1", day, day.Add(time.Hour))),
			key:  store.APIKey{ID: tenant + "-k1", TenantID: tenant, Hash: hash(tenant + "-k1"), CreatedAt: day},
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
	admin := store.APIKey{ID: "admin", Hash: hash("admin"), CreatedAt: day}
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
		wantErr(t, c.name+" after DeleteTenant", c.err, store.ErrNotFound)
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
	for _, k := range []store.APIKey{kept.key, admin} {
		if _, err := b.APIKeyByHash(ctx, k.Hash); err != nil {
			t.Errorf("key %s: %v", k.ID, err)
		}
	}
	if n, err := b.CallsInMonth(ctx, "beta", month); err != nil || n != 1 {
		t.Errorf("other tenant's CallsInMonth = %d, %v; want 1", n, err)
	}
}

func testDeleteRoomsEndedBefore(t *testing.T, open Opener) {
	ctx := context.Background()
	b, _ := open(t)
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
		if !r.kept && (!errors.Is(getErr, store.ErrNotFound) || !errors.Is(credErr, store.ErrNotFound)) {
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
