package practice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/store"
)

// Token kinds, hashed apart.
const (
	kindInvite  = "invite"
	kindSession = "session"
)

// Session is a logged-in user as the API shows it; Token is the cookie's
// value, set only when the session was just made.
type Session struct {
	User       UserView     `json:"user"`
	Practice   PracticeView `json:"practice"`
	CSRF       string       `json:"csrf"`
	WrappedKey string       `json:"wrapped_key"`
	Device     DeviceView   `json:"device"`
	// Passkey is set on the answer of a passkey login (passkeys.go).
	Passkey *PasskeyLogin `json:"passkey,omitempty"`
	Token   string        `json:"-"`
	// DeviceToken is the device cookie's value to set when this login
	// gave the browser a new one.
	DeviceToken string    `json:"-"`
	ExpiresAt   time.Time `json:"expires_at"`
	// tenant and user ids for the handlers' checks.
	user store.User
}

// UserView is a user as other users see it.
type UserView struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role"`
}

// PracticeView names the practice.
type PracticeView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UserID and TenantID of the session's user; Role its role.
func (s Session) UserID() string   { return s.user.ID }
func (s Session) TenantID() string { return s.user.TenantID }
func (s Session) Role() string     { return s.user.Role }

// NewSetupLink makes a one-time link for a practice's first user (first)
// or for an invited user, and returns its token.
func (s *Service) NewSetupLink(ctx context.Context, tenantID, role string, first bool, wrappedKey, createdBy string) (string, time.Time, error) {
	if err := validRole(role); err != nil {
		return "", time.Time{}, err
	}
	if err := validSealed("wrapped_key", wrappedKey, maxWrappedKey, !first); err != nil {
		return "", time.Time{}, err
	}
	token, err := randomToken(32)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now().UTC()
	inv := store.Invite{Hash: tokenHash(kindInvite, token), TenantID: tenantID, Role: role, First: first,
		WrappedKey: wrappedKey, CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := s.store.CreateInvite(ctx, inv); err != nil {
		return "", time.Time{}, err
	}
	return token, inv.ExpiresAt, nil
}

// FirstSetupLink returns a setup link for the tenant's first user when
// it has none yet, or "" when it has users.
func (s *Service) FirstSetupLink(ctx context.Context, tenantID string) (string, error) {
	has, err := s.store.HasUsers(ctx, tenantID)
	if err != nil || has {
		return "", err
	}
	token, _, err := s.NewSetupLink(ctx, tenantID, RoleAdmin, true, "", "")
	return token, err
}

// SetupInfo is what the setup page shows before the user fills it in.
type SetupInfo struct {
	First      bool   `json:"first"`
	Role       string `json:"role"`
	WrappedKey string `json:"wrapped_key"`
	Practice   string `json:"practice"`
}

func (s *Service) liveInvite(ctx context.Context, token string) (store.Invite, error) {
	if _, err := decodeKey("token", token, 32); err != nil {
		return store.Invite{}, ErrSetupUsed
	}
	inv, err := s.store.GetInvite(ctx, tokenHash(kindInvite, token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.now().Before(inv.ExpiresAt)) {
		return store.Invite{}, ErrSetupUsed
	}
	if err == nil && inv.First {
		// Spent once the practice has a user (store.UseInvite says so too).
		has, err := s.store.HasUsers(ctx, inv.TenantID)
		if err != nil {
			return store.Invite{}, err
		}
		if has {
			return store.Invite{}, ErrSetupUsed
		}
	}
	return inv, err
}

// Setup tells the setup page what a link is for.
func (s *Service) Setup(ctx context.Context, token string) (SetupInfo, error) {
	inv, err := s.liveInvite(ctx, token)
	if err != nil {
		return SetupInfo{}, err
	}
	t, err := s.store.GetTenant(ctx, inv.TenantID)
	if err != nil {
		return SetupInfo{}, err
	}
	return SetupInfo{First: inv.First, Role: inv.Role, WrappedKey: inv.WrappedKey, Practice: t.Name}, nil
}

// SetupRequest creates a user from a setup link.
type SetupRequest struct {
	Email        string `json:"email"`
	Name         string `json:"name"`
	PracticeName string `json:"practice_name,omitempty"`
	KDF          KDF    `json:"kdf"`
	Auth         string `json:"auth"`
	WrappedKey   string `json:"wrapped_key"`
}

// CompleteSetup creates the user the link is for, uses the link up and
// logs the user in.
func (s *Service) CompleteSetup(ctx context.Context, token string, req SetupRequest, br Browser) (Session, error) {
	inv, err := s.liveInvite(ctx, token)
	if err != nil {
		return Session{}, err
	}
	u, err := s.newUser(inv, req)
	if err != nil {
		return Session{}, err
	}
	if inv.First && req.PracticeName != "" {
		if err := validName("practice_name", req.PracticeName); err != nil {
			return Session{}, err
		}
		t, err := s.store.GetTenant(ctx, inv.TenantID)
		if err != nil {
			return Session{}, err
		}
		t.Name = req.PracticeName
		if err := s.store.UpdateTenant(ctx, t); err != nil {
			return Session{}, err
		}
	}
	if err := s.store.UseInvite(ctx, inv.Hash, u); err != nil {
		switch {
		case errors.Is(err, store.ErrExists):
			return Session{}, ErrEmailTaken
		case errors.Is(err, store.ErrNotFound):
			return Session{}, ErrSetupUsed
		}
		return Session{}, err
	}
	s.log.Info("practice user created", "tenant", u.TenantID, "user", u.ID, "role", u.Role)
	// The browser that used the link is approved: the link was the proof.
	return s.startSession(ctx, u, br, true)
}

func (s *Service) newUser(inv store.Invite, req SetupRequest) (store.User, error) {
	email := NormalizeEmail(req.Email)
	if err := validEmail(email); err != nil {
		return store.User{}, err
	}
	if err := validName("name", req.Name); err != nil {
		return store.User{}, err
	}
	kdf, err := req.KDF.params()
	if err != nil {
		return store.User{}, err
	}
	auth, err := decodeKey("auth", req.Auth, authKeyLen)
	if err != nil {
		return store.User{}, err
	}
	if err := validSealed("wrapped_key", req.WrappedKey, maxWrappedKey, true); err != nil {
		return store.User{}, err
	}
	id, err := access.NewID()
	if err != nil {
		return store.User{}, err
	}
	hash, salt, err := newAuthHash(auth)
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: id, TenantID: inv.TenantID, Email: email, Name: req.Name, Role: inv.Role,
		AuthHash: hash, AuthSalt: salt, KDF: kdf, WrappedKey: req.WrappedKey, CreatedAt: s.now().UTC()}, nil
}

// Login checks an auth key and starts a session. Wrong keys count
// against the account: after lockAfter in a row it is locked, longer
// with each further failure (LockedError). A browser new to the user
// gets a pending device (devices.go).
func (s *Service) Login(ctx context.Context, email, authB64 string, br Browser) (Session, error) {
	email = NormalizeEmail(email)
	if err := validEmail(email); err != nil {
		return Session{}, err
	}
	auth, err := decodeKey("auth", authB64, authKeyLen)
	if err != nil {
		return Session{}, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		// As slow as a real check, so timing does not tell either.
		hashAuth(auth, make([]byte, 16))
		return Session{}, ErrBadLogin
	}
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	if now.Before(u.LockedUntil) {
		return Session{}, &LockedError{RetryAfter: u.LockedUntil.Sub(now)}
	}
	if !authMatches(u, auth) {
		u.Failures++
		if u.Failures >= lockAfter {
			u.LockedUntil = now.Add(lockFor(u.Failures))
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return Session{}, err
		}
		s.log.Info("practice login failed", "user", u.ID, "failures", u.Failures)
		if u.Failures >= lockAfter {
			return Session{}, &LockedError{RetryAfter: u.LockedUntil.Sub(now)}
		}
		return Session{}, ErrBadLogin
	}
	if u.Failures > 0 || !u.LockedUntil.IsZero() {
		u.Failures, u.LockedUntil = 0, time.Time{}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			return Session{}, err
		}
	}
	return s.startSession(ctx, u, br, false)
}

