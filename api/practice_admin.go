package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// The workspace's admin page (docs/WORKSPACE.md, "Administration"): the
// practice's users and roles, the month's calls against the quota, and
// the API keys of the practice software. Admins only; another practice's
// users and keys are not found.

// CodeLastAdmin: the change would leave the practice without an admin.
const CodeLastAdmin = "last_admin"

func (s *Server) practiceAdminRoutes(u *gin.RouterGroup) {
	u.GET("/admin/users", s.adminUsers)
	u.PUT("/users/:id", s.setUserRole)
	u.DELETE("/users/:id", s.removeUser)
	u.GET("/usage", s.practiceUsage)
	u.GET("/api-keys", s.practiceKeys)
	u.POST("/api-keys", s.createPracticeKey)
	u.DELETE("/api-keys/:id", s.revokePracticeKey)
}

// adminError gives the admin page's own refusal its status; the rest
// are the API's (asError).
func adminError(err error) error {
	if errors.Is(err, practice.ErrLastAdmin) {
		return newError(http.StatusConflict, CodeLastAdmin, "%s", practice.ErrLastAdmin.Error())
	}
	return err
}

func (s *Server) adminUsers(c *gin.Context) {
	users, err := s.cfg.Practice.AdminUsers(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, users, err)
}

type roleRequest struct {
	Role string `json:"role"`
}

func (s *Server) setUserRole(c *gin.Context) {
	req, ok := decoded[roleRequest](s, c)
	if !ok {
		return
	}
	u, err := s.cfg.Practice.SetRole(c.Request.Context(), sessionOf(c), c.Param("id"), req.Role)
	s.reply(c, http.StatusOK, u, adminError(err))
}

// removeUser ends the removed user's sessions with the record; its open
// workspaces' event streams end at once (their next call gets 401). An admin who removes themselves loses the cookie too.
func (s *Server) removeUser(c *gin.Context) {
	sess, id := sessionOf(c), c.Param("id")
	if err := s.cfg.Practice.RemoveUser(c.Request.Context(), sess, id); err != nil {
		s.fail(c, adminError(err))
		return
	}
	s.events.end(sess.TenantID(), func(st *stream) bool { return st.userID == id })
	if id == sess.UserID() {
		s.clearSessionCookie(c)
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) practiceUsage(c *gin.Context) {
	u, err := s.cfg.Practice.Usage(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, u, err)
}

// adminTenant is the session's tenant when its user is an admin.
func adminTenant(c *gin.Context) (string, error) {
	sess := sessionOf(c)
	if err := practice.RequireAdmin(sess); err != nil {
		return "", err
	}
	return sess.TenantID(), nil
}

func (s *Server) practiceKeys(c *gin.Context) {
	tenantID, err := adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ks, err := s.svc.Keys(c.Request.Context(), tenantID)
	if ks == nil {
		ks = []protocol.APIKey{}
	}
	s.reply(c, http.StatusOK, ks, err)
}

// createPracticeKey makes a tenant key for the practice software; the
// answer is the only place its secret appears.
func (s *Server) createPracticeKey(c *gin.Context) {
	tenantID, err := adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	k, err := s.svc.CreateKey(c.Request.Context(), tenantID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.log.Info("api key created", "tenant", tenantID, "key", k.ID, "by", sessionOf(c).UserID())
	c.JSON(http.StatusCreated, k)
}

func (s *Server) revokePracticeKey(c *gin.Context) {
	tenantID, err := adminTenant(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.svc.RevokeKey(c.Request.Context(), tenantID, c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	s.log.Info("api key revoked", "tenant", tenantID, "key", c.Param("id"), "by", sessionOf(c).UserID())
	c.Status(http.StatusNoContent)
}
