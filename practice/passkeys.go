package practice

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/konsil/konsil/store"
)

// Passkeys (docs/WORKSPACE.md, "Passkeys"): a WebAuthn credential logs a
// user in without the password. The WebAuthn work is go-webauthn's; this
// file keeps its ceremonies in the store (no node's memory holds one, so
// a finish may reach another node than its begin) and sends a passkey
// login through the same device approval as a password login.
//
// Where the authenticator has the PRF extension, the browser derives a
// wrapping key from the PRF output and stores the practice key wrapped
// under it with the passkey; the PRF output itself never leaves the
// browser. Without PRF a passkey login still asks for the password once
// to open the practice key.

// Errors of passkeys.
var (
	// ErrPasskey: the passkey's answer did not verify (wrong signature,
	// unknown credential, another origin, a cloned authenticator).
	ErrPasskey = errors.New("the passkey was not accepted")
	// ErrPasskeyCeremony: the ceremony id is unknown, used or expired.
	ErrPasskeyCeremony = errors.New("this passkey request expired or was used; start again")
	// ErrPasskeyHost: WebAuthn has no relying party for an IP address.
	ErrPasskeyHost = errors.New("passkeys need the server's name, not an IP address")
)

const (
	kindCeremony     = "passkey ceremony"
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	// CeremonyTTL is how long a begun registration or login may take.
	CeremonyTTL = 5 * time.Minute
	// maxPasskeys per user: enough for a laptop, a phone and two keys.
	maxPasskeys = 10
	// maxPasskeyLabel bounds a passkey's name.
	maxPasskeyLabel = 60
	// rpName is what authenticators show as the site.
	rpName = "Konsil"
)

// PasskeyPRFSalt is the PRF input the browser evaluates, at create and
// get: SHA-256("konsil passkey prf v1"). The server asks for the same
// salt in its options so that the library expects the prf output.
var PasskeyPRFSalt = func() []byte { h := sha256.Sum256([]byte("konsil passkey prf v1")); return h[:] }()

// RelyingParty is where a ceremony runs: the RP ID (the server's host
// name) and the origin of the page that runs it.
type RelyingParty struct {
	ID     string
	Origin string
}

func (rp RelyingParty) webauthn() (*webauthn.WebAuthn, error) {
	if rp.ID == "" || net.ParseIP(strings.Trim(rp.ID, "[]")) != nil {
		return nil, ErrPasskeyHost
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: rp.ID, RPDisplayName: rpName, RPOrigins: []string{rp.Origin}})
	if err != nil {
		return nil, invalid("passkeys: %v", err)
	}
	return wa, nil
}

// Ceremony is a begun registration or login: the id to send back with
// the finish, and the options for navigator.credentials.create or get
// (the library's JSON, byte values in base64url).
type Ceremony struct {
	Ceremony string `json:"ceremony"`
	Options  any    `json:"options"`
}

