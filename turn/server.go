// Package turn runs Konsil's embedded TURN relay (pion/turn), so that
// participants behind firewalls that block UDP still connect: STUN and
// TURN over UDP and TCP and TURN over TLS, with time-limited TURN REST
// credentials that need no state and that coturn understands too. It
// refuses to relay into the server's own network, limits allocations per
// participant and ends them when their credential ends or is revoked. It
// also opens the SFU's two media ports (MediaMux). It knows nothing of
// rooms or HTTP: the API asks it for ICE servers with a room, a
// participant and a window end, and it asks back through Config.Revoked
// whether that room and participant still hold.
package turn

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	pturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/konsil/konsil/internal/pionlog"
	"github.com/konsil/konsil/protocol"
)

// Defaults of Config.
const (
	DefaultMinPort          = 49152
	DefaultMaxPort          = 65535
	DefaultMaxPerUser       = 10
	DefaultSweepInterval    = 30 * time.Second
	DefaultIdleTimeout      = 15 * time.Minute
	DefaultMaxStreamConns   = 4096
	realm                   = "konsil"
	allocationLifetimeLimit = 10 * time.Minute
	// revocationTimeout bounds one Config.Revoked call. pion handles all
	// UDP requests in one goroutine, so a slow store would stall every
	// UDP client's requests behind it.
	revocationTimeout = time.Second
)

// Refusal reasons of credentials and quota (see policy.go for peers).
const (
	reasonExpired       = "expired"
	reasonMalformed     = "malformed"
	reasonBadCredential = "bad_credential"
	reasonQuota         = "quota"
	reasonUnsupported   = "unsupported"
	reasonRevoked       = "revoked" // room deleted or closed, participant removed, or the check failed
)

// Config of the embedded relay. Addresses take port 0 for a free port
// (tests); an empty address switches that listener off.
type Config struct {
	// Secret is the shared secret of the credentials (coturn's
	// static-auth-secret). Empty: a random one for this process.
	Secret string
	// UDPAddr and TCPAddr serve STUN and TURN, e.g. ":3478".
	UDPAddr, TCPAddr string
	// TLSAddrs serve TURN over TLS, e.g. ":5349" and ":443"; they need
	// CertFile and KeyFile (PEM), and are off without them.
	TLSAddrs          []string
	CertFile, KeyFile string
	// RelayIP is the IPv4 address relay sockets bind to; the zero value
	// takes the address of the default route (DefaultRelayIP).
	RelayIP netip.Addr
	// PublicIP is the relay address announced to clients, for hosts
	// behind 1:1 NAT; RelayIP when zero.
	PublicIP netip.Addr
	// Host is put into the URLs handed to clients; PublicIP when empty.
	// TURN over TLS needs the name on the certificate here.
	Host string
	// MinPort and MaxPort bound relay ports (DefaultMinPort and
	// DefaultMaxPort when both are zero; MinPort -1 lets the kernel pick).
	MinPort, MaxPort int
	// AllowPeers are peer networks relayed to even though they are
	// loopback, private or this host's (tests on 127.0.0.1, labs).
	AllowPeers []netip.Prefix
	// MaxPerUser bounds a participant's live allocations
	// (DefaultMaxPerUser when zero; negative: no bound).
	MaxPerUser int
	// Grace is how long credentials outlive the room window
	// (DefaultGrace when zero).
	Grace time.Duration
	// SweepInterval is how often allocations past their credential's
	// expiry, or with a revoked one, are ended (DefaultSweepInterval when
	// zero).
	SweepInterval time.Duration
	// Revoked reports whether a credential's holder may no longer relay:
	// its room was deleted or its window is not open, or the participant
	// is no longer in it. The relay asks on every authenticated request
	// (pion calls the AuthHandler for Allocate, Refresh, CreatePermission
	// and ChannelBind alike), and its sweeper asks for every live
	// allocation; a revoked holder's allocations are ended. An error
	// refuses the request (fail closed) but ends no allocation. nil: only
	// expiry counts. It must answer quickly: UDP requests wait behind it
	// (a context ends it after a second).
	Revoked func(ctx context.Context, h Holder) (bool, error)
	// Now is the clock credentials expire by; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Registry receives the metrics; a private one when nil.
	Registry prometheus.Registerer
}

