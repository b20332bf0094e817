package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// Metrics of the REST API.
type Metrics struct {
	Joins        *prometheus.CounterVec
	Errors       *prometheus.CounterVec
	RoomsCreated prometheus.Counter
	RoomsDeleted prometheus.Counter
}

// NewMetrics creates the API's metrics and registers them with reg when it
// is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_api_joins_total", Help: "Join attempts, by outcome (ok or an error code).",
		}, []string{"outcome"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_api_errors_total", Help: "REST errors answered, by code.",
		}, []string{"code"}),
		RoomsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "konsil_api_rooms_created_total", Help: "Rooms created.",
		}),
		RoomsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "konsil_api_rooms_deleted_total", Help: "Rooms deleted through the API.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Joins, m.Errors, m.RoomsCreated, m.RoomsDeleted)
	}
	return m
}

const keyCtx = "konsil.apikey"

// authenticate checks the bearer key; admin routes need the admin key,
// tenant routes a tenant's key.
func (s *Server) authenticate(admin bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		// "Bearer <key>" with one space, as the docs say; the scheme's
		// case does not matter (RFC 9110 §11.1).
		auth := c.GetHeader("Authorization")
		scheme, raw, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" || strings.ContainsAny(raw, " \t") {
			s.fail(c, errUnauthorized)
			return
		}
		k, err := s.svc.Authenticate(c.Request.Context(), raw)
		if err != nil {
			s.fail(c, err)
			return
		}
		switch {
		case admin && !k.Admin():
			s.fail(c, errAdminOnly)
			return
		case !admin && k.Admin():
			s.fail(c, errTenantOnly)
			return
		}
		c.Set(keyCtx, k)
		c.Next()
	}
}

func tenantOf(c *gin.Context) string { return c.MustGet(keyCtx).(store.APIKey).TenantID }

// requestBase is the scheme and host the client used, for links and the
// WebSocket URL when no public URL is configured.
func requestBase(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// join answers POST /join. Link tokens and short codes are limited apart
// because only codes can be guessed: a 128-bit token cannot, so a valid
// link is never refused for its address, while a code (48.6 bits) is
// checked only within its network's budget of failures.
func (s *Server) join(c *gin.Context) {
	var req protocol.JoinRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if req.Token != "" {
		s.joinByLink(c, req)
		return
	}
	s.joinByCode(c, req)
}

// joinByCode takes a failure from the client network's budget before the
// lookup and gives it back unless the code was unknown: N concurrent wrong
// codes get exactly as many answers as the budget has left.
func (s *Server) joinByCode(c *gin.Context, req protocol.JoinRequest) {
	slot, wait, ok := s.codeFailures.reserve(s.clientNet(c))
	if !ok {
		s.cfg.Metrics.Joins.WithLabelValues(CodeRateLimited).Inc()
		s.fail(c, rateLimited(wait))
		return
	}
	g, err := s.svc.Join(c.Request.Context(), req)
	if unknownCredential(err) {
		// Hold the answer: the nth wrong code waits longer, so guessing
		// is slow long before it is refused.
		holdAnswer(c, slot.failed())
	} else {
		slot.refund()
	}
	s.answerJoin(c, g, err)
}

// joinByLink looks the token up first and counts it only when unknown:
// wrong links (cut off in an e-mail) slow down and then get 429, but
// neither they nor wrong codes from the same network stop a valid one.
func (s *Server) joinByLink(c *gin.Context, req protocol.JoinRequest) {
	g, err := s.svc.Join(c.Request.Context(), req)
	if unknownCredential(err) {
		hold, wait, ok := s.linkFailures.record(s.clientNet(c))
		if !ok {
			s.cfg.Metrics.Joins.WithLabelValues(CodeRateLimited).Inc()
			s.fail(c, rateLimited(wait))
			return
		}
		holdAnswer(c, hold)
	}
	s.answerJoin(c, g, err)
}

func unknownCredential(err error) bool {
	if err == nil {
		return false
	}
	e, _ := asError(err)
	return e == errUnknownCredential
}

func (s *Server) answerJoin(c *gin.Context, g joinGrant, err error) {
	if err != nil {
		e, _ := asError(err)
		s.cfg.Metrics.Joins.WithLabelValues(e.Body.Code).Inc()
		s.fail(c, err)
		return
	}
	s.cfg.Metrics.Joins.WithLabelValues("ok").Inc()
	c.JSON(http.StatusOK, protocol.JoinResponse{
		SessionToken: g.token, ExpiresAt: g.expires.UTC(),
		RoomID: g.room.ID, ParticipantID: g.participant.ID, Role: g.participant.Role,
		Mode: g.room.Mode, Capacity: g.room.Capacity,
		ICEServers:   s.iceServers(g.room.ID, g.participant.ID, g.room.EndsAt),
		WebSocketURL: s.wsURL(c),
		WindowEndsAt: g.room.EndsAt.UTC(),
	})
}

func (s *Server) iceServers(room, participant string, until time.Time) []protocol.ICEServer {
	if s.cfg.ICEServers == nil {
		return []protocol.ICEServer{}
	}
	if list := s.cfg.ICEServers(room, participant, until); list != nil {
		return list
	}
	return []protocol.ICEServer{}
}

func (s *Server) wsURL(c *gin.Context) string {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		base = requestBase(c)
	}
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/api/v1/ws"
}

