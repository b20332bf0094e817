// Package practice runs the clinician workspace's accounts and calendar:
// practice users who log in with a password the server never sees (the
// browser derives an auth key and sends only that), their login sessions
// with CSRF tokens, one-time setup links, and appointments whose patient
// data is ciphertext only the practice's browsers can open. It knows
// nothing of HTTP (package api serves it) and creates rooms through a
// function it is given, so it never imports the API.
package practice

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// Errors callers branch on; package api maps each to a status and code.
var (
	// ErrInvalid: the request breaks a rule; the wrapped message names it.
	ErrInvalid = errors.New("invalid")
	// ErrBadLogin: unknown address or wrong password (never which).
	ErrBadLogin = errors.New("wrong e-mail address or password")
	// ErrNoSession: no valid session cookie.
	ErrNoSession = errors.New("not logged in")
	// ErrForbidden: the user's role does not allow this.
	ErrForbidden = errors.New("not allowed for this role")
	// ErrSetupUsed: the setup link is unknown, used or expired.
	ErrSetupUsed = errors.New("this setup link is not valid (used or expired)")
	// ErrEmailTaken: another user has this login.
	ErrEmailTaken = errors.New("this e-mail address already has an account")
)

// LockedError is a login refused while the account is locked.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many wrong passwords: the account is locked for %d s", int(e.RetryAfter.Seconds()+0.999))
}

// Roles of practice users.
const (
	RoleAdmin     = "admin"
	RoleClinician = "clinician"
	RoleAssistant = "assistant"
)

// Limits and defaults.
const (
	// SessionTTL is how long a login lasts.
	SessionTTL = 12 * time.Hour
	// InviteTTL is how long a setup link stays valid.
	InviteTTL = 7 * 24 * time.Hour
	// lockAfter wrong passwords in a row lock the account for lockFirst,
	// doubling with each further one up to lockMax.
	lockAfter = 5
	lockFirst = time.Minute
	lockMax   = time.Hour
	// The browser's argon2id parameters: defaults and bounds (KiB).
	DefaultKDFT = 3
	DefaultKDFM = 65536
	minKDFT     = 2
	maxKDFT     = 10
	minKDFM     = 19456
	maxKDFM     = 262144
	kdfSaltLen  = 16
	authKeyLen  = 32
	// maxWrappedKey bounds a wrapped practice key ("v1." and base64url
	// of IV, 32-byte key and tag: 83 characters).
	maxWrappedKey = 256
	// MaxSealed bounds an appointment's ciphertext.
	MaxSealed = 16 << 10
	maxName   = 100
	maxEmail  = 254
	// maxInvitees of a conference appointment besides its holder.
	maxInvitees = 11
	// Server-side argon2id of the auth key: the key has 256 bits of its
	// own, so the cost only has to make a stolen store useless for
	// checking guesses made through the browser's KDF (OWASP's minimum).
	serverT = 2
	serverM = 19456
)

// Kinds of appointment.
const (
	KindConsultation = "consultation"
	KindConference   = "conference"
)

// Rooms is what the practice needs of the API's rooms.
type Rooms interface {
	CreateRoom(ctx context.Context, tenantID string, req protocol.RoomRequest, base string) (protocol.Room, error)
	DeleteRoom(ctx context.Context, tenantID, id string) error
	// MoveRoom gives a room another window, keeping its participants
	// (and so their links and codes).
	MoveRoom(ctx context.Context, tenantID, id string, w protocol.Window) error
}

// Config wires a Service.
type Config struct {
	Store store.Store
	Rooms Rooms
	// Key keys the fake KDF parameters of unknown addresses (32 bytes).
	Key    []byte
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the workspace's logic. It has no state of its own beyond
// its configuration; everything lives in the store.
type Service struct {
	store store.Store
	rooms Rooms
	key   []byte
	now   func() time.Time
	log   *slog.Logger
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if len(cfg.Key) < 32 {
		return nil, fmt.Errorf("practice: key is %d bytes, need 32", len(cfg.Key))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: cfg.Store, rooms: cfg.Rooms, key: cfg.Key, now: cfg.Now, log: cfg.Logger}, nil
}

// invalidError is a broken rule: its message names the field and the
// rule, and errors.Is(err, ErrInvalid) holds.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// randomToken returns n random bytes as base64url.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenHash is the store key of a setup link or session token: both have
// 256 random bits, so a plain SHA-256 cannot be searched.
func tokenHash(kind, token string) []byte {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(token))
	return h.Sum(nil)
}

