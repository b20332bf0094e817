// Package api serves Konsil over HTTP: the REST API for practice software
// (tenants, keys, rooms, join), the signaling WebSocket, health, metrics and
// the embedded browser app. Its logic lives in Service, so the `konsil
// rooms` command can use it against a local store; the router only decodes,
// authenticates and maps errors to one JSON shape.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/signaling"
)

// MaxBodyBytes bounds every JSON request body. A room of 100 participants
// with labels stays under 16 KiB.
const MaxBodyBytes = 64 << 10

var timeZero time.Time

// Config wires the HTTP layer.
type Config struct {
	Service *Service
	Hub     *signaling.Hub
	Now     func() time.Time
	Logger  *slog.Logger
	// Registry collects the metrics served on /metrics.
	Registry *prometheus.Registry
	Metrics  *Metrics
	// ICEServers returns the STUN and TURN servers handed to a joining
	// participant of a room, with credentials valid until the given
	// instant (the end of the room's window). Nil hands out none.
	ICEServers func(roomID, participantID string, until time.Time) []protocol.ICEServer
	// PublicURL, when set, is the base of the WebSocket URL handed out.
	PublicURL string
	// Web serves the browser app; nil serves nothing at /.
	Web          http.Handler
	JoinFailures FailureLimits
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose
	// X-Forwarded-For names the client; empty trusts no header.
	TrustedProxies []string
	// LimitIPv6Prefix is the prefix length by which IPv6 clients share
	// their failure limits (IPv4 clients are limited per address); 0 means
	// DefaultIPv6Prefix.
	LimitIPv6Prefix int
	// Ready reports whether the server can take traffic (store reachable).
	Ready func(ctx context.Context) error
	// Practice serves the clinician workspace's routes; nil serves none.
	Practice *practice.Service
}

// Server is the HTTP handler of Konsil.
type Server struct {
	cfg    Config
	svc    *Service
	engine *gin.Engine
	// codeFailures limits wrong short codes per client network; they are
	// the guessable credential. linkFailures counts wrong link tokens on
	// their own, so that mistyped codes never stop a valid link.
	codeFailures, linkFailures *failureLimiter
	// logins limits wrong workspace passwords per client network.
	logins *failureLimiter
	// ceremonies limits passkey logins begun per address: each writes a
	// ceremony record before anyone is known.
	ceremonies *failureLimiter
	// events streams the workspaces' waiting rooms (lobby.go).
	events *Events
	log    *slog.Logger
}

// New builds the router.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Registry)
	}
	if err := CheckIPv6Prefix(cfg.LimitIPv6Prefix); err != nil {
		return nil, err
	}
	if cfg.LimitIPv6Prefix == 0 {
		cfg.LimitIPv6Prefix = DefaultIPv6Prefix
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		cfg: cfg, svc: cfg.Service, engine: gin.New(), log: cfg.Logger,
		codeFailures: newFailureLimiter(cfg.JoinFailures, cfg.Now),
		linkFailures: newFailureLimiter(cfg.JoinFailures, cfg.Now),
		logins:       newFailureLimiter(cfg.JoinFailures, cfg.Now),
		// 30 at once, then one every 10 s: a login page left open and
		// retried now and then never meets it.
		ceremonies: newFailureLimiter(FailureLimits{Burst: 30, Refill: 10 * time.Second}, cfg.Now),
		events:     NewEvents(),
	}
	// Client addresses come from the connection unless it is a configured
	// proxy: trusting X-Forwarded-For from anyone would let a guesser pick
	// a fresh address for every attempt.
	if err := s.engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	s.engine.Use(s.recoverer(), securityHeaders())
	s.engine.HandleMethodNotAllowed = true
	// Gin's own redirects answer before any middleware, as text/html
	// without the security headers: a path with a stray slash is a 404
	// like any unknown one.
	s.engine.RedirectTrailingSlash = false
	s.engine.RedirectFixedPath = false
	s.engine.NoRoute(func(c *gin.Context) { s.fail(c, newError(http.StatusNotFound, CodeNotFound, "no such endpoint")) })
	s.engine.NoMethod(func(c *gin.Context) {
		s.fail(c, newError(http.StatusMethodNotAllowed, CodeInvalidRequest, "method not allowed"))
	})
	s.routes()
	return s, nil
}

// clientNet is where the request's client is limited: its address (from a
// trusted proxy's X-Forwarded-For, else the connection), or its IPv6
// network and site.
func (s *Server) clientNet(c *gin.Context) clientNet {
	return netOf(c.ClientIP(), s.cfg.LimitIPv6Prefix)
}

