package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/practice"
)

// Device approval and the practice's settings (docs/WORKSPACE.md):
// a browser new to a user waits until an approved browser of the same
// user, or an admin, types the code it shows.

const (
	deviceCookie = "konsil_device"
	// deviceCookieAge keeps a browser known for as long as retention keeps
	// an unused device (browsers cap cookies at 400 days).
	deviceCookieAge = practice.UnusedDeviceTTL
	// CodeDevicePending: the session's browser waits for approval.
	CodeDevicePending = "device_pending"
	// CodeDeviceCode: the confirmation code typed does not match.
	CodeDeviceCode = "device_code"
)

// DeviceEvent tells open workspaces that a device was added, approved
// or removed, so lists of devices refresh without polling.
type DeviceEvent struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
	Approved bool   `json:"approved"`
}

func (s *Server) practiceDeviceRoutes(u *gin.RouterGroup) {
	u.GET("/devices", s.devices)
	u.POST("/devices/:id/approve", s.approveDevice)
	u.DELETE("/devices/:id", s.revokeDevice)
	u.GET("/settings", s.settings)
	u.PUT("/settings", s.setSettings)
}

// pendingAllowed are the routes a browser awaiting approval may use: it
// learns of its approval from GET session and may log out.
func pendingAllowed(c *gin.Context) bool {
	switch c.FullPath() {
	case "/api/v1/practice/session", "/api/v1/practice/logout":
		return true
	}
	return false
}

// browserOf is what a login knows of the browser.
func browserOf(c *gin.Context) practice.Browser {
	token, _ := c.Cookie(deviceCookie)
	return practice.Browser{Token: token, UserAgent: c.Request.UserAgent()}
}

// startedSession sets the cookies of a session just made and tells the
// workspaces of a new pending device.
func (s *Server) startedSession(c *gin.Context, status int, sess practice.Session) {
	s.setSessionCookie(c, sess.Token, sess.ExpiresAt)
	if sess.DeviceToken != "" {
		http.SetCookie(c.Writer, &http.Cookie{Name: deviceCookie, Value: sess.DeviceToken, Path: "/api/v1/practice/",
			MaxAge: int(deviceCookieAge / time.Second), HttpOnly: true, Secure: s.secureCookies(c), SameSite: http.SameSiteStrictMode})
	}
	if !sess.Approved() {
		s.events.publish(sess.TenantID(), event{"device", DeviceEvent{UserID: sess.UserID(), DeviceID: sess.Device.ID}})
	}
	c.JSON(status, sess)
}

func (s *Server) devices(c *gin.Context) {
	list, err := s.cfg.Practice.Devices(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, list, err)
}

type approveRequest struct {
	Code string `json:"code"`
}

func (s *Server) approveDevice(c *gin.Context) {
	req, ok := decoded[approveRequest](s, c)
	if !ok {
		return
	}
	sess := sessionOf(c)
	d, err := s.cfg.Practice.ApproveDevice(c.Request.Context(), sess, c.Param("id"), req.Code)
	if err == nil {
		s.events.publish(sess.TenantID(), event{"device", DeviceEvent{UserID: d.UserID, DeviceID: d.ID, Approved: true}})
	}
	s.reply(c, http.StatusOK, d, err)
}

func (s *Server) revokeDevice(c *gin.Context) {
	sess := sessionOf(c)
	if err := s.cfg.Practice.RevokeDevice(c.Request.Context(), sess, c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	s.events.end(sess.TenantID(), func(st *stream) bool { return st.deviceID == c.Param("id") })
	s.events.publish(sess.TenantID(), event{"device", DeviceEvent{DeviceID: c.Param("id")}})
	c.Status(http.StatusNoContent)
}

func (s *Server) settings(c *gin.Context) {
	st, err := s.cfg.Practice.Settings(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, st, err)
}

func (s *Server) setSettings(c *gin.Context) {
	req, ok := decoded[practice.Settings](s, c)
	if !ok {
		return
	}
	st, err := s.cfg.Practice.SetSettings(c.Request.Context(), sessionOf(c), req)
	s.reply(c, http.StatusOK, st, err)
}