// hashAuth is the server's argon2id of the browser's auth key.
func hashAuth(auth, salt []byte) []byte {
	return argon2.IDKey(auth, salt, serverT, serverM, 1, 32)
}

// NormalizeEmail lower-cases and trims a login.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validEmail(s string) error {
	if len(s) == 0 || len(s) > maxEmail {
		return invalid("email must have 1 to %d characters", maxEmail)
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return invalid("email is not an e-mail address")
	}
	return nil
}

func validName(field, s string) error {
	if err := access.ValidateLabel(s, maxName); err != nil || strings.TrimSpace(s) == "" {
		return invalid("%s must have 1 to %d printable characters", field, maxName)
	}
	return nil
}

func validRole(role string) error {
	switch role {
	case RoleAdmin, RoleClinician, RoleAssistant:
		return nil
	}
	return invalid("role must be admin, clinician or assistant")
}

// validSealed checks an opaque ciphertext of the browser's: "v1." and
// base64url, at most max bytes.
func validSealed(field, s string, max int, required bool) error {
	if s == "" && !required {
		return nil
	}
	if len(s) > max {
		return invalid("%s exceeds %d bytes", field, max)
	}
	body, ok := strings.CutPrefix(s, "v1.")
	if !ok {
		return invalid("%s must start with v1.", field)
	}
	if _, err := base64.RawURLEncoding.DecodeString(body); err != nil || len(body) < 40 {
		return invalid("%s is not base64url ciphertext", field)
	}
	return nil
}

func decodeKey(field, s string, n int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, invalid("%s must be %d bytes, base64url without padding", field, n)
	}
	return b, nil
}

// KDF is the browser's argon2id parameters as the API shows them.
type KDF struct {
	Salt string `json:"salt"`
	T    int    `json:"t"`
	M    int    `json:"m"`
}

func (k KDF) params() (store.KDFParams, error) {
	salt, err := decodeKey("kdf.salt", k.Salt, kdfSaltLen)
	if err != nil {
		return store.KDFParams{}, err
	}
	if k.T < minKDFT || k.T > maxKDFT {
		return store.KDFParams{}, invalid("kdf.t must be %d to %d", minKDFT, maxKDFT)
	}
	if k.M < minKDFM || k.M > maxKDFM {
		return store.KDFParams{}, invalid("kdf.m must be %d to %d KiB", minKDFM, maxKDFM)
	}
	return store.KDFParams{Salt: salt, T: k.T, M: k.M}, nil
}

func kdfView(p store.KDFParams) KDF {
	return KDF{Salt: base64.RawURLEncoding.EncodeToString(p.Salt), T: p.T, M: p.M}
}

// LoginParams returns the KDF parameters for a login. For an unknown
// address they are made up from the address and the service key, the
// same every time, so the answer does not tell who has an account.
func (s *Service) LoginParams(ctx context.Context, email string) (KDF, error) {
	email = NormalizeEmail(email)
	if err := validEmail(email); err != nil {
		return KDF{}, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	if err == nil {
		return kdfView(u.KDF), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return KDF{}, err
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("kdf salt\x00" + email))
	return kdfView(store.KDFParams{Salt: m.Sum(nil)[:kdfSaltLen], T: DefaultKDFT, M: DefaultKDFM}), nil
}

// authMatches compares an auth key with a user's stored hash.
func authMatches(u store.User, auth []byte) bool {
	return subtle.ConstantTimeCompare(hashAuth(auth, u.AuthSalt), u.AuthHash) == 1
}

// newAuthHash makes a fresh server salt and the hash of auth.
func newAuthHash(auth []byte) (hash, salt []byte, err error) {
	salt = make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("random: %w", err)
	}
	return hashAuth(auth, salt), salt, nil
}