// holdAnswer waits d before a failure is answered, or until the client
// goes away.
func holdAnswer(c *gin.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.Request.Context().Done():
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Routes lists the registered method and path pairs (gin syntax), for the
// test that holds them against docs/openapi.yaml.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.engine.Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

func (s *Server) routes() {
	e := s.engine
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	v1 := e.Group("/api/v1")
	v1.POST("/join", s.join)
	v1.GET("/ws", gin.WrapH(s.cfg.Hub))

	admin := v1.Group("/tenants", s.authenticate(true))
	admin.POST("", s.createTenant)
	admin.GET("", s.listTenants)
	admin.GET("/:id", s.getTenant)
	admin.PUT("/:id", s.updateTenant)
	admin.DELETE("/:id", s.deleteTenant)
	admin.POST("/:id/keys", s.createKey)
	admin.GET("/:id/keys", s.listKeys)
	admin.DELETE("/:id/keys/:key", s.revokeKey)

	rooms := v1.Group("/rooms", s.authenticate(false))
	rooms.POST("", s.createRoom)
	rooms.GET("", s.listRooms)
	rooms.GET("/:id", s.getRoom)
	rooms.DELETE("/:id", s.deleteRoom)

	s.practiceRoutes(v1)

	if s.cfg.Web != nil {
		web := gin.WrapH(s.cfg.Web)
		e.GET("/", web)
		e.GET("/r/:token", web)
		e.GET("/app/*path", web)
		if s.cfg.Practice != nil {
			e.GET("/practice", web)
			e.GET("/practice/", web)
		}
	}
}

func (s *Server) readyz(c *gin.Context) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(c.Request.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable"})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// fail writes err as the API's JSON error. Unnamed errors are logged and
// answered as internal errors without detail.
func (s *Server) fail(c *gin.Context, err error) {
	e, named := asError(err)
	if !named {
		s.log.Error("request failed", "method", c.Request.Method, "route", c.FullPath(), "err", err)
	}
	s.cfg.Metrics.Errors.WithLabelValues(e.Body.Code).Inc()
	if e.Body.RetryAfterSeconds > 0 {
		c.Header("Retry-After", strconv.Itoa(e.Body.RetryAfterSeconds))
	}
	c.AbortWithStatusJSON(e.Status, protocol.ErrorBody{Error: e.Body})
}

// decode reads a JSON body of at most MaxBodyBytes into v, refusing
// unknown fields and trailing data with errors that name the problem.
func decode(c *gin.Context, v any) error {
	if c.Request.ContentLength > MaxBodyBytes {
		return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body exceeds %d bytes", MaxBodyBytes)
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body exceeds %d bytes", MaxBodyBytes)
		}
		if errors.Is(err, io.EOF) {
			return newError(http.StatusBadRequest, CodeMalformedJSON, "the body is empty; send a JSON object")
		}
		return newError(http.StatusBadRequest, CodeMalformedJSON, "the body is not valid JSON for this endpoint: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the body exceeds %d bytes", MaxBodyBytes)
		}
		return newError(http.StatusBadRequest, CodeMalformedJSON, "the body has data after the JSON object")
	}
	return nil
}

// recoverer turns a panic in a handler into a 500 and a log line with the
// route, never the body.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("handler panic", "route", c.FullPath(), "panic", r)
				s.fail(c, errors.New("panic"))
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every answer carries. The browser app is
// plain files from this origin, so the policy can be strict:
//
//   - CSP: scripts, styles, images, media and fetches from this origin
//     only; no inline script or style, no eval, no plugins, no framing,
//     and Trusted Types so no string ever becomes markup. connect-src
//     'self' covers the same-origin WebSocket (CSP 3 maps ws/wss to
//     'self'); WebRTC's STUN/TURN traffic is not governed by CSP.
//   - Referrer-Policy no-referrer: the link token in /r/{token} never
//     leaks to another site (the room secret is in the fragment, which
//     browsers never send anyway).
//   - Permissions-Policy: camera, microphone and fullscreen for this
//     origin only; everything else a consultation does not need, off.
func securityHeaders() gin.HandlerFunc {
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: blob:",
		"media-src 'self' blob:",
		"connect-src 'self'",
		"worker-src 'self'",
		"manifest-src 'self'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"require-trusted-types-for 'script'",
		// One policy, for the URL of the SFrame worker (js/e2ee/worker.js).
		"trusted-types konsil-worker",
	}, "; ")
	permissions := strings.Join([]string{
		"camera=(self)", "microphone=(self)", "fullscreen=(self)",
		"display-capture=()", "geolocation=()", "payment=()", "usb=()",
		"serial=()", "hid=()", "bluetooth=()", "midi=()",
	}, ", ")
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", permissions)
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-store")
		c.Next()
	}
}
