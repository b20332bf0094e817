// Package store keeps what lets the right people into the right room at the
// right time: tenants, hashed API keys, rooms with their participants' hashed
// link tokens and short codes, and monthly call counts. It knows nothing of
// HTTP or WebRTC and never sees a token or code in clear: callers hash them
// first (package access).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Tenant is one customer (a practice, a clinic, a software vendor's client).
type Tenant struct {
	ID   string
	Name string
	// MonthlyCallQuota limits calls per calendar month in UTC; 0 means none.
	MonthlyCallQuota int
	CreatedAt        time.Time
}

// APIKey is a stored key: only its hash. TenantID is empty for admin keys.
type APIKey struct {
	ID       string
	TenantID string
	Hash     []byte
	// Prefix is the first characters of the key, shown so operators can tell
	// keys apart; too short to help guessing.
	Prefix    string
	CreatedAt time.Time
}

// Admin tells whether the key may manage tenants.
func (k APIKey) Admin() bool { return k.TenantID == "" }

// Participant is one invited participant of a room.
type Participant struct {
	ID        string
	Role      string
	Label     string
	TokenHash []byte
	CodeHash  []byte
}

// Room is a room with its validity window.
type Room struct {
	ID           string
	TenantID     string
	Mode         string
	Capacity     int
	StartsAt     time.Time
	EndsAt       time.Time
	TimeZone     string
	CreatedAt    time.Time
	Participants []Participant
	// CallCounted is set once two participants were connected at the same
	// time; the room then counts once towards its tenant's monthly quota.
	CallCounted bool
	// WaitingRoom: guests wait until someone of the practice admits them.
	WaitingRoom bool
}

// Participant returns the participant with the given id.
func (r Room) Participant(id string) (Participant, bool) {
	for _, p := range r.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return Participant{}, false
}

// Credential is what a link token or short code hash resolves to.
type Credential struct {
	RoomID        string
	ParticipantID string
	// Hash is the stored hash, for the caller's constant-time comparison.
	Hash []byte
}

// Store is the persistence behind the API and signaling. Implementations are
// safe for concurrent use and pass one contract (package storetest): Bolt,
// the embedded default, and the Redis store of package store/redis.
type Store interface {
	CreateTenant(ctx context.Context, t Tenant) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	UpdateTenant(ctx context.Context, t Tenant) error
	// DeleteTenant removes the tenant with all its rooms, credentials, keys
	// and call counts, and its practice: users, sessions, devices, setup
	// links, appointments and settings.
	DeleteTenant(ctx context.Context, id string) error

	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds a key by its hash; ErrNotFound when revoked or unknown.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// RehashAPIKey replaces a key's hash (after a pepper rotation: the key
	// was found under a retired pepper). ErrNotFound when the key is gone
	// or its hash is no longer old; ErrExists when fresh is taken.
	RehashAPIKey(ctx context.Context, id string, old, fresh []byte) error
	// ListAPIKeys lists a tenant's keys, or the admin keys for tenantID "".
	ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error)
	DeleteAPIKey(ctx context.Context, tenantID, id string) error

	// CreateRoom stores the room and indexes every participant's token and
	// code hash; ErrExists when a hash or the id is already taken.
	CreateRoom(ctx context.Context, r Room) error
	GetRoom(ctx context.Context, id string) (Room, error)
	// ListRooms lists a tenant's rooms whose window overlaps [from, to).
	ListRooms(ctx context.Context, tenantID string, from, to time.Time) ([]Room, error)
	// SetRoomWindow moves a room's window; participants and credentials
	// stay. ErrNotFound when the room does not exist.
	SetRoomWindow(ctx context.Context, id string, startsAt, endsAt time.Time, timeZone string) error
	// DeleteRoom removes the room and its credentials.
	DeleteRoom(ctx context.Context, id string) error
	// LookupCredential resolves a token or code hash.
	LookupCredential(ctx context.Context, hash []byte) (Credential, error)
	// DeleteRoomsEndedBefore removes rooms whose window ended before t (the
	// retention limit) and returns how many it removed.
	DeleteRoomsEndedBefore(ctx context.Context, t time.Time) (int, error)

	// CountCall marks the room as a held call and adds one to its tenant's
	// count for month ("2006-01"), once per room. It reports whether this
	// call added to the count.
	CountCall(ctx context.Context, roomID, month string) (bool, error)
	// CallsInMonth returns a tenant's call count for month ("2006-01").
	CallsInMonth(ctx context.Context, tenantID, month string) (int, error)

	PracticeStore
	DeviceStore
	PasskeyStore

	Close() error
}

// Month is the key of a month's call count.
func Month(t time.Time) string { return t.UTC().Format("2006-01") }
