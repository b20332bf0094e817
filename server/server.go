// Package server wires one Konsil process: it opens the store, builds the
// signaling hub and the HTTP API around it, runs the retention janitor, and
// shuts everything down in order. cmd/konsil and the tests start servers
// through it, so a test runs exactly what an operator runs.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/client/web"
	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/sfu"
	"github.com/konsil/konsil/signaling"
	"github.com/konsil/konsil/store"
	"github.com/konsil/konsil/turn"
)

// Config is everything an operator can set. Zero values work on localhost.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string
	// DataDir holds the bbolt store (konsil.db).
	DataDir string
	// PublicURL is the base of links and the WebSocket URL
	// ("https://video.example.org"); empty means the request's host.
	PublicURL string
	// ICEServers are handed to clients on join, before the TURN servers.
	ICEServers []protocol.ICEServer
	// TURN runs the embedded TURN relay when not nil; every join gets
	// its URLs with a credential valid until the room window ends. konsil
	// serve sets it unless --turn=false; the zero Config runs none, so
	// tools and tests never bind port 3478 (testutil.WithTURN starts one
	// on free ports). Now, Logger and the registry are the server's;
	// Revoked asks the store whether a credential's room and participant
	// still hold.
	TURN *turn.Config
	// ExternalTURN hands out credentials for a TURN server run elsewhere
	// (coturn with use-auth-secret) when TURN is nil.
	ExternalTURN *turn.External
	// SFUMedia are the SFU's two media ports (UDP mux and ICE-TCP),
	// opened with turn.ListenMedia. Empty: every SFU PeerConnection
	// gathers on its own ephemeral ports (tests use 127.0.0.1:0 here).
	SFUMedia turn.MediaConfig
	// Retention is how long room metadata is kept after its window ends.
	Retention time.Duration
	// SessionTTL is how long a session token may be used to connect.
	SessionTTL   time.Duration
	JoinFailures api.FailureLimits
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []string
	Signaling      signaling.Limits
	Now            func() time.Time
	Logger         *slog.Logger
	// Store replaces the bbolt store (tests, Redis); DataDir is then unused.
	Store store.Store
	// LimitIPv6Prefix groups IPv6 clients for the failure limits (0: /64).
	LimitIPv6Prefix int
	// KeyFile holds the server secrets (package keyring); empty means
	// konsil.keys beside konsil.db in DataDir. Keys, when set, replace
	// it; with neither a DataDir nor a KeyFile nor Keys the secrets are
	// random and end with the process.
	KeyFile string
	Keys    *keyring.Ring
	// Getenv reads KONSIL_KEY_* secrets (os.Getenv); nil reads none.
	Getenv func(string) string
}

// Server is a running Konsil process.
type Server struct {
	cfg     Config
	store   store.Store
	svc     *api.Service
	hub     *signaling.Hub
	http    *http.Server
	handler *api.Server
	turn    *turn.Server
	sfu     *sfu.SFU
	media   *turn.MediaMux // the SFU's ports; nil without SFUMedia
	keys    *keyring.Ring
	log     *slog.Logger

	// Bootstrap is set on the first start of a store: the keys to show once.
	Bootstrap *api.Bootstrap
	// SetupToken is set while the default practice has no user: the
	// token of a one-time link that creates its first admin
	// (/practice/#setup=TOKEN).
	SetupToken string
	practice   *practice.Service

	// runCtx ends the janitor; stop cancels it. mu guards closed, so
	// that Serve never adds to wg once Shutdown waits on it.
	runCtx context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New opens the store and builds the server; Serve starts it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retention == 0 {
		cfg.Retention = 48 * time.Hour
	}
	// Checked before the store opens: a first start creates keys that are
	// shown only if New succeeds.
	if err := api.CheckIPv6Prefix(cfg.LimitIPv6Prefix); err != nil {
		return nil, err
	}
	st := cfg.Store
	if st == nil {
		b, err := store.OpenBolt(filepath.Join(cfg.DataDir, "konsil.db"))
		if err != nil {
			return nil, err
		}
		st = b
	}
	keys, err := LoadKeys(ctx, cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, keys: keys, log: cfg.Logger}
	// Made here, not in Serve: Shutdown may run while Serve is starting.
	s.runCtx, s.stop = context.WithCancel(context.Background())
	if err := s.build(ctx); err != nil {
		s.stop()
		s.closeMedia()
		if s.turn != nil {
			s.turn.Close()
		}
		st.Close()
		return nil, err
	}
	return s, nil
}

// legacyStore is a store written by a version that kept the server
// secrets in it (bbolt before the key file).
type legacyStore interface {
	LegacySecrets(ctx context.Context) (map[string][]byte, error)
	DropLegacySecrets(ctx context.Context) error
}

// legacyName maps a secret name of the store to the key file's; "" for
// none.
func legacyName(name string) string {
	switch name {
	case "pepper":
		return keyring.CodePepper
	case "session-key":
		return keyring.SessionKey
	case "practice-key":
		return keyring.PracticeKey
	}
	return ""
}

