package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// The clinician workspace's routes (docs/WORKSPACE.md): cookie sessions
// with a CSRF header on every change.

const (
	sessionCookie = "konsil_session"
	csrfHeader    = "X-Konsil-CSRF"
	// CodeCSRF: a change without the session's CSRF token or from
	// another origin.
	CodeCSRF = "csrf"
	// CodeInvalidCredentials: unknown address or wrong password.
	CodeInvalidCredentials = "invalid_credentials"
	// CodeLocked: too many wrong passwords; the account waits.
	CodeLocked = "locked"
	// CodeEmailTaken: the address already has an account.
	CodeEmailTaken = "email_taken"
	// CodeSetupInvalid: the setup link is unknown, used or expired.
	CodeSetupInvalid = "setup_invalid"
)

const ctxSession = "konsil.practice.session"

func (s *Server) practiceRoutes(v1 *gin.RouterGroup) {
	if s.cfg.Practice == nil {
		return
	}
	p := v1.Group("/practice", s.sameOrigin())
	p.GET("/setup/:token", s.setupInfo)
	p.POST("/setup/:token", s.completeSetup)
	p.POST("/login/params", s.loginParams)
	p.POST("/login", s.login)

	u := p.Group("", s.requireSession())
	u.POST("/logout", s.logout)
	u.GET("/session", s.session)
	u.GET("/users", s.practiceUsers)
	u.POST("/invites", s.invite)
	u.GET("/appointments", s.listAppointments)
	u.POST("/appointments", s.createAppointment)
	u.PUT("/appointments/:id", s.updateAppointment)
	u.POST("/appointments/:id/cancel", s.cancelAppointment)
	u.POST("/appointments/:id/move", s.moveAppointment)
	u.POST("/appointments/:id/done", s.finishAppointment)
	u.GET("/appointments/:id/lobby", s.lobby)
	u.POST("/appointments/:id/admit", s.admit)
	u.POST("/appointments/:id/decline", s.decline)
	u.POST("/appointments/:id/send-back", s.sendBack)
	u.GET("/events", s.eventStream)
	s.practiceAdminRoutes(u)
	s.practiceDeviceRoutes(u)
	s.practicePasskeyRoutes(p, u)
}

// sameOrigin refuses a change whose Origin header names another site:
// SameSite=Strict cookies already stay home, this is the second lock.
func (s *Server) sameOrigin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Next()
			return
		}
		origin := c.GetHeader("Origin")
		if origin != "" && origin != "null" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != c.Request.Host {
				s.fail(c, newError(http.StatusForbidden, CodeCSRF, "the request comes from another origin"))
				return
			}
		}
		c.Next()
	}
}

// requireSession resolves the session cookie and, on changes, checks the
// CSRF header against the session's token.
func (s *Server) requireSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, _ := c.Cookie(sessionCookie)
		sess, err := s.cfg.Practice.Authenticate(c.Request.Context(), token)
		if err != nil {
			s.fail(c, err)
			return
		}
		if c.Request.Method != http.MethodGet && !practice.CheckCSRF(sess, c.GetHeader(csrfHeader)) {
			s.fail(c, newError(http.StatusForbidden, CodeCSRF, "the %s header is missing or wrong; take it from GET /api/v1/practice/session", csrfHeader))
			return
		}
		if !sess.Approved() && !pendingAllowed(c) {
			s.fail(c, practice.ErrDevicePending)
			return
		}
		c.Set(ctxSession, sess)
		c.Next()
	}
}

func sessionOf(c *gin.Context) practice.Session {
	v, _ := c.Get(ctxSession)
	sess, _ := v.(practice.Session)
	return sess
}

// secureCookies tells whether cookies get the Secure flag: behind TLS,
// or a public URL with https.
func (s *Server) secureCookies(c *gin.Context) bool {
	return c.Request.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://")
}

// sessionCookieOf is the session cookie with its fixed attributes.
func (s *Server) sessionCookieOf(c *gin.Context, token string) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: token, Path: "/",
		HttpOnly: true, Secure: s.secureCookies(c), SameSite: http.SameSiteStrictMode}
}

func (s *Server) setSessionCookie(c *gin.Context, token string, expires time.Time) {
	ck := s.sessionCookieOf(c, token)
	ck.Expires = expires
	http.SetCookie(c.Writer, ck)
}

func (s *Server) clearSessionCookie(c *gin.Context) {
	ck := s.sessionCookieOf(c, "")
	ck.MaxAge = -1
	http.SetCookie(c.Writer, ck)
}

// reply answers v as JSON with status, or the error.
func (s *Server) reply(c *gin.Context, status int, v any, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(status, v)
}

