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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/client/web"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/signaling"
	"github.com/konsil/konsil/store"
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
	// ICEServers are handed to clients on join.
	ICEServers []protocol.ICEServer
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
}

// Server is a running Konsil process.
type Server struct {
	cfg     Config
	store   store.Store
	svc     *api.Service
	hub     *signaling.Hub
	http    *http.Server
	handler *api.Server
	log     *slog.Logger

	// Bootstrap is set on the first start of a store: the keys to show once.
	Bootstrap *api.Bootstrap

	stop context.CancelFunc
	wg   sync.WaitGroup
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
	st := cfg.Store
	if st == nil {
		b, err := store.OpenBolt(filepath.Join(cfg.DataDir, "konsil.db"))
		if err != nil {
			return nil, err
		}
		st = b
	}
	s := &Server{cfg: cfg, store: st, log: cfg.Logger}
	if err := s.build(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build(ctx context.Context) error {
	cfg := s.cfg
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var hub *signaling.Hub
	svc, err := api.NewService(ctx, api.ServiceConfig{
		Store: s.store, Now: cfg.Now, PublicURL: cfg.PublicURL, SessionTTL: cfg.SessionTTL,
		Occupants: func(room string) []string { return hub.Occupants(room) },
	})
	if err != nil {
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
		Now: cfg.Now, Logger: cfg.Logger, Metrics: signaling.NewMetrics(reg),
		Limits: cfg.Signaling,
	})
	boot, err := svc.EnsureBootstrap(ctx)
	if err != nil {
		return err
	}
	s.svc, s.hub, s.Bootstrap = svc, hub, boot
	s.handler, err = api.New(api.Config{
		Service: svc, Hub: hub, Now: cfg.Now, Logger: cfg.Logger, Registry: reg,
		ICEServers: func(string, time.Time) []protocol.ICEServer { return cfg.ICEServers },
		PublicURL:  cfg.PublicURL, Web: web.Handler(),
		JoinFailures: cfg.JoinFailures, TrustedProxies: cfg.TrustedProxies,
		Ready: func(ctx context.Context) error {
			_, err := s.store.ListAPIKeys(ctx, "")
			return err
		},
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

// Handler returns the HTTP handler (for tests that list routes).
func (s *Server) Handler() *api.Server { return s.handler }

// Service returns the API logic (for tests and the local CLI).
func (s *Server) Service() *api.Service { return s.svc }

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful shutdown.
func (s *Server) Serve(ln net.Listener) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.janitor(ctx)
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Shutdown stops accepting, tells every signaling session the server is
// going away, waits for them and for in-flight requests, and closes the
// store.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	errHTTP := s.http.Shutdown(ctx)
	errHub := s.hub.Shutdown(ctx)
	s.wg.Wait()
	errStore := s.store.Close()
	s.log.Info("konsil stopped")
	return errors.Join(errHTTP, errHub, errStore)
}