// LoadKeys loads the server secrets for a server with cfg over st:
// cfg.Keys, the key file (cfg.KeyFile, or konsil.keys in cfg.DataDir),
// or random ones for a server that keeps nothing. Secrets an older
// version kept in the store move to the key file, so links, codes and API
// keys made before the upgrade keep working, and are then deleted from
// the store. The CLI's local commands call it to use the server's keys.
func LoadKeys(ctx context.Context, cfg Config, st store.Store) (*keyring.Ring, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Keys != nil {
		return cfg.Keys, nil
	}
	path := cfg.KeyFile
	if path == "" && cfg.Store == nil {
		path = filepath.Join(cfg.DataDir, "konsil.keys")
	}
	if path == "" {
		return keyring.Ephemeral()
	}
	old, _ := st.(legacyStore)
	imported := map[string][]byte{}
	if old != nil {
		legacy, err := old.LegacySecrets(ctx)
		if err != nil {
			return nil, err
		}
		for name, v := range legacy {
			if to := legacyName(name); to != "" && len(v) >= 32 {
				imported[to] = v
			}
		}
		if len(legacy) == 0 {
			old = nil
		}
	}
	keys, err := keyring.Load(keyring.Options{Path: path, Getenv: cfg.Getenv, Now: cfg.Now, Import: imported})
	if err != nil {
		return nil, fmt.Errorf("server secrets: %w", err)
	}
	if old != nil {
		if err := old.DropLegacySecrets(ctx); err != nil {
			return nil, err
		}
		cfg.Logger.Warn("server secrets moved from the store to the key file; copies and backups of the store made before still hold them: rotate them (docs/OPERATIONS.md, Server secrets)",
			"key_file", path)
	}
	return keys, nil
}

func (s *Server) build(ctx context.Context) error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := s.startSFU(); err != nil {
		return err
	}
	if err := s.sfu.RegisterMetrics(reg); err != nil {
		return err
	}
	var hub *signaling.Hub
	svc, err := api.NewService(ctx, api.ServiceConfig{
		Store: s.store, Now: cfg.Now, PublicURL: cfg.PublicURL, SessionTTL: cfg.SessionTTL,
		Occupants: func(room string) []string { return hub.Occupants(room) },
		Keys:      s.keys,
	})
	if err != nil {
		return err
	}
	if err := s.startTURN(reg, svc); err != nil {
		return err
	}
	hub = signaling.New(signaling.Config{
		Admit: svc.Admit,
		OnCall: func(room string) {
			// The call is counted on its own context: the session that
			// triggered it may end at once.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := svc.CountCall(ctx, room); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("count call", "room", room, "err", err)
			}
		},
		OnLeave: s.endRelays,
		Media:   sfuRouter{s.sfu},
		// The workspace's waiting rooms: the handler exists before the
		// first session can reach the hub.
		HostStatus: func(ctx context.Context, room string) protocol.Host { return s.handler.HostStatus(ctx, room) },
		OnChange:   func(room string) { s.handler.RoomChanged(room) },
		Now:        cfg.Now, Logger: cfg.Logger, Metrics: signaling.NewMetrics(reg),
		Limits: cfg.Signaling,
	})
	boot, err := svc.EnsureBootstrap(ctx)
	if err != nil {
		return err
	}
	s.svc, s.hub, s.Bootstrap = svc, hub, boot
	if err := s.buildPractice(ctx); err != nil {
		return err
	}
	s.handler, err = api.New(api.Config{
		Service: svc, Hub: hub, Now: cfg.Now, Logger: cfg.Logger, Registry: reg,
		ICEServers: s.iceServers,
		PublicURL:  cfg.PublicURL, Web: web.Handler(),
		JoinFailures: cfg.JoinFailures, TrustedProxies: cfg.TrustedProxies,
		LimitIPv6Prefix: cfg.LimitIPv6Prefix,
		Ready: func(ctx context.Context) error {
			_, err := s.store.ListAPIKeys(ctx, "")
			return err
		},
		Practice: s.practice,
	})
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return nil
}

// startTURN starts the embedded relay, when configured. It asks svc on
// every authenticated request whether the credential's room and
// participant still hold, so a deleted room's links stop relaying.
func (s *Server) startTURN(reg prometheus.Registerer, svc *api.Service) error {
	if s.cfg.TURN == nil {
		return nil
	}
	tc := *s.cfg.TURN
	tc.Now, tc.Logger, tc.Registry = s.cfg.Now, s.cfg.Logger.With("component", "turn"), reg
	if tc.Secret == "" {
		tc.Secret = string(s.keys.Current(keyring.TURNSecret))
	}
	tc.Revoked = func(ctx context.Context, h turn.Holder) (bool, error) {
		return svc.RelayRevoked(ctx, h.Room, h.Participant)
	}
	var err error
	s.turn, err = turn.New(tc)
	return err
}

// buildPractice builds the clinician workspace and, while the default
// practice has no user, makes a setup link for its first admin.
func (s *Server) buildPractice(ctx context.Context) error {
	var err error
	s.practice, err = practice.New(practice.Config{Store: s.store, Rooms: s.svc, Key: s.keys.Current(keyring.PracticeKey), Now: s.cfg.Now,
		Logger: s.cfg.Logger.With("component", "practice")})
	if err != nil {
		return err
	}
	tenant, err := s.svc.TenantByName(ctx, api.DefaultTenantName)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("default practice: %w", err)
	}
	s.SetupToken, err = s.practice.FirstSetupLink(ctx, tenant)
	return err
}