func (s *Server) createRoom(c *gin.Context) {
	var req protocol.RoomRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	room, err := s.svc.CreateRoom(c.Request.Context(), tenantOf(c), req, requestBase(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cfg.Metrics.RoomsCreated.Inc()
	s.log.Info("room created", "room", room.ID, "mode", room.Mode, "participants", len(room.Participants))
	c.JSON(http.StatusCreated, room)
}

func (s *Server) getRoom(c *gin.Context) {
	room, err := s.svc.Room(c.Request.Context(), tenantOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, room)
}

// listRooms answers GET /rooms?from=&to= (RFC 3339; both optional).
func (s *Server) listRooms(c *gin.Context) {
	from, err := queryTime(c, "from")
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := queryTime(c, "to")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		s.fail(c, newError(http.StatusBadRequest, CodeInvalidRequest, "to must be after from"))
		return
	}
	rooms, err := s.svc.Rooms(c.Request.Context(), tenantOf(c), from, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, protocol.RoomList{Rooms: rooms})
}

func queryTime(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, newError(http.StatusBadRequest, CodeInvalidRequest, "%s must be an RFC 3339 instant like 2026-05-04T08:00:00Z", name)
	}
	return t, nil
}

func (s *Server) deleteRoom(c *gin.Context) {
	id := c.Param("id")
	if err := s.svc.DeleteRoom(c.Request.Context(), tenantOf(c), id); err != nil {
		s.fail(c, err)
		return
	}
	s.cfg.Hub.CloseRoom(id, protocol.CodeRoomDeleted)
	s.cfg.Metrics.RoomsDeleted.Inc()
	s.log.Info("room deleted", "room", id)
	c.Status(http.StatusNoContent)
}

func (s *Server) createTenant(c *gin.Context) {
	var req protocol.TenantRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.svc.CreateTenant(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.log.Info("tenant created", "tenant", t.ID)
	c.JSON(http.StatusCreated, t)
}

func (s *Server) listTenants(c *gin.Context) {
	ts, err := s.svc.Tenants(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, protocol.TenantList{Tenants: ts})
}

func (s *Server) getTenant(c *gin.Context) {
	t, err := s.svc.Tenant(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (s *Server) updateTenant(c *gin.Context) {
	var req protocol.TenantRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.svc.UpdateTenant(c.Request.Context(), c.Param("id"), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

// deleteTenant ends the tenant's live sessions, then removes everything
// the tenant had.
func (s *Server) deleteTenant(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	rooms, err := s.svc.TenantRoomIDs(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.svc.DeleteTenant(ctx, id); err != nil {
		s.fail(c, err)
		return
	}
	for _, r := range rooms {
		s.cfg.Hub.CloseRoom(r, protocol.CodeRoomDeleted)
	}
	s.log.Info("tenant deleted", "tenant", id, "rooms", len(rooms))
	c.Status(http.StatusNoContent)
}

func (s *Server) createKey(c *gin.Context) {
	k, err := s.svc.CreateKey(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.log.Info("api key created", "tenant", k.TenantID, "key", k.ID)
	c.JSON(http.StatusCreated, k)
}

func (s *Server) listKeys(c *gin.Context) {
	ks, err := s.svc.Keys(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, protocol.APIKeyList{Keys: ks})
}

func (s *Server) revokeKey(c *gin.Context) {
	if err := s.svc.RevokeKey(c.Request.Context(), c.Param("id"), c.Param("key")); err != nil {
		s.fail(c, err)
		return
	}
	s.log.Info("api key revoked", "tenant", c.Param("id"), "key", c.Param("key"))
	c.Status(http.StatusNoContent)
}
