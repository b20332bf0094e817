package store

import (
	"context"
	"time"
)

// A practice is a tenant with users who log in to the clinician
// workspace. The store keeps of them only what the server must check or
// hand back: login hashes, the browser's KDF parameters, the practice key
// wrapped by the browser, and appointments whose patient data is
// ciphertext the server cannot open (package practice).

// User is a practice user. Email is the login name, lower case and
// unique across the server.
type User struct {
	ID       string
	TenantID string
	Email    string
	Name     string
	Role     string
	// AuthHash is argon2id(auth, AuthSalt) of the auth key the browser
	// derives from the password; the password never reaches the server.
	AuthHash []byte
	AuthSalt []byte
	// KDF are the browser's parameters for deriving from the password.
	KDF KDFParams
	// WrappedKey is the practice key as the browser wrapped it under a
	// key derived from the password (opaque here).
	WrappedKey string
	// Failures counts wrong logins in a row; LockedUntil is set after
	// too many.
	Failures    int
	LockedUntil time.Time
	CreatedAt   time.Time
}

// KDFParams are argon2id parameters for the browser: salt, passes (T)
// and memory in KiB (M).
type KDFParams struct {
	Salt []byte
	T    int
	M    int
}

// Invite is a one-time setup link's record: only its hash. First marks
// the link that creates a practice's first user.
type Invite struct {
	Hash       []byte
	TenantID   string
	Role       string
	First      bool
	WrappedKey string
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// LoginSession is a logged-in browser: only the hash of its cookie.
type LoginSession struct {
	Hash     []byte
	UserID   string
	TenantID string
	// DeviceID is the browser's Device the session was made on.
	DeviceID  string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Appointment statuses.
const (
	AppointmentScheduled = "scheduled"
	AppointmentDone      = "done"
	AppointmentCancelled = "cancelled"
)

// Appointment is one entry of a practice's calendar and the room it
// opens. Sealed is the browser's ciphertext of the patient's name,
// e-mail address, notes, the room secret and the invitees' links.
type Appointment struct {
	ID       string
	TenantID string
	RoomID   string
	// HostParticipantID is the room's participant the holder joins as.
	HostParticipantID string
	HolderID          string
	Kind              string
	Capacity          int
	StartsAt          time.Time
	EndsAt            time.Time
	TimeZone          string
	Status            string
	Sealed            string
	CreatedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// PracticeStore keeps practice users, setup links, login sessions and
// appointments.
type PracticeStore interface {
	// CreateUser stores a new user; ErrExists when the e-mail address or
	// id is taken, ErrNotFound when the tenant does not exist.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser replaces a user's record; its e-mail address may not
	// change.
	UpdateUser(ctx context.Context, u User) error
	// ListUsers lists a tenant's users by name.
	ListUsers(ctx context.Context, tenantID string) ([]User, error)
	// SetUserRole and DeleteUser change a user of tenantID (ErrNotFound
	// for another tenant's) in one transaction with check, which sees
	// the tenant's users as they would be afterwards and refuses by
	// returning an error. DeleteUser also ends the user's sessions,
	// deletes its devices and frees its e-mail address
	// (store/bolt_practice_admin.go).
	SetUserRole(ctx context.Context, tenantID, id, role string, check func(after []User) error) (User, error)
	DeleteUser(ctx context.Context, tenantID, id string, check func(after []User) error) (User, error)

	CreateInvite(ctx context.Context, inv Invite) error
	GetInvite(ctx context.Context, hash []byte) (Invite, error)
	// UseInvite deletes the invite and creates the user in one step, so
	// one link makes one user; ErrNotFound when the invite is gone, or
	// when it is a first-user link and the tenant has a user already.
	UseInvite(ctx context.Context, hash []byte, u User) error
	// HasUsers tells whether a tenant has any user yet.
	HasUsers(ctx context.Context, tenantID string) (bool, error)

	CreateLoginSession(ctx context.Context, s LoginSession) error
	LoginSessionByHash(ctx context.Context, hash []byte) (LoginSession, error)
	DeleteLoginSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions ends every session of a user.
	DeleteUserSessions(ctx context.Context, userID string) error

	CreateAppointment(ctx context.Context, a Appointment) error
	GetAppointment(ctx context.Context, id string) (Appointment, error)
	// AppointmentByRoom finds the appointment of a room; ErrNotFound
	// for rooms made through the REST API.
	AppointmentByRoom(ctx context.Context, roomID string) (Appointment, error)
	UpdateAppointment(ctx context.Context, a Appointment) error
	// ListAppointments lists a tenant's appointments whose window
	// overlaps [from, to), by start.
	ListAppointments(ctx context.Context, tenantID string, from, to time.Time) ([]Appointment, error)
	// DeleteExpired removes appointments whose window ended before t,
	// invites and sessions that expired before t; it returns how many
	// appointments went.
	DeleteExpired(ctx context.Context, t time.Time) (int, error)
}
