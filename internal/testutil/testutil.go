// Package testutil starts real Konsil servers for tests: in-process, on a
// free 127.0.0.1 port, with a fresh bbolt store and a clock the test moves;
// and real redis-servers, one per test (redis.go).
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/turn"
)

// Clock is a clock tests set and advance; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Server is a running in-process Konsil.
type Server struct {
	*server.Server
	URL   string
	Clock *Clock
	// AdminKey and TenantKey are the keys of the first start.
	AdminKey, TenantKey, TenantID string
	done                          chan error
}

// Option changes the server's configuration before it starts.
type Option func(*server.Config)

// WithTURN runs the embedded TURN relay on free 127.0.0.1 ports (UDP and
// TCP), relaying on 127.0.0.1, which is allow-listed as a peer (relaying
// to loopback is refused otherwise). edit changes the relay's config,
// e.g. to switch a transport off.
func WithTURN(edit ...func(*turn.Config)) Option {
	return func(c *server.Config) {
		lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		tc := &turn.Config{
			UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0",
			RelayIP: lo, AllowPeers: []netip.Prefix{netip.PrefixFrom(lo, 32)},
		}
		for _, e := range edit {
			e(tc)
		}
		c.TURN = tc
	}
}

// StartServer starts a server on 127.0.0.1 with a fresh store in a temporary
// directory and stops it when the test ends. The clock starts at the real
// time, so clients' session tokens and windows behave as in production
// unless the test moves it.
func StartServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	clock := NewClock(time.Now())
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Now: clock.Now,
		// Tests make many wrong joins on purpose; keep holds short.
		JoinFailures: api.FailureLimits{SlowStep: time.Millisecond, SlowMax: 5 * time.Millisecond},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &Server{Server: srv, URL: "http://" + ln.Addr().String(), Clock: clock, done: make(chan error, 1)}
	if b := srv.Bootstrap; b != nil {
		s.AdminKey, s.TenantKey, s.TenantID = b.AdminKey, b.TenantKey, b.TenantID
	}
	go func() { s.done <- srv.Serve(ln) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down and waits for Serve to return; calling it
// again does nothing.
func (s *Server) Stop(t testing.TB) {
	if s.done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	s.done = nil
}

// Do sends a JSON request with an optional bearer key and decodes a JSON
// answer into out (when not nil). It returns the status code.
func (s *Server) Do(t testing.TB, method, path, key string, in, out any) int {
	t.Helper()
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	case string:
		body = bytes.NewReader([]byte(v))
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// CreateRoom creates a room with the default tenant's key, open from an hour
// ago for 24 h, with the given capacity and participant roles.
func (s *Server) CreateRoom(t testing.TB, capacity int, roles ...string) protocol.Room {
	t.Helper()
	start := s.Clock.Now().Add(-time.Hour)
	req := protocol.RoomRequest{Window: protocol.WindowRequest{Start: &start}, Capacity: capacity}
	for _, r := range roles {
		req.Participants = append(req.Participants, protocol.ParticipantRequest{Role: r})
	}
	var room protocol.Room
	if code := s.Do(t, http.MethodPost, "/api/v1/rooms", s.TenantKey, req, &room); code != http.StatusCreated {
		t.Fatalf("create room: HTTP %d", code)
	}
	return room
}
