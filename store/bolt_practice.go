package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the clinician workspace (store/practice.go).
const (
	bucketUsers          = "users"                  // user id -> userRecord
	bucketUserEmails     = "users_by_email"         // e-mail -> user id
	bucketTenantUsers    = "users_by_tenant"        // tenantID/userID -> empty
	bucketInvites        = "invites"                // invite hash -> inviteRecord
	bucketLoginSessions  = "login_sessions"         // session hash -> loginSessionRecord
	bucketUserSessions   = "login_sessions_by_user" // userID/hex(hash) -> empty
	bucketAppointments   = "appointments"           // appointment id -> appointmentRecord
	bucketTenantAppoints = "appointments_by_tenant" // tenantID/appointmentID -> empty
	bucketRoomAppoints   = "appointments_by_room"   // room id -> appointment id
)

func practiceBuckets() []string {
	return []string{bucketUsers, bucketUserEmails, bucketTenantUsers, bucketInvites,
		bucketLoginSessions, bucketUserSessions, bucketAppointments, bucketTenantAppoints, bucketRoomAppoints}
}

// Records: the stored shapes, field for field the exported types with
// JSON names of their own.

type userRecord struct {
	ID          string          `json:"id"`
	TenantID    string          `json:"tenant_id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	Role        string          `json:"role"`
	AuthHash    []byte          `json:"auth_hash"`
	AuthSalt    []byte          `json:"auth_salt"`
	KDF         kdfParamsRecord `json:"kdf"`
	WrappedKey  string          `json:"wrapped_key"`
	Failures    int             `json:"failures,omitempty"`
	LockedUntil time.Time       `json:"locked_until,omitzero"`
	CreatedAt   time.Time       `json:"created_at"`
}

type kdfParamsRecord struct {
	Salt []byte `json:"salt"`
	T    int    `json:"t"`
	M    int    `json:"m"`
}

type inviteRecord struct {
	Hash       []byte    `json:"hash"`
	TenantID   string    `json:"tenant_id"`
	Role       string    `json:"role"`
	First      bool      `json:"first,omitempty"`
	WrappedKey string    `json:"wrapped_key,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type loginSessionRecord struct {
	Hash      []byte    `json:"hash"`
	UserID    string    `json:"user_id"`
	TenantID  string    `json:"tenant_id"`
	DeviceID  string    `json:"device_id,omitempty"`
	CSRF      string    `json:"csrf"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type appointmentRecord struct {
	ID                string    `json:"id"`
	TenantID          string    `json:"tenant_id"`
	RoomID            string    `json:"room_id"`
	HostParticipantID string    `json:"host_participant_id"`
	HolderID          string    `json:"holder_id"`
	Kind              string    `json:"kind"`
	Capacity          int       `json:"capacity"`
	StartsAt          time.Time `json:"starts_at"`
	EndsAt            time.Time `json:"ends_at"`
	TimeZone          string    `json:"time_zone"`
	Status            string    `json:"status"`
	Sealed            string    `json:"sealed"`
	CreatedBy         string    `json:"created_by"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func userToRecord(u User) userRecord {
	r := userRecord{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role,
		AuthHash: u.AuthHash, AuthSalt: u.AuthSalt, KDF: kdfParamsRecord(u.KDF), WrappedKey: u.WrappedKey,
		Failures: u.Failures, LockedUntil: u.LockedUntil.UTC(), CreatedAt: u.CreatedAt.UTC()}
	if u.LockedUntil.IsZero() {
		r.LockedUntil = time.Time{}
	}
	return r
}

func (r userRecord) user() User {
	return User{ID: r.ID, TenantID: r.TenantID, Email: r.Email, Name: r.Name, Role: r.Role,
		AuthHash: r.AuthHash, AuthSalt: r.AuthSalt, KDF: KDFParams(r.KDF), WrappedKey: r.WrappedKey,
		Failures: r.Failures, LockedUntil: r.LockedUntil, CreatedAt: r.CreatedAt}
}

// Users.

// CreateUser stores a new user; ErrExists when the id or e-mail address
// is taken, ErrNotFound when the tenant does not exist.
func (b *Bolt) CreateUser(ctx context.Context, u User) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return createUserTx(tx, u) })
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return nil
}

