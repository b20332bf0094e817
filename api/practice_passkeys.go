package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/practice"
)

// Passkeys (docs/WORKSPACE.md, "Passkeys"): register and remove them
// from an approved browser; log in with one without an e-mail address.
// A wrong or failed assertion counts against the address like a wrong
// password.

const (
	// CodePasskey: the passkey's answer did not verify.
	CodePasskey = "passkey_refused"
	// CodePasskeyCeremony: the ceremony id is unknown, used or expired.
	CodePasskeyCeremony = "passkey_expired"
	// CodePasskeyHost: the server was reached by IP address.
	CodePasskeyHost = "passkey_needs_name"
)

func (s *Server) practicePasskeyRoutes(p, u *gin.RouterGroup) {
	p.POST("/login/passkey/begin", s.passkeyLoginBegin)
	p.POST("/login/passkey/finish", s.passkeyLoginFinish)
	u.POST("/passkeys/register/begin", s.passkeyRegisterBegin)
	u.POST("/passkeys/register/finish", s.passkeyRegisterFinish)
	u.GET("/passkeys", s.passkeys)
	u.DELETE("/passkeys/:id", s.deletePasskey)
}

// relyingParty is where this request's ceremony runs: the RP ID is the
// public URL's host when one is configured, else the request's host
// name; the origin is the page's (the Origin header, which sameOrigin
// has held to this host), else derived as the page would be.
func (s *Server) relyingParty(c *gin.Context) practice.RelyingParty {
	host := c.Request.Host
	origin := requestBase(c)
	if pub, err := url.Parse(s.cfg.PublicURL); err == nil && pub.Host != "" {
		host, origin = pub.Host, pub.Scheme+"://"+pub.Host
	}
	if o := c.GetHeader("Origin"); o != "" && o != "null" {
		origin = o
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return practice.RelyingParty{ID: strings.ToLower(strings.Trim(host, "[]")), Origin: origin}
}

// passkeyError maps the practice's passkey errors to the API's.
func passkeyError(err error) error {
	switch {
	case errors.Is(err, practice.ErrPasskey):
		return newError(http.StatusUnauthorized, CodePasskey, "%s", err.Error())
	case errors.Is(err, practice.ErrPasskeyCeremony):
		return newError(http.StatusGone, CodePasskeyCeremony, "%s", err.Error())
	case errors.Is(err, practice.ErrPasskeyHost):
		return newError(http.StatusBadRequest, CodePasskeyHost, "%s", err.Error())
	}
	return err
}

func (s *Server) passkeyRegisterBegin(c *gin.Context) {
	if c.Request.ContentLength != 0 {
		if _, ok := decoded[struct{}](s, c); !ok {
			return
		}
	}
	cer, err := s.cfg.Practice.BeginRegistration(c.Request.Context(), sessionOf(c), s.relyingParty(c))
	s.reply(c, http.StatusOK, cer, passkeyError(err))
}

func (s *Server) passkeyRegisterFinish(c *gin.Context) {
	req, ok := decoded[practice.PasskeyRegistration](s, c)
	if !ok {
		return
	}
	p, err := s.cfg.Practice.FinishRegistration(c.Request.Context(), sessionOf(c), s.relyingParty(c), req)
	s.reply(c, http.StatusCreated, p, passkeyError(err))
}

func (s *Server) passkeys(c *gin.Context) {
	list, err := s.cfg.Practice.Passkeys(c.Request.Context(), sessionOf(c))
	s.reply(c, http.StatusOK, list, err)
}

func (s *Server) deletePasskey(c *gin.Context) {
	if err := s.cfg.Practice.DeletePasskey(c.Request.Context(), sessionOf(c), c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) passkeyLoginBegin(c *gin.Context) {
	addr := s.clientNet(c)
	if wait, blocked := s.logins.blocked(addr); blocked {
		s.fail(c, rateLimited(wait))
		return
	}
	// Every begin counts (it writes a ceremony) and is never given back.
	if _, wait, ok := s.ceremonies.reserve(addr); !ok {
		s.fail(c, rateLimited(wait))
		return
	}
	if c.Request.ContentLength != 0 {
		if _, ok := decoded[struct{}](s, c); !ok {
			return
		}
	}
	cer, err := s.cfg.Practice.BeginLogin(c.Request.Context(), s.relyingParty(c))
	s.reply(c, http.StatusOK, cer, passkeyError(err))
}

// passkeyLoginFinish checks the assertion; a refused one counts against
// the client network and waits as a wrong password does.
func (s *Server) passkeyLoginFinish(c *gin.Context) {
	req, ok := decoded[practice.PasskeyAssertion](s, c)
	if !ok {
		return
	}
	slot, wait, ok := s.logins.reserve(s.clientNet(c))
	if !ok {
		s.fail(c, rateLimited(wait))
		return
	}
	sess, err := s.cfg.Practice.FinishLogin(c.Request.Context(), s.relyingParty(c), req, browserOf(c))
	if errors.Is(err, practice.ErrPasskey) {
		holdAnswer(c, slot.failed())
	} else {
		slot.refund()
	}
	if err != nil {
		s.fail(c, passkeyError(err))
		return
	}
	s.startedSession(c, http.StatusOK, sess)
}
