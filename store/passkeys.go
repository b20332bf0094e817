package store

import (
	"context"
	"time"
)

// Passkey is a WebAuthn credential a practice user logs in with. The
// store keeps the library's credential record as opaque JSON: only the
// practice package reads it.
type Passkey struct {
	// ID is the credential id, base64url without padding.
	ID       string
	TenantID string
	UserID   string
	// Credential is the WebAuthn library's credential (public key, sign
	// counter, flags) as JSON.
	Credential []byte
	// WrappedKey is the practice key sealed under a key derived from the
	// authenticator's PRF output, or "" when the authenticator has none
	// (its logins then ask for the password to open the key).
	WrappedKey string
	Label      string
	CreatedAt  time.Time
	LastUsed   time.Time
}

// PasskeyCeremony is one begun registration or login: the library's
// session data, kept in the store rather than in memory so that the
// finish may reach another node. Hash is the hash of the random id the
// browser holds.
type PasskeyCeremony struct {
	Hash []byte
	// Kind is "register" or "login".
	Kind string
	// UserID is the registering user; "" for a login, which learns the
	// user from the credential (discoverable credentials).
	UserID      string
	SessionData []byte
	ExpiresAt   time.Time
}

// PasskeyStore keeps passkeys and their ceremonies.
type PasskeyStore interface {
	// CreatePasskey stores a new passkey; ErrExists when its id is taken,
	// ErrNotFound when its user does not exist.
	CreatePasskey(ctx context.Context, p Passkey) error
	// GetPasskey returns a passkey by its credential id.
	GetPasskey(ctx context.Context, id string) (Passkey, error)
	// UpdatePasskey replaces a passkey's record; its user and tenant may
	// not change.
	UpdatePasskey(ctx context.Context, p Passkey) error
	// ListPasskeys lists a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// DeletePasskey removes a passkey; absent is no error.
	DeletePasskey(ctx context.Context, id string) error

	// CreatePasskeyCeremony stores a begun ceremony; ErrExists when its
	// hash is taken.
	CreatePasskeyCeremony(ctx context.Context, c PasskeyCeremony) error
	// TakePasskeyCeremony returns a ceremony and removes it: each is
	// finished at most once. ErrNotFound when absent.
	TakePasskeyCeremony(ctx context.Context, hash []byte) (PasskeyCeremony, error)
	// DeleteExpiredPasskeyCeremonies removes ceremonies that expired
	// before t and returns how many went.
	DeleteExpiredPasskeyCeremonies(ctx context.Context, t time.Time) (int, error)
}