// Server is a running relay.
type Server struct {
	cfg     Config
	log     *slog.Logger
	creds   Credentials
	metrics *Metrics
	relays  *relays
	pion    *pturn.Server

	udp      net.PacketConn
	tcp      *streamListener
	tls      []*streamListener
	tcpPort  int
	certs    *certReloader
	stunURLs []string
	turnURLs []string

	// ctx ends with Close: the sweeper and its revocation checks.
	ctx       context.Context
	cancel    context.CancelFunc
	sweeper   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New opens the listeners and starts relaying. A listener that cannot
// open fails New with a *ListenError.
func New(cfg Config) (*Server, error) {
	// A random secret is fine for one node; credentials then die with the
	// process, and other nodes or coturn cannot check them.
	generated := cfg.Secret == ""
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger,
		creds:   Credentials{Secret: []byte(cfg.Secret), Grace: cfg.Grace},
		metrics: NewMetrics(cfg.Registry),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	policy := newPeerPolicy(cfg.AllowPeers, cfg.PublicIP, append(hostAddrs(), cfg.RelayIP, cfg.PublicIP))
	s.relays = newRelays(cfg.RelayIP, net.IP(cfg.PublicIP.AsSlice()), cfg.MinPort, cfg.MaxPort, cfg.MaxPerUser, policy, s.metrics)
	if err := s.listen(); err != nil {
		s.cancel()
		s.closeListeners()
		return nil, err
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		if reason := policy.check(netipOf(peer)); reason != "" {
			s.metrics.refuse(reason)
			s.log.Debug("turn: peer refused", "reason", reason)
			return false
		}
		return true
	}
	pc := pturn.ServerConfig{
		Realm:        realm,
		AuthHandler:  s.auth,
		QuotaHandler: s.quota,
		EventHandler: s.events(),
		// pion's TURN server puts client and peer addresses into its
		// messages at every level; addresses are personal data, so all of
		// it stays at debug.
		LoggerFactory:       pionlog.Factory(cfg.Logger, slog.LevelDebug),
		StrictAddressFamily: true, // IPv4 relays unless asked: all we offer
		AllocationLifetime:  allocationLifetimeLimit,
	}
	if s.udp != nil {
		pc.PacketConnConfigs = append(pc.PacketConnConfigs, pturn.PacketConnConfig{
			PacketConn: s.udp, RelayAddressGenerator: s.relays, PermissionHandler: permit,
		})
	}
	for _, ln := range s.streamListeners() {
		pc.ListenerConfigs = append(pc.ListenerConfigs, pturn.ListenerConfig{
			Listener: ln, RelayAddressGenerator: s.relays, PermissionHandler: permit,
		})
	}
	if s.pion, err = pturn.NewServer(pc); err != nil {
		s.cancel()
		s.closeListeners()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.sweeper.Add(1)
	go s.sweep()
	s.log.Info("turn relay listening", "urls", len(s.turnURLs), "tls", len(s.tls) > 0,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.MinPort, cfg.MaxPort), "random_secret", generated)
	return s, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Secret == "" {
		b := make([]byte, 32)
		rand.Read(b)
		cfg.Secret = string(b)
	}
	if cfg.UDPAddr == "" && cfg.TCPAddr == "" && len(cfg.TLSAddrs) == 0 {
		return cfg, errors.New("turn: no listener: set a UDP, TCP or TLS address")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return cfg, errors.New("turn: TLS needs both a certificate and a key file")
	}
	if cfg.CertFile == "" {
		cfg.TLSAddrs = nil
	}
	switch {
	case cfg.MinPort == 0 && cfg.MaxPort == 0:
		cfg.MinPort, cfg.MaxPort = DefaultMinPort, DefaultMaxPort
	case cfg.MinPort == -1:
		cfg.MinPort, cfg.MaxPort = 0, 0
	case cfg.MinPort < 1 || cfg.MaxPort > 65535 || cfg.MinPort > cfg.MaxPort:
		return cfg, fmt.Errorf("turn: relay port range %d-%d is not within 1-65535", cfg.MinPort, cfg.MaxPort)
	}
	if !cfg.RelayIP.IsValid() {
		cfg.RelayIP = DefaultRelayIP()
	}
	cfg.RelayIP = cfg.RelayIP.Unmap()
	if !cfg.RelayIP.Is4() {
		return cfg, fmt.Errorf("turn: relay IP %s is not IPv4", cfg.RelayIP)
	}
	if !cfg.PublicIP.IsValid() {
		cfg.PublicIP = cfg.RelayIP
	}
	cfg.PublicIP = cfg.PublicIP.Unmap()
	if !cfg.PublicIP.Is4() {
		return cfg, fmt.Errorf("turn: public IP %s is not IPv4", cfg.PublicIP)
	}
	if cfg.Host == "" {
		cfg.Host = cfg.PublicIP.String()
	}
	if cfg.MaxPerUser == 0 {
		cfg.MaxPerUser = DefaultMaxPerUser
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	return cfg, nil
}

// DefaultRelayIP is the IPv4 address of the default route: the one
// other hosts most likely reach. Connecting a UDP socket sends nothing;
// it only asks the routing table. Without a route it falls back to the
// first non-loopback interface address, then to 127.0.0.1.
func DefaultRelayIP() netip.Addr {
	if c, err := net.Dial("udp4", "192.0.2.1:3478"); err == nil {
		defer c.Close()
		if a := netipOf(c.LocalAddr().(*net.UDPAddr).IP); a.IsValid() && !a.IsUnspecified() {
			return a
		}
	}
	for _, a := range hostAddrs() {
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// listen opens the configured listeners and works out the URLs.
func (s *Server) listen() error {
	cfg := s.cfg
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", cfg.UDPAddr)
		if err != nil {
			return &ListenError{Transport: "udp", Addr: cfg.UDPAddr, Err: err}
		}
		s.udp = pc
		port := pc.LocalAddr().(*net.UDPAddr).Port
		hp := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
		s.stunURLs = append(s.stunURLs, "stun:"+hp)
		s.turnURLs = append(s.turnURLs, "turn:"+hp+"?transport=udp")
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return &ListenError{Transport: "tcp", Addr: cfg.TCPAddr, Err: err}
		}
		s.tcp = newStreamListener(ln, DefaultIdleTimeout, DefaultMaxStreamConns)
		s.tcpPort = ln.Addr().(*net.TCPAddr).Port
		s.turnURLs = append(s.turnURLs, "turn:"+net.JoinHostPort(cfg.Host, strconv.Itoa(s.tcpPort))+"?transport=tcp")
	}
	if len(cfg.TLSAddrs) == 0 {
		return nil
	}
	certs, err := newCertReloader(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return err
	}
	s.certs = certs
	for _, addr := range cfg.TLSAddrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &ListenError{Transport: "tls", Addr: addr, Err: err}
		}
		s.tls = append(s.tls, newStreamListener(ln, DefaultIdleTimeout, DefaultMaxStreamConns))
		port := ln.Addr().(*net.TCPAddr).Port
		s.turnURLs = append(s.turnURLs, "turns:"+net.JoinHostPort(cfg.Host, strconv.Itoa(port))+"?transport=tcp")
	}
	return nil
}