func createUserTx(tx *bolt.Tx, u User) error {
	if err := validateID("user", u.ID); err != nil {
		return err
	}
	if u.Email == "" {
		return fmt.Errorf("user without e-mail address")
	}
	if bucket(tx, bucketTenants).Get([]byte(u.TenantID)) == nil {
		return fmt.Errorf("tenant %s: %w", u.TenantID, ErrNotFound)
	}
	users := bucket(tx, bucketUsers)
	emails := bucket(tx, bucketUserEmails)
	if users.Get([]byte(u.ID)) != nil || emails.Get([]byte(u.Email)) != nil {
		return ErrExists
	}
	if err := putJSON(users, []byte(u.ID), userToRecord(u)); err != nil {
		return err
	}
	if err := emails.Put([]byte(u.Email), []byte(u.ID)); err != nil {
		return err
	}
	return bucket(tx, bucketTenantUsers).Put(tenantKey(u.TenantID, u.ID), nil)
}

// GetUser returns the user; ErrNotFound when absent.
func (b *Bolt) GetUser(ctx context.Context, id string) (User, error) {
	var rec userRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketUsers), []byte(id), &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return rec.user(), nil
}

// UserByEmail finds a user by login name; ErrNotFound when none. The
// address is not in the error: it is personal data.
func (b *Bolt) UserByEmail(ctx context.Context, email string) (User, error) {
	var rec userRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		id := bucket(tx, bucketUserEmails).Get([]byte(email))
		if id == nil {
			return ErrNotFound
		}
		found, err := getJSON(bucket(tx, bucketUsers), id, &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("user by e-mail: %w", err)
	}
	return rec.user(), nil
}

// UpdateUser replaces the user's record; ErrNotFound when absent. The
// e-mail address and tenant stay as they were.
func (b *Bolt) UpdateUser(ctx context.Context, u User) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		users := bucket(tx, bucketUsers)
		var old userRecord
		found, err := getJSON(users, []byte(u.ID), &old)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		rec := userToRecord(u)
		rec.Email, rec.TenantID = old.Email, old.TenantID
		return putJSON(users, []byte(u.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return nil
}

// ListUsers lists the tenant's users sorted by name, then id.
func (b *Bolt) ListUsers(ctx context.Context, tenantID string) ([]User, error) {
	var out []User
	err := b.view(ctx, func(tx *bolt.Tx) error {
		users := bucket(tx, bucketUsers)
		prefix := tenantPrefix(tenantID)
		for _, k := range keysWithPrefix(bucket(tx, bucketTenantUsers), prefix) {
			var rec userRecord
			found, err := getJSON(users, k[len(prefix):], &rec)
			if err != nil {
				return err
			}
			if found {
				out = append(out, rec.user())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list users of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// HasUsers tells whether the tenant has a user.
func (b *Bolt) HasUsers(ctx context.Context, tenantID string) (bool, error) {
	var has bool
	err := b.view(ctx, func(tx *bolt.Tx) error {
		prefix := tenantPrefix(tenantID)
		k, _ := bucket(tx, bucketTenantUsers).Cursor().Seek(prefix)
		has = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("users of tenant %s: %w", tenantID, err)
	}
	return has, nil
}

// Invites.

// CreateInvite stores a setup link's hash; ErrExists when taken.
func (b *Bolt) CreateInvite(ctx context.Context, inv Invite) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if len(inv.Hash) == 0 {
			return fmt.Errorf("invite without hash")
		}
		if bucket(tx, bucketTenants).Get([]byte(inv.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", inv.TenantID, ErrNotFound)
		}
		bk := bucket(tx, bucketInvites)
		if bk.Get(inv.Hash) != nil {
			return ErrExists
		}
		return putJSON(bk, inv.Hash, inviteRecord(inv))
	})
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// GetInvite returns the invite of a hash; ErrNotFound when absent.
func (b *Bolt) GetInvite(ctx context.Context, hash []byte) (Invite, error) {
	var rec inviteRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketInvites), hash, &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Invite{}, fmt.Errorf("get invite: %w", err)
	}
	return Invite(rec), nil
}

// UseInvite deletes the invite and creates u in one transaction.
func (b *Bolt) UseInvite(ctx context.Context, hash []byte, u User) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketInvites)
		var inv inviteRecord
		found, err := getJSON(bk, hash, &inv)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		// A first-user link is spent once the practice has a user: two
		// of them used would make two practice keys.
		if inv.First {
			if k, _ := bucket(tx, bucketTenantUsers).Cursor().Seek(tenantPrefix(inv.TenantID)); k != nil && bytes.HasPrefix(k, tenantPrefix(inv.TenantID)) {
				return ErrNotFound
			}
		}
		if err := bk.Delete(hash); err != nil {
			return err
		}
		return createUserTx(tx, u)
	})
	if err != nil {
		return fmt.Errorf("use invite: %w", err)
	}
	return nil
}