// lockFor is the lock after n failures in a row (n >= lockAfter).
func lockFor(n int) time.Duration {
	d := lockFirst
	for i := lockAfter; i < n && d < lockMax; i++ {
		d *= 2
	}
	return min(d, lockMax)
}

func (s *Service) startSession(ctx context.Context, u store.User, br Browser, trusted bool) (Session, error) {
	dev, deviceToken, err := s.deviceOf(ctx, u, br, trusted)
	if err != nil {
		return Session{}, err
	}
	token, err := randomToken(32)
	if err != nil {
		return Session{}, err
	}
	csrf, err := randomToken(24)
	if err != nil {
		return Session{}, err
	}
	now := s.now().UTC()
	ls := store.LoginSession{Hash: tokenHash(kindSession, token), UserID: u.ID, TenantID: u.TenantID,
		DeviceID: dev.ID, CSRF: csrf, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := s.store.CreateLoginSession(ctx, ls); err != nil {
		return Session{}, err
	}
	sess, err := s.view(ctx, u, ls)
	if err != nil {
		return Session{}, err
	}
	sess.Token, sess.DeviceToken = token, deviceToken
	s.log.Info("practice user logged in", "tenant", u.TenantID, "user", u.ID, "device", dev.ID, "approved", sess.Approved())
	return sess, nil
}

// view is the session as the API shows it. An unapproved browser gets
// no wrapped practice key: approval guards the key, not only the routes.
func (s *Service) view(ctx context.Context, u store.User, ls store.LoginSession) (Session, error) {
	t, err := s.store.GetTenant(ctx, u.TenantID)
	if err != nil {
		return Session{}, fmt.Errorf("tenant of user %s: %w", u.ID, err)
	}
	d, err := s.store.GetDevice(ctx, ls.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession // revoked: DeleteDevice ends its sessions too
	}
	if err != nil {
		return Session{}, err
	}
	on, err := s.approvalOn(ctx, u.TenantID)
	if err != nil {
		return Session{}, err
	}
	sess := Session{
		User:     UserView{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role},
		Practice: PracticeView{ID: t.ID, Name: t.Name},
		CSRF:     ls.CSRF, Device: deviceView(d, d.Approved || !on),
		ExpiresAt: ls.ExpiresAt, user: u,
	}
	if sess.Approved() {
		sess.WrappedKey = u.WrappedKey
	}
	return sess, nil
}

// Authenticate resolves a session cookie; ErrNoSession when it is
// unknown or expired.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 64 {
		return Session{}, ErrNoSession
	}
	ls, err := s.store.LoginSessionByHash(ctx, tokenHash(kindSession, token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.now().Before(ls.ExpiresAt)) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	u, err := s.store.GetUser(ctx, ls.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	return s.view(ctx, u, ls)
}

// CheckCSRF compares a request's CSRF header with the session's.
func CheckCSRF(sess Session, header string) bool {
	return header != "" && access.Equal([]byte(header), []byte(sess.CSRF))
}

// Logout ends this session, or every session of its user when the
// session's browser is approved.
func (s *Service) Logout(ctx context.Context, token string, everywhere bool) error {
	sess, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	// A browser awaiting approval ends only itself: a password alone
	// must not log the user's approved browsers out.
	if everywhere && sess.Approved() {
		return s.store.DeleteUserSessions(ctx, sess.UserID())
	}
	return s.store.DeleteLoginSession(ctx, tokenHash(kindSession, token))
}

// Users lists the session's practice's users.
func (s *Service) Users(ctx context.Context, sess Session) ([]UserView, error) {
	us, err := s.store.ListUsers(ctx, sess.TenantID())
	if err != nil {
		return nil, err
	}
	out := make([]UserView, 0, len(us))
	for _, u := range us {
		out = append(out, UserView{ID: u.ID, Name: u.Name, Role: u.Role})
	}
	return out, nil
}

// Invite makes a setup link for a new user of the admin's practice.
// wrappedKey is the practice key wrapped under the link's secret, which
// only the link's fragment carries.
func (s *Service) Invite(ctx context.Context, sess Session, role, wrappedKey string) (string, time.Time, error) {
	if sess.Role() != RoleAdmin {
		return "", time.Time{}, ErrForbidden
	}
	return s.NewSetupLink(ctx, sess.TenantID(), role, false, wrappedKey, sess.UserID())
}