// streamListeners are the listeners pion accepts on: TCP as is, TLS
// wrapped.
func (s *Server) streamListeners() []net.Listener {
	var out []net.Listener
	if s.tcp != nil {
		out = append(out, s.tcp)
	}
	if len(s.tls) > 0 {
		tc := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.certs.get() },
		}
		for _, ln := range s.tls {
			out = append(out, tls.NewListener(ln, tc))
		}
	}
	return out
}

// auth is pion's AuthHandler, called for every authenticated request
// (Allocate, Refresh, CreatePermission, ChannelBind): it checks the form
// and expiry of the username and that its holder was not revoked, and
// returns the key of the password the username must have; pion then
// checks the request's MESSAGE-INTEGRITY against that key, and a forged
// password fails there (counted in events). The whole username is
// returned as the user id, so relays know holder and expiry.
//
// pion asks before it checks the password, so a forged username costs a
// revocation check too: one keyed store read, after the cheap checks.
func (s *Server) auth(ra *pturn.RequestAttributes) (string, []byte, bool) {
	claim, err := ParseUsername(ra.Username)
	if err != nil {
		s.metrics.refuse(reasonMalformed)
		s.log.Debug("turn: credential refused", "reason", reasonMalformed)
		return "", nil, false
	}
	if !s.cfg.Now().Before(claim.Expiry) {
		s.metrics.refuse(reasonExpired)
		s.log.Debug("turn: credential refused", "reason", reasonExpired, "expired_at", claim.Expiry.UTC())
		return "", nil, false
	}
	if s.refuseRevoked(claim.Holder) {
		return "", nil, false
	}
	return ra.Username, pturn.GenerateAuthKey(ra.Username, ra.Realm, s.creds.Password(ra.Username)), true
}

