package turn_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/konsil/konsil/turn"
)

// A participant allocates a relay over each transport a firewall may
// leave open (UDP, TCP, TLS), and data goes both ways between the relay
// and a peer; the metrics count the allocation by transport and the
// bytes relayed.
func TestRelayOverUDPTCPAndTLS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cert, key := selfSigned(t)
	r := startRelay(t, func(c *turn.Config) {
		c.TLSAddrs = []string{"127.0.0.1:0"}
		c.CertFile, c.KeyFile = cert, key
	})
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			user, pass := r.credential("p-" + transport)
			c := dialTURN(t, r, transport, user, pass)
			relayConn := c.allocate(t)
			if got := relayConn.LocalAddr().(*net.UDPAddr); !got.IP.Equal(net.IPv4(127, 0, 0, 1)) || got.Port < turn.DefaultMinPort {
				t.Errorf("relayed address %v, want 127.0.0.1 in the default range", got)
			}
			peer := newPeer(t)
			echo(t, relayConn, peer)
			if n := r.counter("allocations_total", transport); n != 1 {
				t.Errorf("allocations_total{transport=%q} = %v, want 1", transport, n)
			}
		})
	}
	if r.counter("relayed_bytes_total", "to_peer") == 0 || r.counter("relayed_bytes_total", "from_peer") == 0 {
		t.Error("no relayed bytes counted")
	}
	r.Close()
}