// decoded decodes the body into a new T, answering the error itself.
func decoded[T any](s *Server, c *gin.Context) (T, bool) {
	var req T
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return req, false
	}
	return req, true
}

func (s *Server) setupInfo(c *gin.Context) {
	info, err := s.cfg.Practice.Setup(c.Request.Context(), c.Param("token"))
	s.reply(c, http.StatusOK, info, err)
}

func (s *Server) completeSetup(c *gin.Context) {
	req, ok := decoded[practice.SetupRequest](s, c)
	if !ok {
		return
	}
	sess, err := s.cfg.Practice.CompleteSetup(c.Request.Context(), c.Param("token"), req, browserOf(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.startedSession(c, http.StatusCreated, sess)
}

type loginParamsRequest struct {
	Email string `json:"email"`
}

func (s *Server) loginParams(c *gin.Context) {
	req, ok := decoded[loginParamsRequest](s, c)
	if !ok {
		return
	}
	kdf, err := s.cfg.Practice.LoginParams(c.Request.Context(), req.Email)
	s.reply(c, http.StatusOK, kdf, err)
}

type loginRequest struct {
	Email string `json:"email"`
	Auth  string `json:"auth"`
}

// login checks a password's auth key. Wrong ones count per account
// (practice: lockout) and per client network, as wrong codes do: a failure
// is taken before the check and given back when the password was right.
func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	slot, wait, ok := s.logins.reserve(s.clientNet(c))
	if !ok {
		s.fail(c, rateLimited(wait))
		return
	}
	sess, err := s.cfg.Practice.Login(c.Request.Context(), req.Email, req.Auth, browserOf(c))
	var locked *practice.LockedError
	if errors.Is(err, practice.ErrBadLogin) || errors.As(err, &locked) {
		holdAnswer(c, slot.failed())
	} else {
		slot.refund()
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.startedSession(c, http.StatusOK, sess)
}

type logoutRequest struct {
	Everywhere bool `json:"everywhere"`
}

func (s *Server) logout(c *gin.Context) {
	var req logoutRequest
	if c.Request.ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	token, _ := c.Cookie(sessionCookie)
	if err := s.cfg.Practice.Logout(c.Request.Context(), token, req.Everywhere); err != nil {
		s.fail(c, err)
		return
	}
	s.clearSessionCookie(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) session(c *gin.Context) {
	c.JSON(http.StatusOK, sessionOf(c))
}

func (s *Server) practiceUsers(c *gin.Context) {
	users, err := s.cfg.Practice.Users(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, users, err)
}

type inviteRequest struct {
	Role       string `json:"role"`
	WrappedKey string `json:"wrapped_key"`
}

type inviteResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) invite(c *gin.Context) {
	req, ok := decoded[inviteRequest](s, c)
	if !ok {
		return
	}
	token, expires, err := s.cfg.Practice.Invite(c.Request.Context(), sessionOf(c), req.Role, req.WrappedKey)
	s.reply(c, http.StatusCreated, inviteResponse{Token: token, ExpiresAt: expires}, err)
}

func (s *Server) listAppointments(c *gin.Context) {
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
	list, err := s.cfg.Practice.ListAppointments(c.Request.Context(), sessionOf(c), from, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list)
}

func (s *Server) createAppointment(c *gin.Context) {
	req, ok := decoded[practice.AppointmentRequest](s, c)
	if !ok {
		return
	}
	out, err := s.cfg.Practice.CreateAppointment(c.Request.Context(), sessionOf(c), req, requestBase(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cfg.Metrics.RoomsCreated.Inc()
	c.JSON(http.StatusCreated, out)
}

func (s *Server) updateAppointment(c *gin.Context) {
	req, ok := decoded[practice.AppointmentUpdate](s, c)
	if !ok {
		return
	}
	a, err := s.cfg.Practice.UpdateAppointment(c.Request.Context(), sessionOf(c), c.Param("id"), req)
	s.reply(c, http.StatusOK, a, err)
}

func (s *Server) cancelAppointment(c *gin.Context) {
	a, err := s.cfg.Practice.CancelAppointment(c.Request.Context(), sessionOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.cfg.Hub.CloseRoom(a.RoomID, protocol.CodeRoomDeleted)
	s.cfg.Metrics.RoomsDeleted.Inc()
	c.JSON(http.StatusOK, a)
}

func (s *Server) finishAppointment(c *gin.Context) {
	a, err := s.cfg.Practice.FinishAppointment(c.Request.Context(), sessionOf(c), c.Param("id"))
	s.reply(c, http.StatusOK, a, err)
}