// refuseRevoked asks Config.Revoked about h and reports whether to refuse
// its request: revoked, or the check failed (a relay that cannot tell
// must not relay). A revoked holder's live allocations end at once: pion
// relays over them without asking again until their lifetime ends.
func (s *Server) refuseRevoked(h Holder) bool {
	if s.cfg.Revoked == nil {
		return false
	}
	revoked, err := s.checkRevoked(s.ctx, h)
	switch {
	case err != nil:
		s.metrics.refuse(reasonRevoked)
		s.log.Warn("turn: revocation check failed, request refused", "err", err)
		return true
	case revoked:
		s.metrics.refuse(reasonRevoked)
		n := s.relays.end(func(c *relayConn) bool { return c.holder == h })
		s.log.Debug("turn: credential refused", "reason", reasonRevoked,
			"room", h.Room, "participant", h.Participant, "allocations_ended", n)
		return true
	}
	return false
}

func (s *Server) checkRevoked(ctx context.Context, h Holder) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	revoked, err := s.cfg.Revoked(ctx, h)
	if err != nil {
		return false, fmt.Errorf("turn: revocation check: %w", err)
	}
	return revoked, nil
}

// quota is pion's QuotaHandler: it answers 486 Allocation Quota Reached
// to a participant with MaxPerUser live allocations. A browser makes one
// per TURN URL and network interface, and more across ICE restarts while
// old ones run out.
func (s *Server) quota(userID, _ string, _ net.Addr) bool {
	claim, err := ParseUsername(userID)
	if err != nil || !s.relays.underQuota(claim.Participant) {
		s.metrics.refuse(reasonQuota)
		s.log.Debug("turn: allocation refused", "reason", reasonQuota)
		return false
	}
	return true
}

func (s *Server) events() pturn.EventHandler {
	return pturn.EventHandler{
		OnAuth: func(_, _ net.Addr, _, _, _ string, _ string, verdict bool) {
			if !verdict {
				s.metrics.refuse(reasonBadCredential)
				s.log.Debug("turn: credential refused", "reason", reasonBadCredential)
			}
		},
		OnAllocationCreated: func(_, dst net.Addr, _, _, _ string, _ net.Addr, _ int) {
			s.metrics.Allocations.Inc()
			s.metrics.AllocationsTotal.WithLabelValues(s.transportOf(dst)).Inc()
			s.log.Debug("turn: allocation created", "transport", s.transportOf(dst))
		},
		OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) {
			s.metrics.Allocations.Dec()
		},
	}
}

// transportOf names the listener an allocation came in on: pion reports
// every allocation as UDP, but the server's side of the five-tuple tells.
func (s *Server) transportOf(local net.Addr) string {
	switch a := local.(type) {
	case *net.UDPAddr:
		return "udp"
	case *net.TCPAddr:
		if a.Port == s.tcpPort {
			return "tcp"
		}
		return "tls"
	}
	return "other"
}

