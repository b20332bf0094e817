package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/konsil/konsil/store"
)

// The clinician workspace (store/practice.go): users, setup links, login
// sessions and appointments, as store/bolt_practice.go keeps them.

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

func userToRecord(u store.User) userRecord {
	r := userRecord{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, Role: u.Role,
		AuthHash: u.AuthHash, AuthSalt: u.AuthSalt, KDF: kdfParamsRecord(u.KDF), WrappedKey: u.WrappedKey,
		Failures: u.Failures, LockedUntil: u.LockedUntil.UTC(), CreatedAt: u.CreatedAt.UTC()}
	if u.LockedUntil.IsZero() {
		r.LockedUntil = time.Time{}
	}
	return r
}

func (r userRecord) user() store.User {
	return store.User{ID: r.ID, TenantID: r.TenantID, Email: r.Email, Name: r.Name, Role: r.Role,
		AuthHash: r.AuthHash, AuthSalt: r.AuthSalt, KDF: store.KDFParams(r.KDF), WrappedKey: r.WrappedKey,
		Failures: r.Failures, LockedUntil: r.LockedUntil, CreatedAt: r.CreatedAt}
}

func appointmentToRecord(a store.Appointment) appointmentRecord {
	r := appointmentRecord(a)
	r.StartsAt, r.EndsAt, r.CreatedAt, r.UpdatedAt = a.StartsAt.UTC(), a.EndsAt.UTC(), a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return r
}

// Users.

// CreateUser stores a new user; ErrExists when the id or e-mail address
// is taken, ErrNotFound when the tenant does not exist.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	err := s.update(ctx, func(tx *txn) error { return s.createUserTx(tx, u) })
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	return nil
}

func (s *Store) createUserTx(tx *txn, u store.User) error {
	if err := validateID("user", u.ID); err != nil {
		return err
	}
	if u.Email == "" {
		return errors.New("user without e-mail address")
	}
	if found, err := tx.exists(s.k.tenant(u.TenantID)); err != nil || !found {
		return cmp.Or(err, fmt.Errorf("tenant %s: %w", u.TenantID, store.ErrNotFound))
	}
	for _, key := range []string{s.k.user(u.ID), s.k.userEmail(u.Email)} {
		if found, err := tx.exists(key); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
	}
	tx.set(s.k.userEmail(u.Email), u.ID)
	tx.sadd(s.k.tenantUsers(u.TenantID), u.ID)
	return tx.setJSON(s.k.user(u.ID), userToRecord(u))
}

// GetUser returns the user; ErrNotFound when absent.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	var rec userRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[userRecord](tx, s.k.user(id))
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return rec.user(), nil
}

// UserByEmail finds a user by login name; ErrNotFound when none. The
// address is not in the error: it is personal data.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	var rec userRecord
	err := s.view(ctx, func(tx *txn) error {
		id, found, err := tx.get(s.k.userEmail(email))
		if err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		rec, err = getRecord[userRecord](tx, s.k.user(string(id)))
		if err == nil && rec.Email != email {
			err = store.ErrNotFound // removed between the two reads
		}
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("user by e-mail: %w", err)
	}
	return rec.user(), nil
}