// PasskeyView is a passkey as its user sees it. WrappedKey is the
// practice key wrapped under the passkey's PRF ("" without PRF): only
// the authenticator can open it, and only the user's own approved
// sessions see it.
type PasskeyView struct {
	ID         string    `json:"id"`
	Label      string    `json:"label"`
	PRF        bool      `json:"prf"`
	WrappedKey string    `json:"wrapped_key,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsed   time.Time `json:"last_used,omitzero"`
}

// PasskeyLogin tells a passkey login's browser which passkey it used
// and, once the browser is approved, that passkey's wrapped key.
type PasskeyLogin struct {
	ID         string `json:"id"`
	PRF        bool   `json:"prf"`
	WrappedKey string `json:"wrapped_key,omitempty"`
}

// passkeyUser is a user as the WebAuthn library sees it. The user handle
// is the user's random id: no name or address goes into authenticators
// beyond what the user sees in its own passkey list.
type passkeyUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte                         { return []byte(p.u.ID) }
func (p passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p passkeyUser) WebAuthnDisplayName() string                { return p.u.Name }
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func prfOption() webauthn.ExtensionOption {
	return webauthn.WithExtensionPRF(protocol.PRFValues{First: PasskeyPRFSalt})
}

func credentialOf(p store.Passkey) (webauthn.Credential, error) {
	var c webauthn.Credential
	if err := json.Unmarshal(p.Credential, &c); err != nil {
		return c, fmt.Errorf("passkey %s: %w", p.ID, err)
	}
	return c, nil
}

// newCeremony stores the library's session data under a fresh id.
func (s *Service) newCeremony(ctx context.Context, kind, userID string, sd *webauthn.SessionData, options any) (Ceremony, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey session data: %w", err)
	}
	id, err := randomToken(32)
	if err != nil {
		return Ceremony{}, err
	}
	c := store.PasskeyCeremony{Hash: tokenHash(kindCeremony, id), Kind: kind, UserID: userID,
		SessionData: data, ExpiresAt: s.now().UTC().Add(CeremonyTTL)}
	if err := s.store.CreatePasskeyCeremony(ctx, c); err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Ceremony: id, Options: options}, nil
}

// takeCeremony finds a live ceremony of kind (and user) and uses it up:
// a failed finish must begin again.
func (s *Service) takeCeremony(ctx context.Context, id, kind, userID string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if _, err := decodeKey("ceremony", id, 32); err != nil {
		return sd, ErrPasskeyCeremony
	}
	c, err := s.store.TakePasskeyCeremony(ctx, tokenHash(kindCeremony, id))
	if errors.Is(err, store.ErrNotFound) {
		return sd, ErrPasskeyCeremony
	}
	if err != nil {
		return sd, err
	}
	if c.Kind != kind || c.UserID != userID || !s.now().Before(c.ExpiresAt) {
		return sd, ErrPasskeyCeremony
	}
	if err := json.Unmarshal(c.SessionData, &sd); err != nil {
		return sd, fmt.Errorf("passkey session data: %w", err)
	}
	return sd, nil
}

// BeginRegistration starts adding a passkey for the session's user, from
// an approved browser only.
func (s *Service) BeginRegistration(ctx context.Context, sess Session, rp RelyingParty) (Ceremony, error) {
	if !sess.Approved() {
		return Ceremony{}, ErrDevicePending
	}
	wa, err := rp.webauthn()
	if err != nil {
		return Ceremony{}, err
	}
	u, creds, err := s.passkeyUserOf(ctx, sess.UserID())
	if err != nil {
		return Ceremony{}, err
	}
	if len(creds) >= maxPasskeys {
		return Ceremony{}, invalid("a user may have at most %d passkeys; remove one first", maxPasskeys)
	}
	exclude := webauthn.Credentials(creds).CredentialDescriptors()
	creation, sd, err := wa.BeginRegistration(passkeyUser{u: u, creds: creds},
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(prfOption()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.newCeremony(ctx, ceremonyRegister, u.ID, sd, creation)
}

// passkeyUserOf reads a user and its passkeys' credentials.
func (s *Service) passkeyUserOf(ctx context.Context, userID string) (store.User, []webauthn.Credential, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return store.User{}, nil, err
	}
	keys, err := s.store.ListPasskeys(ctx, userID)
	if err != nil {
		return store.User{}, nil, err
	}
	creds := make([]webauthn.Credential, 0, len(keys))
	for _, p := range keys {
		c, err := credentialOf(p)
		if err != nil {
			return store.User{}, nil, err
		}
		creds = append(creds, c)
	}
	return u, creds, nil
}

// PasskeyRegistration is the finish of a registration: the browser's
// PublicKeyCredential as JSON, the practice key wrapped under the PRF
// ("" without PRF) and a name for the list.
type PasskeyRegistration struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
	WrappedKey string          `json:"wrapped_key"`
	Label      string          `json:"label"`
}

// FinishRegistration verifies the authenticator's answer and stores the
// passkey.
func (s *Service) FinishRegistration(ctx context.Context, sess Session, rp RelyingParty, req PasskeyRegistration) (PasskeyView, error) {
	if !sess.Approved() {
		return PasskeyView{}, ErrDevicePending
	}
	label := strings.TrimSpace(req.Label)
	if label == "" {
		label = "Passkey"
	}
	if err := validName("label", label); err != nil || len(label) > maxPasskeyLabel {
		return PasskeyView{}, invalid("label must have 1 to %d printable characters", maxPasskeyLabel)
	}
	if err := validSealed("wrapped_key", req.WrappedKey, maxWrappedKey, false); err != nil {
		return PasskeyView{}, err
	}
	wa, err := rp.webauthn()
	if err != nil {
		return PasskeyView{}, err
	}
	sd, err := s.takeCeremony(ctx, req.Ceremony, ceremonyRegister, sess.UserID())
	if err != nil {
		return PasskeyView{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Credential)
	if err != nil {
		return PasskeyView{}, s.refused("registration", sess.UserID(), err)
	}
	u, creds, err := s.passkeyUserOf(ctx, sess.UserID())
	if err != nil {
		return PasskeyView{}, err
	}
	cred, err := wa.CreateCredential(passkeyUser{u: u, creds: creds}, sd, parsed)
	if err != nil {
		return PasskeyView{}, s.refused("registration", sess.UserID(), err)
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return PasskeyView{}, fmt.Errorf("passkey credential: %w", err)
	}
	now := s.now().UTC()
	p := store.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), TenantID: u.TenantID, UserID: u.ID,
		Credential: data, WrappedKey: req.WrappedKey, Label: label, CreatedAt: now}
	if err := s.store.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, store.ErrExists) {
			return PasskeyView{}, invalid("this passkey is registered already")
		}
		return PasskeyView{}, err
	}
	s.log.Info("practice passkey added", "tenant", u.TenantID, "user", u.ID, "prf", p.WrappedKey != "")
	return passkeyView(p), nil
}

// refused logs why the library refused an answer (at debug: the detail
// helps a developer, not an operator) and returns ErrPasskey.
func (s *Service) refused(what, userID string, err error) error {
	var pe *protocol.Error
	detail := err.Error()
	if errors.As(err, &pe) {
		detail = pe.Details
	}
	s.log.Debug("practice passkey refused", "ceremony", what, "user", userID, "err", detail)
	return fmt.Errorf("%w: %s", ErrPasskey, what)
}

func passkeyView(p store.Passkey) PasskeyView {
	return PasskeyView{ID: p.ID, Label: p.Label, PRF: p.WrappedKey != "", WrappedKey: p.WrappedKey,
		CreatedAt: p.CreatedAt, LastUsed: p.LastUsed}
}

// Passkeys lists the session's user's own passkeys.
func (s *Service) Passkeys(ctx context.Context, sess Session) ([]PasskeyView, error) {
	keys, err := s.store.ListPasskeys(ctx, sess.UserID())
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyView, 0, len(keys))
	for _, p := range keys {
		if p.TenantID == sess.TenantID() {
			out = append(out, passkeyView(p))
		}
	}
	return out, nil
}

// DeletePasskey removes one of the session's user's passkeys. Another
// user's, or another practice's, is not found.
func (s *Service) DeletePasskey(ctx context.Context, sess Session, id string) error {
	if !sess.Approved() {
		return ErrDevicePending
	}
	if id == "" || len(id) > 1400 {
		return store.ErrNotFound
	}
	p, err := s.store.GetPasskey(ctx, id)
	if err != nil {
		return err
	}
	if p.TenantID != sess.TenantID() || p.UserID != sess.UserID() {
		return store.ErrNotFound
	}
	if err := s.store.DeletePasskey(ctx, id); err != nil {
		return err
	}
	s.log.Info("practice passkey removed", "tenant", p.TenantID, "user", p.UserID)
	return nil
}

// BeginLogin starts a passkey login. It names no user: the browser
// offers the passkeys it has for this site (discoverable credentials),
// so nobody learns from it who has an account.
func (s *Service) BeginLogin(ctx context.Context, rp RelyingParty) (Ceremony, error) {
	wa, err := rp.webauthn()
	if err != nil {
		return Ceremony{}, err
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired),
		webauthn.WithAssertionExtensions(prfOption()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey login: %w", err)
	}
	return s.newCeremony(ctx, ceremonyLogin, "", sd, assertion)
}

// PasskeyAssertion is the finish of a login: the browser's
// PublicKeyCredential as JSON.
type PasskeyAssertion struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// FinishLogin verifies a passkey's assertion and starts a session the
// way a password login does: a browser new to the user waits for
// approval. The session's Passkey carries the passkey's wrapped key once
// the browser is approved. A password lockout does not stop a passkey:
// the lock guards against guessing, and a passkey cannot be guessed.
func (s *Service) FinishLogin(ctx context.Context, rp RelyingParty, req PasskeyAssertion, br Browser) (Session, error) {
	wa, err := rp.webauthn()
	if err != nil {
		return Session{}, err
	}
	sd, err := s.takeCeremony(ctx, req.Ceremony, ceremonyLogin, "")
	if err != nil {
		return Session{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return Session{}, s.refused("login", "", err)
	}
	var key store.Passkey
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		p, err := s.store.GetPasskey(ctx, base64.RawURLEncoding.EncodeToString(rawID))
		if err != nil {
			return nil, err
		}
		u, err := s.store.GetUser(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		c, err := credentialOf(p)
		if err != nil {
			return nil, err
		}
		key = p
		return passkeyUser{u: u, creds: []webauthn.Credential{c}}, nil
	}
	wu, cred, err := wa.ValidatePasskeyLogin(handler, sd, parsed)
	if err != nil {
		return Session{}, s.refused("login", key.UserID, err)
	}
	// WebAuthn §7.2 step 17: a sign count that does not grow may mean a
	// cloned authenticator; refuse rather than guess.
	if cred.Authenticator.CloneWarning {
		s.log.Warn("practice passkey sign count did not grow; login refused", "tenant", key.TenantID, "user", key.UserID)
		return Session{}, fmt.Errorf("%w: the sign count did not grow (a cloned authenticator?)", ErrPasskey)
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return Session{}, fmt.Errorf("passkey credential: %w", err)
	}
	key.Credential, key.LastUsed = data, s.now().UTC()
	if err := s.store.UpdatePasskey(ctx, key); err != nil {
		return Session{}, err
	}
	sess, err := s.startSession(ctx, wu.(passkeyUser).u, br, false)
	if err != nil {
		return Session{}, err
	}
	sess.Passkey = &PasskeyLogin{ID: key.ID, PRF: key.WrappedKey != ""}
	if sess.Approved() {
		sess.Passkey.WrappedKey = key.WrappedKey
	}
	return sess, nil
}

// DeleteExpiredPasskeyCeremonies is retention for begun ceremonies that
// were never finished.
func (s *Service) DeleteExpiredPasskeyCeremonies(ctx context.Context) (int, error) {
	return s.store.DeleteExpiredPasskeyCeremonies(ctx, s.now())
}