// Login sessions.

func userSessionKey(userID string, hash []byte) []byte {
	return tenantKey(userID, hex.EncodeToString(hash))
}

// CreateLoginSession stores a session's hash; ErrExists when taken.
func (b *Bolt) CreateLoginSession(ctx context.Context, s LoginSession) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if len(s.Hash) == 0 || s.UserID == "" {
			return fmt.Errorf("session without hash or user")
		}
		bk := bucket(tx, bucketLoginSessions)
		if bk.Get(s.Hash) != nil {
			return ErrExists
		}
		if err := putJSON(bk, s.Hash, loginSessionRecord(s)); err != nil {
			return err
		}
		return bucket(tx, bucketUserSessions).Put(userSessionKey(s.UserID, s.Hash), nil)
	})
	if err != nil {
		return fmt.Errorf("create login session: %w", err)
	}
	return nil
}

// LoginSessionByHash returns a session; ErrNotFound when absent.
func (b *Bolt) LoginSessionByHash(ctx context.Context, hash []byte) (LoginSession, error) {
	var rec loginSessionRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketLoginSessions), hash, &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return LoginSession{}, fmt.Errorf("login session: %w", err)
	}
	return LoginSession(rec), nil
}

// DeleteLoginSession ends one session; absent is no error.
func (b *Bolt) DeleteLoginSession(ctx context.Context, hash []byte) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return deleteLoginSessionTx(tx, hash) })
	if err != nil {
		return fmt.Errorf("delete login session: %w", err)
	}
	return nil
}

func deleteLoginSessionTx(tx *bolt.Tx, hash []byte) error {
	bk := bucket(tx, bucketLoginSessions)
	var rec loginSessionRecord
	found, err := getJSON(bk, hash, &rec)
	if err != nil || !found {
		return err
	}
	if err := bk.Delete(hash); err != nil {
		return err
	}
	return bucket(tx, bucketUserSessions).Delete(userSessionKey(rec.UserID, hash))
}

// DeleteUserSessions ends every session of the user.
func (b *Bolt) DeleteUserSessions(ctx context.Context, userID string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return deleteUserSessionsTx(tx, userID) })
	if err != nil {
		return fmt.Errorf("delete sessions of user %s: %w", userID, err)
	}
	return nil
}

func deleteUserSessionsTx(tx *bolt.Tx, userID string) error {
	byUser := bucket(tx, bucketUserSessions)
	prefix := tenantPrefix(userID)
	keys := keysWithPrefix(byUser, prefix)
	for _, k := range keys {
		hash, err := hex.DecodeString(string(k[len(prefix):]))
		if err != nil {
			return fmt.Errorf("session index key: %w", err)
		}
		if err := bucket(tx, bucketLoginSessions).Delete(hash); err != nil {
			return err
		}
	}
	return deleteKeys(byUser, keys)
}

// Appointments.

// CreateAppointment stores a new appointment; ErrExists when the id is
// taken, ErrNotFound when the tenant does not exist.
func (b *Bolt) CreateAppointment(ctx context.Context, a Appointment) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := validateID("appointment", a.ID); err != nil {
			return err
		}
		if bucket(tx, bucketTenants).Get([]byte(a.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", a.TenantID, ErrNotFound)
		}
		bk := bucket(tx, bucketAppointments)
		if bk.Get([]byte(a.ID)) != nil {
			return ErrExists
		}
		if err := putJSON(bk, []byte(a.ID), appointmentToRecord(a)); err != nil {
			return err
		}
		if a.RoomID != "" {
			if err := bucket(tx, bucketRoomAppoints).Put([]byte(a.RoomID), []byte(a.ID)); err != nil {
				return err
			}
		}
		return bucket(tx, bucketTenantAppoints).Put(tenantKey(a.TenantID, a.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("create appointment %s: %w", a.ID, err)
	}
	return nil
}

func appointmentToRecord(a Appointment) appointmentRecord {
	r := appointmentRecord(a)
	r.StartsAt, r.EndsAt, r.CreatedAt, r.UpdatedAt = a.StartsAt.UTC(), a.EndsAt.UTC(), a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return r
}

// GetAppointment returns the appointment; ErrNotFound when absent.
func (b *Bolt) GetAppointment(ctx context.Context, id string) (Appointment, error) {
	var rec appointmentRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketAppointments), []byte(id), &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Appointment{}, fmt.Errorf("get appointment %s: %w", id, err)
	}
	return Appointment(rec), nil
}

