package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/store"
	redisstore "github.com/konsil/konsil/store/redis"
	"github.com/konsil/konsil/store/storetest"
)

var day = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// open connects a store to srv under prefix and closes it when the test
// ends.
func open(t *testing.T, srv *testutil.Redis, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), redisstore.Options{URL: srv.URL, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRedisContract runs the store contract on one redis-server, each
// test under a prefix of its own; reopen makes a new client on the same
// data, as a restarted node does.
func TestRedisContract(t *testing.T) {
	srv := testutil.StartRedis(t)
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		prefix := t.Name() + ":"
		s := open(t, srv, prefix)
		return s, func() store.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s = open(t, srv, prefix)
			return s
		}
	})
}

func testRoom(tenantID, id string, hashes ...string) store.Room {
	r := store.Room{ID: id, TenantID: tenantID, Mode: "p2p", Capacity: 2,
		StartsAt: day, EndsAt: day.Add(time.Hour), TimeZone: "Europe/Berlin", CreatedAt: day}
	for i, h := range hashes {
		r.Participants = append(r.Participants, store.Participant{ID: fmt.Sprint("p", i), Role: "guest", TokenHash: []byte(h)})
	}
	return r
}

// TestRedisNodesRaceForOneHash: two nodes create rooms that share one
// credential hash at the same moment; one wins whole, the other gets
// ErrExists and leaves nothing behind, its other hashes included.
func TestRedisNodesRaceForOneHash(t *testing.T) {
	ctx := context.Background()
	srv := testutil.StartRedis(t)
	nodes := []*redisstore.Store{open(t, srv, ""), open(t, srv, "")}
	if err := nodes[0].CreateTenant(ctx, store.Tenant{ID: "alpha", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for i := range rounds {
		shared := fmt.Sprint("shared-", i)
		rooms := []store.Room{
			testRoom("alpha", fmt.Sprint("a", i), fmt.Sprint("a-own-", i), shared),
			testRoom("alpha", fmt.Sprint("b", i), shared, fmt.Sprint("b-own-", i)),
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for n := range nodes {
			wg.Go(func() { errs[n] = nodes[n].CreateRoom(ctx, rooms[n]) })
		}
		wg.Wait()
		winner := -1
		for n, err := range errs {
			switch {
			case err == nil && winner == -1:
				winner = n
			case err == nil:
				t.Fatalf("round %d: both nodes created a room with one hash", i)
			case !errors.Is(err, store.ErrExists):
				t.Fatalf("round %d: node %d: %v, want ErrExists", i, n, err)
			}
		}
		if winner == -1 {
			t.Fatalf("round %d: neither node created its room: %v", i, errs)
		}
		loser := rooms[1-winner]
		if _, err := nodes[0].GetRoom(ctx, loser.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: refused room %s: %v, want ErrNotFound", i, loser.ID, err)
		}
		own := loser.Participants[1-winner].TokenHash // the hash it did not share
		if _, err := nodes[1].LookupCredential(ctx, own); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: refused room's own hash resolves: %v", i, err)
		}
		if c, err := nodes[1].LookupCredential(ctx, []byte(shared)); err != nil || c.RoomID != rooms[winner].ID {
			t.Fatalf("round %d: shared hash = %+v, %v; want room %s", i, c, err, rooms[winner].ID)
		}
	}
}

// TestRedisCountCallAcrossNodes: each participant's session, on another
// node, notices the call at once; the month counts it once.
func TestRedisCountCallAcrossNodes(t *testing.T) {
	ctx := context.Background()
	srv := testutil.StartRedis(t)
	var nodes []*redisstore.Store
	for range 3 {
		nodes = append(nodes, open(t, srv, ""))
	}
	if err := nodes[0].CreateTenant(ctx, store.Tenant{ID: "alpha", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].CreateRoom(ctx, testRoom("alpha", "r1", "h1", "h2")); err != nil {
		t.Fatal(err)
	}
	var added sync.WaitGroup
	counted := make(chan bool, 3*4)
	for _, n := range nodes {
		for range 4 {
			added.Go(func() {
				c, err := n.CountCall(ctx, "r1", store.Month(day))
				if err != nil {
					t.Errorf("CountCall: %v", err)
				}
				counted <- c
			})
		}
	}
	added.Wait()
	close(counted)
	var yes int
	for c := range counted {
		if c {
			yes++
		}
	}
	if n, err := nodes[2].CallsInMonth(ctx, "alpha", store.Month(day)); yes != 1 || n != 1 {
		t.Fatalf("%d callers reported counting, count is %d (%v); want 1 and 1", yes, n, err)
	}
}

// TestRedisKeysUnderPrefix: everything the store writes is under its
// prefix, so Konsil can share a Redis, and none of it is a server
// secret; DeleteTenant leaves nothing of the tenant.
func TestRedisKeysUnderPrefix(t *testing.T) {
	ctx := context.Background()
	srv := testutil.StartRedis(t)
	s := open(t, srv, "practice-a:")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(ctx, "other-program", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if err := s.CreateTenant(ctx, store.Tenant{ID: "alpha", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRoom(ctx, testRoom("alpha", "r1", "h1", "h2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountCall(ctx, "r1", store.Month(day)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u1", TenantID: "alpha", Email: "anna@praxis.example", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k != "other-program" && !strings.HasPrefix(k, "practice-a:") {
			t.Errorf("key %q outside the prefix", k)
		}
		for _, secret := range []string{"pepper", "secret", "keyring"} {
			if strings.Contains(k, secret) {
				t.Errorf("key %q looks like a server secret", k)
			}
		}
	}

	if err := s.DeleteTenant(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	left, err := rdb.Keys(ctx, "practice-a:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("after DeleteTenant of the only tenant, keys remain: %q", left)
	}
}

// TestRedisOpenUnreachable: a wrong address fails at Open, naming the
// address and not the password.
func TestRedisOpenUnreachable(t *testing.T) {
	srv := testutil.StartRedis(t)
	srv.Stop()
	url := "redis://:hunter2@" + srv.Addr + "/0"
	_, err := redisstore.Open(context.Background(), redisstore.Options{URL: url})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("Open of a stopped server: %v; want an unreachable error naming %s", err, srv.Addr)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the password: %v", err)
	}
	_, err = redisstore.Open(context.Background(), redisstore.Options{URL: "http://:hunter2@host/0"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open of a bad URL: %v; want an error without the password", err)
	}
}

// race runs f on every node at once and returns the errors, by node.
func race(nodes []*redisstore.Store, f func(n *redisstore.Store, i int) error) []error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(n, i) })
	}
	wg.Wait()
	return errs
}

// TestRedisOnceOnlyAcrossNodes: what may happen once happens once when
// nodes race for it: a passkey ceremony finishes once, and of two
// first-user setup links used at the same moment one makes the
// practice's first user.
func TestRedisOnceOnlyAcrossNodes(t *testing.T) {
	ctx := context.Background()
	srv := testutil.StartRedis(t)
	nodes := []*redisstore.Store{open(t, srv, ""), open(t, srv, ""), open(t, srv, "")}
	if err := nodes[0].CreateTenant(ctx, store.Tenant{ID: "alpha", CreatedAt: day}); err != nil {
		t.Fatal(err)
	}
	wantOne := func(what string, errs []error, loser error) {
		t.Helper()
		var won int
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, loser):
				t.Fatalf("%s: %v, want %v", what, err, loser)
			}
		}
		if won != 1 {
			t.Fatalf("%s: %d nodes succeeded, want 1 (%v)", what, won, errs)
		}
	}

	for i := range 10 {
		h := []byte(fmt.Sprint("ceremony-", i))
		if err := nodes[0].CreatePasskeyCeremony(ctx, store.PasskeyCeremony{Hash: h, Kind: "login", SessionData: []byte("{}"), ExpiresAt: day}); err != nil {
			t.Fatal(err)
		}
		errs := race(nodes, func(n *redisstore.Store, _ int) error {
			_, err := n.TakePasskeyCeremony(ctx, h)
			return err
		})
		wantOne("TakePasskeyCeremony", errs, store.ErrNotFound)
	}

	for i := range nodes {
		inv := store.Invite{Hash: []byte(fmt.Sprint("first-", i)), TenantID: "alpha", Role: "admin", First: true, CreatedAt: day, ExpiresAt: day.Add(time.Hour)}
		if err := nodes[0].CreateInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	errs := race(nodes, func(n *redisstore.Store, i int) error {
		u := store.User{ID: fmt.Sprint("u", i), TenantID: "alpha", Email: fmt.Sprint("admin", i, "@praxis.example"), Role: "admin", CreatedAt: day}
		return n.UseInvite(ctx, []byte(fmt.Sprint("first-", i)), u)
	})
	wantOne("UseInvite of first-user links", errs, store.ErrNotFound)
	if users, err := nodes[1].ListUsers(ctx, "alpha"); err != nil || len(users) != 1 {
		t.Fatalf("users after the race = %d, %v; want 1", len(users), err)
	}
}
