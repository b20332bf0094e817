package turn_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/turn"
)

// revocations stands in for the store behind Config.Revoked: the holders
// whose room was deleted or closed or who were removed from it, and an
// error when the store is down.
type revocations struct {
	mu      sync.Mutex
	revoked map[turn.Holder]bool
	err     error
}

func (v *revocations) Revoked(_ context.Context, h turn.Holder) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.revoked[h], v.err
}

func (v *revocations) revoke(h turn.Holder) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.revoked == nil {
		v.revoked = map[turn.Holder]bool{}
	}
	v.revoked[h] = true
}

func (v *revocations) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.err = err
}

// startRevocableRelay is startRelay with Revoked answered by v.
func startRevocableRelay(t *testing.T, v *revocations) *relay {
	return startRelay(t, func(c *turn.Config) { c.Revoked = v.Revoked })
}

// A guest's room is deleted while its relay runs. Its credential has
// hours left, but the next Refresh of the allocation is refused with 401,
// the allocation ends, and a new Allocate with the same credential is
// refused too. The host of another room keeps relaying.
func TestRevokedCredentialIsRefused(t *testing.T) {
	v := &revocations{}
	r := startRevocableRelay(t, v)
	peer := newPeer(t)
	ug, pg := r.credential("guest")
	guest := dialTURN(t, r, "udp", ug, pg)
	echo(t, guest.allocate(t), peer)
	uh, ph := r.Credentials().Issue(turn.Holder{Room: "other", Participant: "host"}, r.clock.Now().Add(time.Hour))
	host := dialTURN(t, r, "tcp", uh, ph)
	host.allocate(t)
	if code := guest.refresh(t, ug, pg); code != 0 {
		t.Fatalf("refresh before the room was deleted: error %d", code)
	}

	v.revoke(holder("guest"))
	if code := guest.refresh(t, ug, pg); code != int(stun.CodeUnauthorized) {
		t.Errorf("refresh after the room was deleted: %d, want 401 Unauthorized", code)
	}
	waitFor(t, "the guest's allocation ended", func() bool { return r.Allocations() == 1 })
	if _, err := dialTURN(t, r, "udp", ug, pg).Allocate(); turnCode(err) != 401 {
		t.Errorf("new allocation after the room was deleted: %v, want 401", err)
	}
	if n := r.counter("refusals_total", "revoked"); n < 2 {
		t.Errorf("revoked refusals = %v, want at least 2", n)
	}
	if code := host.refresh(t, uh, ph); code != 0 {
		t.Errorf("the other room's host: refresh error %d", code)
	}
}

// The sweep ends a revoked holder's allocations although the holder never
// asks again (pion would relay until the allocation's lifetime ends). A
// store that cannot answer ends nothing, but refuses new requests.
func TestSweepEndsRevokedAllocations(t *testing.T) {
	v := &revocations{}
	r := startRevocableRelay(t, v)
	ug, pg := r.credential("guest")
	dialTURN(t, r, "udp", ug, pg).allocate(t)
	uh, ph := r.credential("host")
	dialTURN(t, r, "tcp", uh, ph).allocate(t)

	v.revoke(holder("guest"))
	if n := r.EndRevoked(context.Background()); n != 1 {
		t.Errorf("EndRevoked ended %d, want the guest's 1", n)
	}
	waitFor(t, "the guest's allocation gone", func() bool { return r.Allocations() == 1 && gauge(r) == 1 })

	v.fail(errors.New("store down"))
	if n := r.EndRevoked(context.Background()); n != 0 {
		t.Errorf("EndRevoked with a failing store ended %d, want 0", n)
	}
	if r.Allocations() != 1 {
		t.Errorf("%d allocations, want the host's 1 kept", r.Allocations())
	}
	if _, err := dialTURN(t, r, "udp", uh, ph).Allocate(); turnCode(err) != 401 {
		t.Errorf("allocation while the store is down: %v, want 401 (fail closed)", err)
	}
}

// refresh sends a Refresh request for the client's allocation and
// returns the error code of the answer, 0 on success.
func (c *turnClient) refresh(t *testing.T, user, pass string) int {
	t.Helper()
	code, err := testutil.TURNRefresh(c.Client, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return int(code)
}