// UpdateUser replaces the user's record; ErrNotFound when absent. The
// e-mail address and tenant stay as they were.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	err := s.update(ctx, func(tx *txn) error {
		old, err := getRecord[userRecord](tx, s.k.user(u.ID))
		if err != nil {
			return err
		}
		rec := userToRecord(u)
		rec.Email, rec.TenantID = old.Email, old.TenantID
		return tx.setJSON(s.k.user(u.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return nil
}

// ListUsers lists the tenant's users sorted by name, then id.
func (s *Store) ListUsers(ctx context.Context, tenantID string) ([]store.User, error) {
	var out []store.User
	err := s.view(ctx, func(tx *txn) (err error) {
		out, err = s.tenantUsersTx(tx, tenantID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list users of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b store.User) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// tenantUsersTx reads every user of tenantID, in id order.
func (s *Store) tenantUsersTx(tx *txn, tenantID string) ([]store.User, error) {
	recs, err := indexedRecords[userRecord](tx, s.k.tenantUsers(tenantID), s.k.user)
	var out []store.User
	for _, r := range recs {
		out = append(out, r.user())
	}
	return out, err
}

// HasUsers tells whether the tenant has a user.
func (s *Store) HasUsers(ctx context.Context, tenantID string) (bool, error) {
	var has bool
	err := s.view(ctx, func(tx *txn) (err error) {
		has, err = tx.hasMembers(s.k.tenantUsers(tenantID))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("users of tenant %s: %w", tenantID, err)
	}
	return has, nil
}

// Invites.

// CreateInvite stores a setup link's hash; ErrExists when taken.
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	err := s.update(ctx, func(tx *txn) error {
		if len(inv.Hash) == 0 {
			return errors.New("invite without hash")
		}
		if found, err := tx.exists(s.k.tenant(inv.TenantID)); err != nil || !found {
			return cmp.Or(err, fmt.Errorf("tenant %s: %w", inv.TenantID, store.ErrNotFound))
		}
		if found, err := tx.exists(s.k.invite(inv.Hash)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.sadd(s.k.tenantInvites(inv.TenantID), string(inv.Hash))
		tx.zadd(s.k.invitesByExpiry(), string(inv.Hash), inv.ExpiresAt)
		return tx.setJSON(s.k.invite(inv.Hash), inviteRecord(inv))
	})
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// GetInvite returns the invite of a hash; ErrNotFound when absent.
func (s *Store) GetInvite(ctx context.Context, hash []byte) (store.Invite, error) {
	var rec inviteRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[inviteRecord](tx, s.k.invite(hash))
		return err
	})
	if err != nil {
		return store.Invite{}, fmt.Errorf("get invite: %w", err)
	}
	return store.Invite(rec), nil
}

// UseInvite deletes the invite and creates u in one transaction.
func (s *Store) UseInvite(ctx context.Context, hash []byte, u store.User) error {
	err := s.update(ctx, func(tx *txn) error {
		inv, err := getRecord[inviteRecord](tx, s.k.invite(hash))
		if err != nil {
			return err
		}
		// A first-user link is spent once the practice has a user: two
		// of them used would make two practice keys.
		if inv.First {
			if has, err := tx.hasMembers(s.k.tenantUsers(inv.TenantID)); err != nil || has {
				return cmp.Or(err, store.ErrNotFound)
			}
		}
		s.deleteInvite(tx, inv)
		return s.createUserTx(tx, u)
	})
	if err != nil {
		return fmt.Errorf("use invite: %w", err)
	}
	return nil
}

func (s *Store) deleteInvite(tx *txn, inv inviteRecord) {
	tx.del(s.k.invite(inv.Hash))
	tx.srem(s.k.tenantInvites(inv.TenantID), string(inv.Hash))
	tx.zrem(s.k.invitesByExpiry(), string(inv.Hash))
}

// Login sessions.

// CreateLoginSession stores a session's hash; ErrExists when taken.
func (s *Store) CreateLoginSession(ctx context.Context, ls store.LoginSession) error {
	err := s.update(ctx, func(tx *txn) error {
		if len(ls.Hash) == 0 || ls.UserID == "" {
			return errors.New("session without hash or user")
		}
		if found, err := tx.exists(s.k.session(ls.Hash)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.sadd(s.k.userSessions(ls.UserID), string(ls.Hash))
		tx.zadd(s.k.sessionsByExpiry(), string(ls.Hash), ls.ExpiresAt)
		return tx.setJSON(s.k.session(ls.Hash), loginSessionRecord(ls))
	})
	if err != nil {
		return fmt.Errorf("create login session: %w", err)
	}
	return nil
}

// LoginSessionByHash returns a session; ErrNotFound when absent.
func (s *Store) LoginSessionByHash(ctx context.Context, hash []byte) (store.LoginSession, error) {
	var rec loginSessionRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[loginSessionRecord](tx, s.k.session(hash))
		return err
	})
	if err != nil {
		return store.LoginSession{}, fmt.Errorf("login session: %w", err)
	}
	return store.LoginSession(rec), nil
}

// DeleteLoginSession ends one session; absent is no error.
func (s *Store) DeleteLoginSession(ctx context.Context, hash []byte) error {
	err := s.update(ctx, func(tx *txn) error { return s.deleteLoginSessionTx(tx, hash) })
	if err != nil {
		return fmt.Errorf("delete login session: %w", err)
	}
	return nil
}

func (s *Store) deleteLoginSessionTx(tx *txn, hash []byte) error {
	rec, err := getRecord[loginSessionRecord](tx, s.k.session(hash))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tx.del(s.k.session(hash))
	tx.srem(s.k.userSessions(rec.UserID), string(hash))
	tx.zrem(s.k.sessionsByExpiry(), string(hash))
	return nil
}

// DeleteUserSessions ends every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	err := s.update(ctx, func(tx *txn) error { return s.deleteUserSessionsTx(tx, userID) })
	if err != nil {
		return fmt.Errorf("delete sessions of user %s: %w", userID, err)
	}
	return nil
}

func (s *Store) deleteUserSessionsTx(tx *txn, userID string) error {
	hashes, err := tx.members(s.k.userSessions(userID))
	if err != nil {
		return err
	}
	for _, h := range hashes {
		tx.del(s.k.session([]byte(h)))
		tx.zrem(s.k.sessionsByExpiry(), h)
	}
	tx.del(s.k.userSessions(userID))
	return nil
}

// Appointments.

// CreateAppointment stores a new appointment; ErrExists when the id is
// taken, ErrNotFound when the tenant does not exist.
func (s *Store) CreateAppointment(ctx context.Context, a store.Appointment) error {
	err := s.update(ctx, func(tx *txn) error {
		if err := validateID("appointment", a.ID); err != nil {
			return err
		}
		if found, err := tx.exists(s.k.tenant(a.TenantID)); err != nil || !found {
			return cmp.Or(err, fmt.Errorf("tenant %s: %w", a.TenantID, store.ErrNotFound))
		}
		if found, err := tx.exists(s.k.appointment(a.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		rec := appointmentToRecord(a)
		if a.RoomID != "" {
			tx.set(s.k.roomAppointment(a.RoomID), a.ID)
		}
		tx.sadd(s.k.tenantAppointments(a.TenantID), a.ID)
		tx.zadd(s.k.appointmentsByEnd(), a.ID, rec.EndsAt)
		return tx.setJSON(s.k.appointment(a.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("create appointment %s: %w", a.ID, err)
	}
	return nil
}

// GetAppointment returns the appointment; ErrNotFound when absent.
func (s *Store) GetAppointment(ctx context.Context, id string) (store.Appointment, error) {
	var rec appointmentRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[appointmentRecord](tx, s.k.appointment(id))
		return err
	})
	if err != nil {
		return store.Appointment{}, fmt.Errorf("get appointment %s: %w", id, err)
	}
	return store.Appointment(rec), nil
}

// AppointmentByRoom finds the appointment of a room; ErrNotFound when
// the room has none.
func (s *Store) AppointmentByRoom(ctx context.Context, roomID string) (store.Appointment, error) {
	var rec appointmentRecord
	err := s.view(ctx, func(tx *txn) error {
		id, found, err := tx.get(s.k.roomAppointment(roomID))
		if err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		rec, err = getRecord[appointmentRecord](tx, s.k.appointment(string(id)))
		return err
	})
	if err != nil {
		return store.Appointment{}, fmt.Errorf("appointment of room %s: %w", roomID, err)
	}
	return store.Appointment(rec), nil
}

// UpdateAppointment replaces the record; ErrNotFound when absent. The
// tenant and room stay as they were.
func (s *Store) UpdateAppointment(ctx context.Context, a store.Appointment) error {
	err := s.update(ctx, func(tx *txn) error {
		old, err := getRecord[appointmentRecord](tx, s.k.appointment(a.ID))
		if err != nil {
			return err
		}
		rec := appointmentToRecord(a)
		rec.TenantID, rec.RoomID, rec.HostParticipantID = old.TenantID, old.RoomID, old.HostParticipantID
		tx.zadd(s.k.appointmentsByEnd(), a.ID, rec.EndsAt)
		return tx.setJSON(s.k.appointment(a.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update appointment %s: %w", a.ID, err)
	}
	return nil
}

// ListAppointments lists the tenant's appointments whose window
// overlaps [from, to), sorted by start, then id; a zero bound leaves
// that side open.
func (s *Store) ListAppointments(ctx context.Context, tenantID string, from, to time.Time) ([]store.Appointment, error) {
	var out []store.Appointment
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[appointmentRecord](tx, s.k.tenantAppointments(tenantID), s.k.appointment)
		for _, rec := range recs {
			if (!to.IsZero() && !rec.StartsAt.Before(to)) || (!from.IsZero() && !rec.EndsAt.After(from)) {
				continue
			}
			out = append(out, store.Appointment(rec))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list appointments of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b store.Appointment) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteExpired removes appointments whose window ended before t, and
// invites and login sessions that expired before t, each in a
// transaction of its own; it returns how many appointments went.
func (s *Store) DeleteExpired(ctx context.Context, t time.Time) (int, error) {
	n, err := s.deleteDue(ctx, s.k.appointmentsByEnd(), t, func(tx *txn, id string) (bool, error) {
		rec, err := getRecord[appointmentRecord](tx, s.k.appointment(id))
		if errors.Is(err, store.ErrNotFound) {
			tx.zrem(s.k.appointmentsByEnd(), id)
			return false, nil
		}
		if err != nil || !rec.EndsAt.Before(t) {
			return false, err
		}
		s.deleteAppointment(tx, rec)
		return true, nil
	})
	if err == nil {
		_, err = s.deleteDue(ctx, s.k.invitesByExpiry(), t, func(tx *txn, h string) (bool, error) {
			inv, err := getRecord[inviteRecord](tx, s.k.invite([]byte(h)))
			if errors.Is(err, store.ErrNotFound) {
				tx.zrem(s.k.invitesByExpiry(), h)
				return false, nil
			}
			if err != nil || !inv.ExpiresAt.Before(t) {
				return false, err
			}
			s.deleteInvite(tx, inv)
			return true, nil
		})
	}
	if err == nil {
		_, err = s.deleteDue(ctx, s.k.sessionsByExpiry(), t, func(tx *txn, h string) (bool, error) {
			ls, err := getRecord[loginSessionRecord](tx, s.k.session([]byte(h)))
			if errors.Is(err, store.ErrNotFound) {
				tx.zrem(s.k.sessionsByExpiry(), h)
				return false, nil
			}
			if err != nil || !ls.ExpiresAt.Before(t) {
				return false, err
			}
			return true, s.deleteLoginSessionTx(tx, []byte(h))
		})
	}
	if err != nil {
		return 0, fmt.Errorf("delete expired practice records: %w", err)
	}
	return n, nil
}

func (s *Store) deleteAppointment(tx *txn, rec appointmentRecord) {
	if rec.RoomID != "" {
		tx.del(s.k.roomAppointment(rec.RoomID))
	}
	tx.srem(s.k.tenantAppointments(rec.TenantID), rec.ID)
	tx.zrem(s.k.appointmentsByEnd(), rec.ID)
	tx.del(s.k.appointment(rec.ID))
}