// Practice is the clinician workspace's service (for `konsil users`
// and tests).
func (s *Server) Practice() *practice.Service { return s.practice }

// startSFU opens the SFU's media ports, when configured, and builds the
// SFU on them. Its clock is the real one: media pacing has nothing to do
// with room windows.
func (s *Server) startSFU() error {
	log := s.cfg.Logger.With("component", "sfu")
	var se webrtc.SettingEngine
	if m := s.cfg.SFUMedia; m.UDPAddr != "" || m.TCPAddr != "" {
		mux, err := turn.ListenMedia(m, log)
		if err != nil {
			// %v, not %w: the TURN flags' explanation of a ListenError
			// would name the wrong flags.
			return fmt.Errorf("sfu media ports (--sfu-udp, --sfu-tcp): %v", err)
		}
		s.media = mux
		if se, err = mux.SettingEngine(); err != nil {
			return err
		}
	}
	var err error
	s.sfu, err = sfu.New(sfu.Config{SettingEngine: se, Logger: log})
	return err
}

// closeMedia stops the SFU and closes its ports.
func (s *Server) closeMedia() error {
	var errs []error
	if s.sfu != nil {
		errs = append(errs, s.sfu.Close())
	}
	if s.media != nil {
		errs = append(errs, s.media.Close())
	}
	return errors.Join(errs...)
}

// sfuRouter is the SFU as the hub's MediaRouter.
type sfuRouter struct{ sfu *sfu.SFU }

func (r sfuRouter) Join(room, participant string, send func(protocol.Message)) (signaling.MediaSession, error) {
	p, err := r.sfu.Join(room, participant, send)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// iceServers are the STUN and TURN servers a joining participant gets:
// the configured ones, then the embedded relay's or the external TURN
// server's with a credential that ends with the room window (plus grace).
func (s *Server) iceServers(room, participant string, until time.Time) []protocol.ICEServer {
	list := slices.Clone(s.cfg.ICEServers)
	h := turn.Holder{Room: room, Participant: participant}
	switch {
	case s.turn != nil:
		list = append(list, s.turn.ICEServers(h, until)...)
	case s.cfg.ExternalTURN != nil:
		list = append(list, s.cfg.ExternalTURN.ICEServers(h, until)...)
	}
	return list
}

// endRelays ends a participant's TURN allocations when it has left for
// good: it said bye, or its room was deleted or closed. A session that
// merely dropped keeps them, since media may still flow over the relay
// while the participant's signaling reconnects.
func (s *Server) endRelays(_, participant, reason string) {
	if s.turn == nil {
		return
	}
	switch reason {
	case "bye", protocol.CodeRoomDeleted, protocol.CodeRoomClosed:
		if n := s.turn.EndParticipant(participant); n > 0 {
			s.log.Debug("ended relay allocations", "participant", participant, "allocations", n)
		}
	}
}

// TURN returns the embedded relay, nil when it is off.
func (s *Server) TURN() *turn.Server { return s.turn }

// Handler returns the HTTP handler (for tests that list routes).
func (s *Server) Handler() *api.Server { return s.handler }

// Service returns the API logic (for tests and the local CLI).
func (s *Server) Service() *api.Service { return s.svc }

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.janitor(s.runCtx)
	}()
	s.log.Info("konsil serving", "addr", ln.Addr().String())
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// janitor deletes room metadata past its retention, at start and then
// every ten minutes.
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		n, err := s.svc.Prune(ctx, s.cfg.Retention)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("prune rooms", "err", err)
		case n > 0:
			s.log.Info("pruned rooms past retention", "rooms", n)
		}
		n, err = s.store.DeleteExpired(ctx, s.cfg.Now().Add(-s.cfg.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("prune appointments", "err", err)
		case n > 0:
			s.log.Info("pruned appointments past retention", "appointments", n)
		}
		n, err = s.practice.DeleteStaleDevices(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("prune devices", "err", err)
		case n > 0:
			s.log.Info("pruned stale devices", "devices", n)
		}
		n, err = s.practice.DeleteExpiredPasskeyCeremonies(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("prune passkey ceremonies", "err", err)
		case n > 0:
			s.log.Debug("pruned expired passkey ceremonies", "ceremonies", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Shutdown stops accepting, tells every signaling session the server is
// going away, waits for them and for in-flight requests, stops the SFU
// and the TURN relay (ending their connections) and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.handler.CloseStreams()
	errHTTP := s.http.Shutdown(ctx)
	errHub := s.hub.Shutdown(ctx)
	s.wg.Wait()
	errSFU := s.closeMedia()
	var errTURN error
	if s.turn != nil {
		errTURN = s.turn.Close()
	}
	errStore := s.store.Close()
	s.log.Info("konsil stopped")
	return errors.Join(errHTTP, errHub, errSFU, errTURN, errStore)
}