// echo sends from the relay to peer and back, and checks both arrive.
func echo(t *testing.T, relayConn, peer net.PacketConn) {
	t.Helper()
	out := []byte("Guten Tag")
	if _, err := relayConn.WriteTo(out, peer.LocalAddr()); err != nil {
		t.Fatalf("relay to peer: %v", err)
	}
	got, from, err := readWithin(peer, 3*time.Second)
	if err != nil || !bytes.Equal(got, out) {
		t.Fatalf("peer got %q, %v; want %q", got, err, out)
	}
	if from.String() != relayConn.LocalAddr().String() {
		t.Errorf("peer saw the data from %v, want the relayed address %v", from, relayConn.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("zurück"), from); err != nil {
		t.Fatal(err)
	}
	got, _, err = readWithin(relayConn, 3*time.Second)
	if err != nil || string(got) != "zurück" {
		t.Fatalf("relay got %q, %v", got, err)
	}
}

// Credentials expire with the room window plus grace; one with an
// edited expiry, another secret or a wrong form is refused too. Clients
// see 401 Unauthorized; the refusal metric names the reason.
func TestCredentialRefusals(t *testing.T) {
	r := startRelay(t, nil)
	until := r.clock.Now().Add(time.Hour)
	user, pass := r.Credentials().Issue(holder("guest"), until)

	c := dialTURN(t, r, "udp", user, pass)
	c.allocate(t)

	r.clock.Advance(time.Hour + turn.DefaultGrace + time.Second)
	_, err := dialTURN(t, r, "udp", user, pass).Allocate()
	if turnCode(err) != 401 {
		t.Errorf("expired credential: %v, want 401", err)
	}
	if r.counter("refusals_total", "expired") == 0 {
		t.Error("expired refusal not counted")
	}

	later := strconv.FormatInt(r.clock.Now().Add(time.Hour).Unix(), 10) + ":r:guest"
	_, err = dialTURN(t, r, "tcp", later, pass).Allocate()
	if turnCode(err) != 401 {
		t.Errorf("expiry edited, old password: %v, want 401", err)
	}
	other := turn.Credentials{Secret: []byte("someone else's")}
	u2, p2 := other.Issue(holder("guest"), r.clock.Now().Add(time.Hour))
	_, err = dialTURN(t, r, "udp", u2, p2).Allocate()
	if turnCode(err) != 401 {
		t.Errorf("other secret: %v, want 401", err)
	}
	if n := r.counter("refusals_total", "bad_credential"); n != 2 {
		t.Errorf("bad_credential refusals = %v, want 2", n)
	}

	_, err = dialTURN(t, r, "udp", "guest", "whatever").Allocate()
	if turnCode(err) != 401 || r.counter("refusals_total", "malformed") == 0 {
		t.Errorf("malformed username: %v, refusals %v", err, r.counter("refusals_total", "malformed"))
	}
}

// Relaying into the server's own network is refused unless allow-listed.
func TestPeerPermission(t *testing.T) {
	t.Run("denied by default", func(t *testing.T) {
		r := startRelay(t, func(c *turn.Config) { c.AllowPeers = nil })
		user, pass := r.credential("guest")
		c := dialTURN(t, r, "udp", user, pass)
		c.allocate(t)
		for _, addr := range []string{"127.0.0.1:9", "10.1.2.3:9", "192.168.0.1:9", "169.254.169.254:80", "224.0.0.1:9", "0.0.0.0:9"} {
			err := c.CreatePermission(net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
			if turnCode(err) != 403 {
				t.Errorf("permission for %s: %v, want 403 Forbidden", addr, err)
			}
		}
		// 127.0.0.1 is also this host's own address.
		if n := r.counter("refusals_total", "peer_denied") + r.counter("refusals_total", "own_address"); n != 6 {
			t.Errorf("peer refusals = %v, want 6", n)
		}
	})
	t.Run("allow-listed", func(t *testing.T) {
		r := startRelay(t, nil) // allows 127.0.0.1/32
		user, pass := r.credential("guest")
		c := dialTURN(t, r, "udp", user, pass)
		relayConn := c.allocate(t)
		peer := newPeer(t)
		if err := c.CreatePermission(peer.LocalAddr()); err != nil {
			t.Fatalf("permission for allow-listed %v: %v", peer.LocalAddr(), err)
		}
		echo(t, relayConn, peer)
		if err := c.CreatePermission(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.1.2.3:9"))); turnCode(err) != 403 {
			t.Errorf("10.1.2.3 outside the allow-list: %v, want 403", err)
		}
	})
}

// A participant gets at most MaxPerUser allocations at once; others are
// not affected.
func TestQuotaPerParticipant(t *testing.T) {
	r := startRelay(t, func(c *turn.Config) { c.MaxPerUser = 2 })
	user, pass := r.credential("guest")
	dialTURN(t, r, "udp", user, pass).allocate(t)
	dialTURN(t, r, "tcp", user, pass).allocate(t)
	_, err := dialTURN(t, r, "udp", user, pass).Allocate()
	if turnCode(err) != 486 {
		t.Errorf("third allocation: %v, want 486 Allocation Quota Reached", err)
	}
	u2, p2 := r.credential("host")
	dialTURN(t, r, "udp", u2, p2).allocate(t)
	if r.counter("refusals_total", "quota") != 1 {
		t.Errorf("quota refusals = %v", r.counter("refusals_total", "quota"))
	}
}

// Allocations end with their participant (EndParticipant) and with their
// credential (EndExpired, run by the sweeper), not ten minutes later.
func TestAllocationsEndWithParticipantAndWindow(t *testing.T) {
	r := startRelay(t, nil)
	peer := newPeer(t)
	uh, ph := r.credential("host")
	host := dialTURN(t, r, "udp", uh, ph).allocate(t)
	ug, pg := r.Credentials().Issue(holder("guest"), r.clock.Now().Add(2*time.Hour))
	guest := dialTURN(t, r, "tcp", ug, pg).allocate(t)
	if n := r.Allocations(); n != 2 {
		t.Fatalf("%d allocations, want 2", n)
	}
	echo(t, host, peer)

	if n := r.EndParticipant("host"); n != 1 {
		t.Errorf("EndParticipant ended %d, want 1", n)
	}
	waitFor(t, "host's allocation gone", func() bool { return r.Allocations() == 1 && gauge(r) == 1 })
	peer.WriteTo([]byte("x"), host.LocalAddr())
	if got, _, err := readWithin(host, 200*time.Millisecond); err == nil {
		t.Errorf("ended allocation still relays: %q", got)
	}

	r.clock.Advance(time.Hour + turn.DefaultGrace)
	if n := r.EndExpired(); n != 0 {
		t.Errorf("EndExpired before the guest's window end ended %d", n)
	}
	r.clock.Advance(time.Hour)
	if n := r.EndExpired(); n != 1 {
		t.Errorf("EndExpired after the window ended %d, want 1", n)
	}
	waitFor(t, "guest's allocation gone", func() bool { return r.Allocations() == 0 && gauge(r) == 0 })
	_ = guest
}

func gauge(r *relay) float64 {
	return testutilGauge(r)
}

// A relay that cannot listen says which listener and address.
func TestListenErrorNamesListener(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = turn.New(turn.Config{UDPAddr: busy.LocalAddr().String(), RelayIP: loopback})
	var le *turn.ListenError
	if !errors.As(err, &le) || le.Transport != "udp" || le.Addr != busy.LocalAddr().String() {
		t.Errorf("got %v, want a udp ListenError for %s", err, busy.LocalAddr())
	}
}

// Close ends client connections and allocations and leaves no goroutine
// behind, while clients are still connected.
func TestCloseEndsEverything(t *testing.T) {
	// Checked after the clients' cleanup, which stops their refresh timers.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	cert, key := selfSigned(t)
	r := startRelay(t, func(c *turn.Config) {
		c.TLSAddrs = []string{"127.0.0.1:0"}
		c.CertFile, c.KeyFile = cert, key
	})
	var clients []*turnClient
	for _, transport := range []string{"udp", "tcp", "tls"} {
		user, pass := r.credential("p")
		c := dialTURN(t, r, transport, user, pass)
		c.allocate(t)
		clients = append(clients, c)
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if n := r.Allocations(); n != 0 {
		t.Errorf("%d allocations after close", n)
	}
	for _, c := range clients {
		c.close()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