// ICEServers returns the servers a participant gets on join: STUN, and
// TURN with a credential for h valid until the window ends plus the
// grace, or until Config.Revoked says otherwise.
func (s *Server) ICEServers(h Holder, until time.Time) []protocol.ICEServer {
	var out []protocol.ICEServer
	if len(s.stunURLs) > 0 {
		out = append(out, protocol.ICEServer{URLs: append([]string(nil), s.stunURLs...)})
	}
	user, pass := s.creds.Issue(h, until)
	return append(out, protocol.ICEServer{URLs: append([]string(nil), s.turnURLs...), Username: user, Credential: pass})
}

// URLs returns the TURN URLs handed out (turn: and turns:).
func (s *Server) URLs() []string { return append([]string(nil), s.turnURLs...) }

// Credentials returns the issuer of this server's credentials.
func (s *Server) Credentials() Credentials { return s.creds }

// Metrics returns the relay's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Allocations returns how many allocations are alive.
func (s *Server) Allocations() int { return s.relays.count() }

// EndParticipant ends every allocation of a participant, for a
// participant who left or was removed from the room. It returns how many
// ended.
func (s *Server) EndParticipant(participant string) int {
	return s.relays.end(func(c *relayConn) bool { return c.holder.Participant == participant })
}

// EndExpired ends the allocations whose credential has expired. pion
// would refuse their next refresh anyway, but that can be ten minutes
// away; this ends them within a sweep interval of the window's end plus
// grace. It returns how many ended.
func (s *Server) EndExpired() int {
	now := s.cfg.Now()
	n := s.relays.end(func(c *relayConn) bool { return !now.Before(c.expiry) })
	if n > 0 {
		s.log.Info("turn allocations past their window ended", "allocations", n)
	}
	return n
}

// EndRevoked ends the allocations whose holder Config.Revoked says was
// revoked: the room was deleted or closed, or the participant removed.
// The relay refuses such a credential's next request, but pion grants
// lifetimes of up to an hour and relays without asking until then; this
// ends them within a sweep interval, whether or not the holder ever asks
// again. A holder whose check fails keeps its allocations until a check
// succeeds. It returns how many ended.
func (s *Server) EndRevoked(ctx context.Context) int {
	if s.cfg.Revoked == nil {
		return 0
	}
	gone := map[Holder]bool{}
	for _, h := range s.relays.holders() {
		revoked, err := s.checkRevoked(ctx, h)
		if err != nil {
			s.log.Warn("turn: revocation check failed, allocations kept", "err", err)
			continue
		}
		if revoked {
			gone[h] = true
		}
	}
	if len(gone) == 0 {
		return 0
	}
	n := s.relays.end(func(c *relayConn) bool { return gone[c.holder] })
	if n > 0 {
		s.log.Info("turn allocations of revoked credentials ended", "allocations", n)
	}
	return n
}

func (s *Server) sweep() {
	defer s.sweeper.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.EndExpired()
			s.EndRevoked(s.ctx)
		}
	}
}

// Close stops the relay: listeners, client connections and every
// allocation. It waits (up to five seconds) until all are closed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.sweeper.Wait()
		s.closeErr = s.pion.Close()
		s.closeListeners()
		s.relays.closeAll()
		done := make(chan struct{})
		go func() {
			s.relays.wg.Wait()
			for _, ln := range s.streamListenersRaw() {
				ln.wg.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.closeErr = errors.Join(s.closeErr, errors.New("turn: close: connections still open after 5s"))
		}
		s.log.Info("turn relay stopped")
	})
	if errors.Is(s.closeErr, net.ErrClosed) {
		return nil
	}
	return s.closeErr
}

func (s *Server) streamListenersRaw() []*streamListener {
	out := append([]*streamListener(nil), s.tls...)
	if s.tcp != nil {
		out = append(out, s.tcp)
	}
	return out
}

// closeListeners closes what listen opened (pion may have closed some).
func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	for _, ln := range s.streamListenersRaw() {
		ln.closeAll()
	}
}

// UDPAddr is the STUN/TURN UDP listener's address (nil when off).
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the TURN-over-TCP listener's address (nil when off).
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// TLSAddrs are the TURN-over-TLS listeners' addresses.
func (s *Server) TLSAddrs() []net.Addr {
	var out []net.Addr
	for _, ln := range s.tls {
		out = append(out, ln.Addr())
	}
	return out
}
