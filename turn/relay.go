package turn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	pturn "github.com/pion/turn/v5"
)

var (
	errUnsupported = errors.New("turn: only UDP relays over IPv4 are offered (what WebRTC uses)")
	errQuota       = errors.New("turn: allocation quota reached")
	errNoPort      = errors.New("turn: no free relay port in range")
	errClosed      = errors.New("turn: server closed")
)

// relays hands out the relay sockets of allocations (pion's
// RelayAddressGenerator) and keeps them: by participant for the quota
// and EndParticipant, with their holder and expiry for EndRevoked and
// EndExpired, by port for the own-address guard. State is guarded by mu; a relay removes itself when
// pion (or we) close it.
type relays struct {
	bind       netip.Addr // local address relay sockets bind to
	public     net.IP     // address announced to clients
	minPort    int        // 0 with maxPort 0: any port the kernel picks
	maxPort    int
	maxPerUser int
	policy     *peerPolicy
	metrics    *Metrics

	mu     sync.Mutex
	live   map[*relayConn]struct{}
	ports  map[int]bool
	byUser map[string]int
	closed bool
	wg     sync.WaitGroup // one per live relay socket
}

func newRelays(bind netip.Addr, public net.IP, minPort, maxPort, maxPerUser int, policy *peerPolicy, m *Metrics) *relays {
	return &relays{
		bind: bind, public: public, minPort: minPort, maxPort: maxPort, maxPerUser: maxPerUser,
		policy: policy, metrics: m,
		live: map[*relayConn]struct{}{}, ports: map[int]bool{}, byUser: map[string]int{},
	}
}

// Validate implements pion's RelayAddressGenerator.
func (r *relays) Validate() error { return nil }

// AllocatePacketConn opens the UDP relay socket of a new allocation.
// userID is the whole TURN username (our AuthHandler returns it), so the
// relay knows its holder and expiry.
func (r *relays) AllocatePacketConn(conf pturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.Network != "udp4" || conf.RequestedPort != 0 {
		// EVEN-PORT and RESERVATION-TOKEN serve RTP/RTCP on adjacent
		// ports, which WebRTC (rtcp-mux) never asks for.
		r.metrics.refuse(reasonUnsupported)
		return nil, nil, errUnsupported
	}
	claim, err := ParseUsername(conf.UserID)
	if err != nil {
		return nil, nil, err
	}
	if !r.underQuota(claim.Participant) {
		r.metrics.refuse(reasonQuota)
		return nil, nil, errQuota
	}
	conn, err := r.listen()
	if err != nil {
		return nil, nil, err
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	c := &relayConn{UDPConn: conn, r: r, holder: claim.Holder, expiry: claim.Expiry, port: port}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		conn.Close()
		return nil, nil, errClosed
	}
	r.live[c] = struct{}{}
	r.ports[port] = true
	r.byUser[claim.Participant]++
	r.wg.Add(1)
	r.mu.Unlock()
	return c, &net.UDPAddr{IP: r.public, Port: port}, nil
}

// listen binds a UDP socket on a random port of the range; a few ports
// may be taken by other programs, so it tries several.
func (r *relays) listen() (*net.UDPConn, error) {
	ip := net.IP(r.bind.AsSlice())
	if r.minPort == 0 && r.maxPort == 0 {
		return net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	}
	span := r.maxPort - r.minPort + 1
	for range 32 {
		port := r.minPort + rand.IntN(span)
		if conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port}); err == nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("%w %d-%d", errNoPort, r.minPort, r.maxPort)
}

// AllocateListener refuses RFC 6062 TCP allocations: browsers never make
// them, and a relay that opens TCP connections anywhere is a proxy.
func (r *relays) AllocateListener(pturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	r.metrics.refuse(reasonUnsupported)
	return nil, nil, errUnsupported
}

// AllocateConn refuses RFC 6062 Connect requests (see AllocateListener).
func (r *relays) AllocateConn(pturn.AllocateConnConfig) (net.Conn, error) {
	r.metrics.refuse(reasonUnsupported)
	return nil, errUnsupported
}

// underQuota reports whether participant may have one more allocation.
func (r *relays) underQuota(participant string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxPerUser <= 0 || r.byUser[participant] < r.maxPerUser
}

func (r *relays) remove(c *relayConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[c]; !ok {
		return
	}
	delete(r.live, c)
	delete(r.ports, c.port)
	if r.byUser[c.holder.Participant]--; r.byUser[c.holder.Participant] <= 0 {
		delete(r.byUser, c.holder.Participant)
	}
	r.wg.Done()
}

func (r *relays) livePort(port int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ports[port]
}

// end closes the relay sockets that match; pion then deletes their
// allocations (its relay read loop fails and cleans up). Sockets are
// closed outside mu: closing calls remove.
func (r *relays) end(match func(*relayConn) bool) int {
	r.mu.Lock()
	var doomed []*relayConn
	for c := range r.live {
		if match(c) {
			doomed = append(doomed, c)
		}
	}
	r.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
	return len(doomed)
}

// closeAll refuses new relays and closes the live ones.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.end(func(*relayConn) bool { return true })
}

// holders lists the holders of live relays, each once.
func (r *relays) holders() []Holder {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[Holder]bool{}
	var out []Holder
	for c := range r.live {
		if !seen[c.holder] {
			seen[c.holder] = true
			out = append(out, c.holder)
		}
	}
	return out
}

func (r *relays) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// relayConn is one allocation's relay socket. It counts relayed bytes
// and keeps writes to our own addresses on live relay ports.
type relayConn struct {
	*net.UDPConn
	r        *relays
	holder   Holder
	expiry   time.Time
	port     int
	once     sync.Once
	closeErr error
}

// ReadFrom counts what peers send to the relay.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(p)
	if n > 0 {
		c.r.metrics.fromPeer.Add(float64(n))
	}
	return n, addr, err
}

// WriteTo relays a client's data to a peer. The permission for the
// peer's IP was checked by pion (peerPolicy.check); here the port is: on
// our own addresses only other relays may be reached, never the API,
// SSH or the SFU. A refused packet is dropped silently, as a firewall
// would, so pion does not log every one.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		if c.r.policy.guarded(netipOf(ua.IP)) && !c.r.livePort(ua.Port) {
			c.r.metrics.refuse(reasonOwnPort)
			return len(p), nil
		}
	}
	n, err := c.UDPConn.WriteTo(p, addr)
	if n > 0 {
		c.r.metrics.toPeer.Add(float64(n))
	}
	return n, err
}

// Close closes the socket once and forgets it.
func (c *relayConn) Close() error {
	c.once.Do(func() {
		c.closeErr = c.UDPConn.Close()
		c.r.remove(c)
	})
	return c.closeErr
}
