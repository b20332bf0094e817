package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/store"
)

// behindProxy starts a server that believes X-Forwarded-For from
// 127.0.0.1, so a test can join "from" any address, with a failure budget
// of burst that does not refill within the test.
func behindProxy(t *testing.T, burst int, opts ...testutil.Option) *testutil.Server {
	t.Helper()
	opts = append([]testutil.Option{func(c *server.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.JoinFailures = api.FailureLimits{Burst: burst, Refill: time.Hour, SlowStep: time.Millisecond, SlowMax: time.Millisecond}
	}}, opts...)
	return testutil.StartServer(t, opts...)
}

// joinFrom posts req to /api/v1/join as if from addr (via the trusted
// proxy's X-Forwarded-For) and returns the status and the error code.
func joinFrom(t *testing.T, s *testutil.Server, addr string, req protocol.JoinRequest) (int, string) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, s.URL+"/api/v1/join", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if addr != "" {
		r.Header.Set("X-Forwarded-For", addr)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Errorf("join from %s: %v", addr, err)
		return 0, ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e protocol.ErrorBody
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code
}

func wantJoin(t *testing.T, s *testutil.Server, addr string, req protocol.JoinRequest, want int) {
	t.Helper()
	if got, code := joinFrom(t, s, addr, req); got != want {
		t.Errorf("join %+v from %s: HTTP %d %s, want %d", req, addr, got, code, want)
	}
}

var wrongCode = protocol.JoinRequest{Code: "ZZZZZ-ZZZZZ"}

// A guesser who fires many wrong codes at once gets no more answers than
// the budget left: the check and the count are one step. The store holds
// every credential lookup until each request is either parked in a lookup
// or answered, so all of them pass the limiter before any lookup fails.
func TestConcurrentGuessesGetOnlyTheRemainingAllowance(t *testing.T) {
	gate := &gatedStore{open: make(chan struct{})}
	s := behindProxy(t, 5, func(c *server.Config) {
		st, err := store.OpenBolt(filepath.Join(t.TempDir(), "konsil.db"))
		if err != nil {
			t.Fatal(err)
		}
		gate.Store = st
		c.Store = gate
	})
	const addr = "198.51.100.7"
	wantJoin(t, s, addr, wrongCode, 404)
	wantJoin(t, s, addr, wrongCode, 404)
	gate.closed.Store(true)

	const n = 40
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _ := joinFrom(t, s, addr, wrongCode)
			statuses <- got
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for int(gate.parked.Load())+len(statuses) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d lookups parked, %d answered of %d", gate.parked.Load(), len(statuses), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.open)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[404] != 3 || count[429] != n-3 {
		t.Errorf("%d concurrent wrong codes with 3 failures left: %v answers by status, want 3×404 and %d×429", n, count, n-3)
	}
}

// gatedStore, once closed, holds each credential lookup until open is
// closed, counting the lookups it holds.
type gatedStore struct {
	store.Store
	closed atomic.Bool
	open   chan struct{}
	parked atomic.Int32
}

func (g *gatedStore) LookupCredential(ctx context.Context, hash []byte) (store.Credential, error) {
	if g.closed.Load() {
		g.parked.Add(1)
		select {
		case <-g.open:
		case <-ctx.Done():
		}
	}
	return g.Store.LookupCredential(ctx, hash)
}

// IPv6 clients are limited by /64 (the usual size of one network), IPv4
// ones by address, and an IPv4-mapped IPv6 address is its IPv4 address.
func TestGuessLimitGroupsIPv6By64(t *testing.T) {
	s := behindProxy(t, 3)
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
		wantJoin(t, s, a, wrongCode, 404)
	}
	wantJoin(t, s, "2001:db8:1:2::99", wrongCode, 429)
	wantJoin(t, s, "2001:db8:1:3::1", wrongCode, 404) // the next /64

	for _, a := range []string{"203.0.113.9", "::ffff:203.0.113.9", "203.0.113.9"} {
		wantJoin(t, s, a, wrongCode, 404)
	}
	wantJoin(t, s, "::ffff:203.0.113.9", wrongCode, 429)
	wantJoin(t, s, "203.0.113.10", wrongCode, 404)
}

// A practice's or hospital's shared address where someone mistypes codes
// all day still lets every patient in who clicks a valid link; wrong links
// count on their own and do not lock out typed codes.
func TestValidLinkJoinsFromANoisyAddress(t *testing.T) {
	s := behindProxy(t, 3)
	room := s.CreateRoom(t, 2, "host", "guest")
	host, guest := room.Participants[0], room.Participants[1]
	const nat = "192.0.2.50"
	for range 3 {
		wantJoin(t, s, nat, wrongCode, 404)
	}
	wantJoin(t, s, nat, wrongCode, 429)
	wantJoin(t, s, nat, protocol.JoinRequest{Code: host.Code}, 429)
	wantJoin(t, s, nat, protocol.JoinRequest{Token: host.Token}, 200)

	// Broken links from another shared address: they use up a budget of
	// their own, and valid links and codes from it still work.
	const other = "192.0.2.51"
	for range 3 {
		wantJoin(t, s, other, protocol.JoinRequest{Token: "AAAAAAAAAAAAAAAAAAAAAA"}, 404)
	}
	wantJoin(t, s, other, protocol.JoinRequest{Token: "AAAAAAAAAAAAAAAAAAAAAA"}, 429)
	wantJoin(t, s, other, protocol.JoinRequest{Token: guest.Token}, 200)
	wantJoin(t, s, other, protocol.JoinRequest{Code: guest.Code}, 200)
}

// An operator whose clients get a /56 or /48 each can group by that.
func TestGuessLimitIPv6PrefixIsConfigurable(t *testing.T) {
	s := behindProxy(t, 2, func(c *server.Config) { c.LimitIPv6Prefix = 56 })
	wantJoin(t, s, "2001:db8:1:200::1", wrongCode, 404)
	wantJoin(t, s, "2001:db8:1:2ff::1", wrongCode, 404)
	wantJoin(t, s, "2001:db8:1:234::1", wrongCode, 429)
	wantJoin(t, s, "2001:db8:1:300::1", wrongCode, 404) // the next /56

	for _, bits := range []int{-1, 129} {
		_, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), LimitIPv6Prefix: bits})
		if err == nil {
			t.Errorf("IPv6 limit prefix /%d accepted", bits)
		}
	}
}

// One customer's /48 holds 65 536 /64s; together they get the budget of
// 16 networks, so a site cannot multiply its guesses by its subnets.
func TestGuessLimitSharesASiteBudgetPer48(t *testing.T) {
	s := behindProxy(t, 2)
	for subnet := range 16 {
		for host := range 2 {
			wantJoin(t, s, fmt.Sprintf("2001:db8:7:%x::%x", subnet, host+1), wrongCode, 404)
		}
	}
	wantJoin(t, s, "2001:db8:7:ffff::1", wrongCode, 429)
	wantJoin(t, s, "2001:db8:8::1", wrongCode, 404) // the next /48
}
