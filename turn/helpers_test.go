package turn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/konsil/konsil/turn"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// relay is a turn.Server on 127.0.0.1 with its clock and registry.
type relay struct {
	*turn.Server
	clock *clock
	reg   *prometheus.Registry
}

// startRelay starts a relay on free 127.0.0.1 ports, UDP and TCP, with
// 127.0.0.1 allow-listed; edit changes the config first.
func startRelay(t testing.TB, edit func(*turn.Config)) *relay {
	t.Helper()
	r := &relay{clock: &clock{t: time.Now()}, reg: prometheus.NewRegistry()}
	cfg := turn.Config{
		Secret:  "test-secret",
		UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0",
		RelayIP:    loopback,
		AllowPeers: []netip.Prefix{netip.PrefixFrom(loopback, 32)},
		Now:        r.clock.Now,
		Registry:   r.reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := turn.New(cfg)
	if err != nil {
		t.Fatalf("start relay: %v", err)
	}
	r.Server = s
	t.Cleanup(func() { s.Close() })
	return r
}

// credential issues a credential for participant of room "r" valid for
// an hour (plus grace) on the relay's clock.
func (r *relay) credential(participant string) (string, string) {
	return r.Credentials().Issue(holder(participant), r.clock.Now().Add(time.Hour))
}

// holder is participant in room "r".
func holder(participant string) turn.Holder {
	return turn.Holder{Room: "r", Participant: participant}
}

func (r *relay) counter(name string, labels ...string) float64 {
	switch name {
	case "allocations_total":
		return testutil.ToFloat64(r.Metrics().AllocationsTotal.WithLabelValues(labels...))
	case "refusals_total":
		return testutil.ToFloat64(r.Metrics().Refusals.WithLabelValues(labels...))
	case "relayed_bytes_total":
		return testutil.ToFloat64(r.Metrics().RelayedBytes.WithLabelValues(labels...))
	}
	panic(name)
}

// turnClient is a pion TURN client over one transport.
type turnClient struct {
	*pturn.Client
	conn net.PacketConn
}

// dialTURN connects a pion TURN client to r over udp, tcp or tls.
func dialTURN(t testing.TB, r *relay, transport, user, pass string) *turnClient {
	t.Helper()
	var conn net.PacketConn
	var server string
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, server = c, r.UDPAddr().String()
	case "tcp":
		server = r.TCPAddr().String()
		c, err := net.Dial("tcp", server)
		if err != nil {
			t.Fatal(err)
		}
		conn = pturn.NewSTUNConn(c)
	case "tls":
		server = r.TLSAddrs()[0].String()
		c, err := tls.Dial("tcp", server, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // our own test certificate
		if err != nil {
			t.Fatal(err)
		}
		conn = pturn.NewSTUNConn(c)
	default:
		t.Fatalf("transport %q", transport)
	}
	cl, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	tc := &turnClient{Client: cl, conn: conn}
	t.Cleanup(tc.close)
	return tc
}

func (c *turnClient) close() {
	c.Client.Close()
	c.conn.Close()
}

// allocate allocates a relay and closes it when the test ends.
func (c *turnClient) allocate(t testing.TB) net.PacketConn {
	t.Helper()
	relayConn, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	t.Cleanup(func() { relayConn.Close() })
	return relayConn
}

// turnCode returns the STUN error code of a TURN error response, or 0.
func turnCode(err error) int {
	var tp *stun.TurnError
	if errors.As(err, &tp) {
		return int(tp.ErrorCodeAttr.Code)
	}
	return 0
}

// peer is a plain UDP socket on 127.0.0.1 standing for a remote host.
func newPeer(t testing.TB) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readWithin reads one datagram from c within d.
func readWithin(c net.PacketConn, d time.Duration) ([]byte, net.Addr, error) {
	buf := make([]byte, 1600)
	c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFrom(buf)
	return buf[:n], from, err
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func testutilGauge(r *relay) float64 { return testutil.ToFloat64(r.Metrics().Allocations) }