// AppointmentByRoom finds the appointment of a room; ErrNotFound when
// the room has none.
func (b *Bolt) AppointmentByRoom(ctx context.Context, roomID string) (Appointment, error) {
	var rec appointmentRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		id := bucket(tx, bucketRoomAppoints).Get([]byte(roomID))
		if id == nil {
			return ErrNotFound
		}
		found, err := getJSON(bucket(tx, bucketAppointments), id, &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Appointment{}, fmt.Errorf("appointment of room %s: %w", roomID, err)
	}
	return Appointment(rec), nil
}

// UpdateAppointment replaces the record; ErrNotFound when absent. The
// tenant and room stay as they were.
func (b *Bolt) UpdateAppointment(ctx context.Context, a Appointment) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketAppointments)
		var old appointmentRecord
		found, err := getJSON(bk, []byte(a.ID), &old)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		rec := appointmentToRecord(a)
		rec.TenantID, rec.RoomID, rec.HostParticipantID = old.TenantID, old.RoomID, old.HostParticipantID
		return putJSON(bk, []byte(a.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update appointment %s: %w", a.ID, err)
	}
	return nil
}

// ListAppointments lists the tenant's appointments whose window overlaps
// [from, to), sorted by start, then id; a zero bound leaves that side open.
func (b *Bolt) ListAppointments(ctx context.Context, tenantID string, from, to time.Time) ([]Appointment, error) {
	var out []Appointment
	err := b.view(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketAppointments)
		prefix := tenantPrefix(tenantID)
		for _, k := range keysWithPrefix(bucket(tx, bucketTenantAppoints), prefix) {
			var rec appointmentRecord
			found, err := getJSON(bk, k[len(prefix):], &rec)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if (!to.IsZero() && !rec.StartsAt.Before(to)) || (!from.IsZero() && !rec.EndsAt.After(from)) {
				continue
			}
			out = append(out, Appointment(rec))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list appointments of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b Appointment) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteExpired removes appointments whose window ended before t, and
// invites and login sessions that expired before t.
func (b *Bolt) DeleteExpired(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := b.update(ctx, func(tx *bolt.Tx) error {
		_, ended, err := recordsWhere(bucket(tx, bucketAppointments), "appointment", func(a appointmentRecord) bool { return a.EndsAt.Before(t) })
		if err != nil {
			return err
		}
		for _, rec := range ended {
			if err := bucket(tx, bucketAppointments).Delete([]byte(rec.ID)); err != nil {
				return err
			}
			if err := bucket(tx, bucketTenantAppoints).Delete(tenantKey(rec.TenantID, rec.ID)); err != nil {
				return err
			}
			if err := bucket(tx, bucketRoomAppoints).Delete([]byte(rec.RoomID)); err != nil {
				return err
			}
		}
		n = len(ended)
		if err := deleteExpiredInvites(tx, t); err != nil {
			return err
		}
		return deleteExpiredSessions(tx, t)
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired practice records: %w", err)
	}
	return n, nil
}

func deleteExpiredInvites(tx *bolt.Tx, t time.Time) error {
	bk := bucket(tx, bucketInvites)
	gone, _, err := recordsWhere(bk, "invite", func(r inviteRecord) bool { return r.ExpiresAt.Before(t) })
	if err != nil {
		return err
	}
	return deleteKeys(bk, gone)
}

func deleteExpiredSessions(tx *bolt.Tx, t time.Time) error {
	gone, _, err := recordsWhere(bucket(tx, bucketLoginSessions), "login session", func(r loginSessionRecord) bool { return r.ExpiresAt.Before(t) })
	if err != nil {
		return err
	}
	for _, h := range gone {
		if err := deleteLoginSessionTx(tx, h); err != nil {
			return err
		}
	}
	return nil
}
