package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/store"
	redisstore "github.com/konsil/konsil/store/redis"
	"github.com/konsil/konsil/turn"
)

// envFlags registers flags whose defaults come from KONSIL_* variables.
type envFlags struct {
	fs *flag.FlagSet
}

func (e envFlags) env(name string) string {
	return "KONSIL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (e envFlags) String(name, def, help string) *string {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		def = v
	}
	return e.fs.String(name, def, help+" ($"+e.env(name)+")")
}

func (e envFlags) Duration(name string, def time.Duration, help string) *time.Duration {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		} else {
			fmt.Fprintf(os.Stderr, "konsil: ignoring $%s=%q: %v\n", e.env(name), v, err)
		}
	}
	return e.fs.Duration(name, def, help+" ($"+e.env(name)+")")
}

func (e envFlags) Bool(name string, def bool, help string) *bool {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		} else {
			fmt.Fprintf(os.Stderr, "konsil: ignoring $%s=%q: %v\n", e.env(name), v, err)
		}
	}
	return e.fs.Bool(name, def, help+" ($"+e.env(name)+")")
}

func (e envFlags) Int(name string, def int, help string) *int {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		} else {
			fmt.Fprintf(os.Stderr, "konsil: ignoring $%s=%q: %v\n", e.env(name), v, err)
		}
	}
	return e.fs.Int(name, def, help+" ($"+e.env(name)+")")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := envFlags{fs}
	addr := f.String("addr", "localhost:8080", "HTTP listen address")
	data := f.String("data", "./data", "directory of the embedded store")
	// Not through envFlags: the variable is KONSIL_REDIS_URL, and a URL
	// with a password must not show as the default in -h.
	redisURL := fs.String("redis", "", "redis:// URL of a Redis that keeps the state instead of the embedded store, e.g. redis://:password@10.0.0.5:6379/0 ($KONSIL_REDIS_URL)")
	keyFile := f.String("key-file", "", "file of the server secrets, created with mode 0600 on first start (default: konsil.keys in --data); KONSIL_KEY_* variables override it per secret")
	public := f.String("public-url", "", "public base URL of links, e.g. https://video.example.org (default: the request's host)")
	stun := f.String("stun-urls", "", "comma-separated STUN/TURN URLs handed to clients, e.g. stun:stun.example.org:3478")
	proxies := f.String("trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	v6Prefix := f.Int("limit-ipv6-prefix", api.DefaultIPv6Prefix, "prefix length by which IPv6 clients share the limits on wrong codes and passwords (IPv4: per address)")
	logLevel := f.String("log-level", "info", "log level: debug, info, warn, error")
	retention := f.Duration("retention", 48*time.Hour, "how long room metadata is kept after its window ends")
	sessionTTL := f.Duration("session-ttl", 10*time.Minute, "how long a session token from /join may be used to connect")
	debugAddr := f.String("debug-addr", "", "loopback address for Go's profiler (/debug/pprof/), e.g. 127.0.0.1:6060; off when empty")
	tf := newTURNFlags(f)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *redisURL == "" {
		*redisURL = os.Getenv("KONSIL_REDIS_URL")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", *logLevel, err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	turnCfg, external, err := tf.config(*public)
	if err != nil {
		return err
	}

	// Both listeners open before the server is made: on a first start
	// New creates the bootstrap keys, which are shown only once, so
	// nothing may fail between making and showing them.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if *debugAddr != "" {
		dbg, err := listenDebug(*debugAddr)
		if err != nil {
			ln.Close()
			return err
		}
		defer dbg.Close()
		log.Info("profiler listening", "addr", dbg.Addr().String())
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := openRedis(ctx, *redisURL)
	if err != nil {
		ln.Close()
		return err
	}
	if st != nil && *keyFile == "" {
		// Redis never holds the server secrets: they stay in the key file.
		*keyFile = filepath.Join(*data, "konsil.keys")
	}
	srv, err := server.New(ctx, server.Config{
		DataDir: *data, KeyFile: *keyFile, Store: st, Getenv: os.Getenv, PublicURL: *public, ICEServers: iceServers(*stun),
		Retention: *retention, SessionTTL: *sessionTTL, Logger: log, LimitIPv6Prefix: *v6Prefix,
		TrustedProxies: splitList(*proxies),
		TURN:           turnCfg, ExternalTURN: external, SFUMedia: tf.media(),
	})
	if err != nil {
		ln.Close()
		return tf.explain(err)
	}
	base := *public
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	if b := srv.Bootstrap; b != nil {
		// Shown once, on stdout, never logged: only the hashes are kept.
		fmt.Fprintf(stdout, `
First start: keys created. They are shown only now; store them safely.
  admin key (manages tenants):            %s
  tenant %q key (creates rooms):     %s

Create a room:  konsil rooms create --api-key %s

`, b.AdminKey, "default", b.TenantKey, b.TenantKey)
	}
	if srv.SetupToken != "" {
		// Shown on stdout, never logged: whoever opens it becomes the
		// practice's first admin.
		fmt.Fprintf(stdout, `
Practice workspace: the default practice has no user yet. Open this
one-time link (valid for 7 days) to become its first admin:
  %s/practice/#setup=%s

`, base, srv.SetupToken)
	}
	fmt.Fprintf(stdout, "Konsil is running on %s (Ctrl-C to stop)\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return <-errc
}

// openRedis opens the Redis store when rawURL is set; nil (the embedded
// store in --data) otherwise.
func openRedis(ctx context.Context, rawURL string) (store.Store, error) {
	if rawURL == "" {
		return nil, nil
	}
	st, err := redisstore.Open(ctx, redisstore.Options{URL: rawURL})
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	return st, nil
}

func splitList(list string) []string {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func iceServers(list string) []protocol.ICEServer {
	urls := splitList(list)
	if len(urls) == 0 {
		return nil
	}
	return []protocol.ICEServer{{URLs: urls}}
}

// turnFlags are the flags of the embedded TURN relay, the external
// alternative and the SFU's media ports.
type turnFlags struct {
	on                         *bool
	udp, tcp, tls, cert, key   *string
	relayIP, publicIP, host    *string
	ports, allow, secret, urls *string
	quota                      *int
	grace                      *time.Duration
	sfuUDP, sfuTCP, sfuNAT     *string
}

func newTURNFlags(f envFlags) *turnFlags {
	return &turnFlags{
		on:       f.Bool("turn", true, "run the embedded TURN relay (false: none, or the external one of --turn-urls)"),
		udp:      f.String("turn-udp", ":3478", "STUN/TURN over UDP listen address (empty: off)"),
		tcp:      f.String("turn-tcp", ":3478", "TURN over TCP listen address (empty: off)"),
		tls:      f.String("turn-tls", ":5349", "comma-separated TURN over TLS listen addresses, e.g. :5349,:443; used only with --turn-cert and --turn-key"),
		cert:     f.String("turn-cert", "", "PEM certificate file for TURN over TLS (reloaded when it changes)"),
		key:      f.String("turn-key", "", "PEM key file for TURN over TLS"),
		relayIP:  f.String("turn-relay-ip", "", "IPv4 address relay sockets bind to (default: the address of the default route)"),
		publicIP: f.String("turn-public-ip", "", "public IPv4 address announced for relays, for hosts behind 1:1 NAT (default: --turn-relay-ip)"),
		host:     f.String("turn-host", "", "host name in the TURN URLs handed to clients; TURN over TLS needs the certificate's name (default: the public IP)"),
		ports:    f.String("turn-relay-ports", "49152-65535", "UDP port range of relay sockets"),
		allow:    f.String("turn-allow-peers", "", "comma-separated CIDRs the relay may reach although private, loopback or this host's (labs, tests)"),
		quota:    f.Int("turn-user-quota", turn.DefaultMaxPerUser, "live TURN allocations per participant"),
		grace:    f.Duration("turn-grace", turn.DefaultGrace, "how long TURN credentials stay valid after the room window ends"),
		secret:   f.String("turn-secret", "", "shared secret of TURN credentials (coturn's static-auth-secret); default: random per start"),
		urls:     f.String("turn-urls", "", "with --turn=false: comma-separated URLs of an external TURN server sharing --turn-secret, e.g. turn:turn.example.org:3478?transport=udp"),
		sfuUDP:   f.String("sfu-udp", ":7882", "the SFU's single UDP media port (ICE UDP mux)"),
		sfuTCP:   f.String("sfu-tcp", ":7881", "the SFU's single TCP media port (ICE-TCP)"),
		sfuNAT:   f.String("sfu-nat-ips", "", "comma-separated public IPs the SFU announces instead of its own, for hosts behind 1:1 NAT"),
	}
}

// config turns the flags into the relay's config, or the external
// server's, or neither.
func (tf *turnFlags) config(publicURL string) (*turn.Config, *turn.External, error) {
	if !*tf.on {
		urls := splitList(*tf.urls)
		if len(urls) == 0 {
			return nil, nil, nil
		}
		if *tf.secret == "" {
			return nil, nil, errors.New("--turn-urls needs --turn-secret, the external server's static-auth-secret")
		}
		return nil, &turn.External{URLs: urls, Secret: *tf.secret, Grace: *tf.grace}, nil
	}
	if *tf.urls != "" {
		return nil, nil, errors.New("--turn-urls is for an external TURN server: add --turn=false")
	}
	cfg := &turn.Config{
		Secret: *tf.secret, UDPAddr: *tf.udp, TCPAddr: *tf.tcp,
		CertFile: *tf.cert, KeyFile: *tf.key, Host: *tf.host,
		MaxPerUser: *tf.quota, Grace: *tf.grace,
	}
	if cfg.CertFile != "" {
		cfg.TLSAddrs = splitList(*tf.tls)
	}
	var err error
	if cfg.RelayIP, err = optionalIP("--turn-relay-ip", *tf.relayIP); err != nil {
		return nil, nil, err
	}
	if cfg.PublicIP, err = optionalIP("--turn-public-ip", *tf.publicIP); err != nil {
		return nil, nil, err
	}
	if cfg.MinPort, cfg.MaxPort, err = portRange(*tf.ports); err != nil {
		return nil, nil, err
	}
	for _, c := range splitList(*tf.allow) {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, nil, fmt.Errorf("--turn-allow-peers: %w", err)
		}
		cfg.AllowPeers = append(cfg.AllowPeers, p)
	}
	if cfg.Host == "" && len(cfg.TLSAddrs) > 0 {
		// TLS clients check the certificate's name, which an IP rarely is.
		if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
			cfg.Host = u.Hostname()
		}
	}
	return cfg, nil, nil
}

func (tf *turnFlags) media() turn.MediaConfig {
	return turn.MediaConfig{UDPAddr: *tf.sfuUDP, TCPAddr: *tf.sfuTCP, NAT1To1IPs: splitList(*tf.sfuNAT)}
}

// explain names the flag that moves a TURN listener that could not open.
func (tf *turnFlags) explain(err error) error {
	var le *turn.ListenError
	if !errors.As(err, &le) {
		return err
	}
	flag := map[string]string{"udp": "turn-udp", "tcp": "turn-tcp", "tls": "turn-tls"}[le.Transport]
	env := envFlags{}.env(flag)
	return fmt.Errorf("TURN relay cannot listen for %s on %s: %v\n"+
		"  free that port, move the listener with --%s (or $%s), or run without the embedded relay: --turn=false",
		strings.ToUpper(le.Transport), le.Addr, le.Err, flag, env)
}

func optionalIP(flag, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%s: %w", flag, err)
	}
	return a, nil
}

// portRange parses "min-max".
func portRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	minPort, err1 := strconv.Atoi(strings.TrimSpace(lo))
	maxPort, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || minPort < 1 || maxPort > 65535 || minPort > maxPort {
		return 0, 0, fmt.Errorf("--turn-relay-ports %q: want a range like 49152-65535", s)
	}
	return minPort, maxPort, nil
}
