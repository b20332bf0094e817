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

// Devices and practice settings (store/devices.go), as
// store/bolt_devices.go keeps them.

type deviceRecord struct {
	ID           string    `json:"id"`
	TenantID     string    `json:"tenant_id"`
	UserID       string    `json:"user_id"`
	Hash         []byte    `json:"hash"`
	Label        string    `json:"label"`
	Code         string    `json:"code,omitempty"`
	CodeFailures int       `json:"code_failures,omitempty"`
	Approved     bool      `json:"approved"`
	ApprovedBy   string    `json:"approved_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ApprovedAt   time.Time `json:"approved_at,omitzero"`
	LastLogin    time.Time `json:"last_login,omitzero"`
}

type settingsRecord struct {
	DeviceApprovalOff bool `json:"device_approval_off,omitempty"`
}

// CreateDevice stores a new device; ErrExists when the id or the user's
// hash is taken, ErrNotFound when the tenant does not exist.
func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	err := s.update(ctx, func(tx *txn) error {
		if d.ID == "" || d.UserID == "" || len(d.Hash) == 0 {
			return errors.New("device without id, user or hash")
		}
		if found, err := tx.exists(s.k.tenant(d.TenantID)); err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		if found, err := tx.exists(s.k.device(d.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		if _, found, err := tx.hget(s.k.userDeviceHashes(d.UserID), string(d.Hash)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.hset(s.k.userDeviceHashes(d.UserID), string(d.Hash), d.ID)
		tx.sadd(s.k.tenantDevices(d.TenantID), d.ID)
		tx.sadd(s.k.devices(), d.ID)
		return tx.setJSON(s.k.device(d.ID), deviceRecord(d))
	})
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	return nil
}

// GetDevice returns a device; ErrNotFound when absent.
func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	var rec deviceRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[deviceRecord](tx, s.k.device(id))
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("device %s: %w", id, err)
	}
	return store.Device(rec), nil
}

// DeviceByHash finds a user's device by its cookie's hash.
func (s *Store) DeviceByHash(ctx context.Context, userID string, hash []byte) (store.Device, error) {
	var rec deviceRecord
	err := s.view(ctx, func(tx *txn) error {
		id, found, err := tx.hget(s.k.userDeviceHashes(userID), string(hash))
		if err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		rec, err = getRecord[deviceRecord](tx, s.k.device(id))
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("device by hash: %w", err)
	}
	return store.Device(rec), nil
}

// UpdateDevice replaces a device's record; ErrNotFound when absent.
func (s *Store) UpdateDevice(ctx context.Context, d store.Device) error {
	err := s.update(ctx, func(tx *txn) error {
		old, err := getRecord[deviceRecord](tx, s.k.device(d.ID))
		if err != nil {
			return err
		}
		if old.UserID != d.UserID || old.TenantID != d.TenantID || string(old.Hash) != string(d.Hash) {
			return errors.New("a device's user, tenant and hash cannot change")
		}
		return tx.setJSON(s.k.device(d.ID), deviceRecord(d))
	})
	if err != nil {
		return fmt.Errorf("update device %s: %w", d.ID, err)
	}
	return nil
}

// ListDevices lists a tenant's devices, oldest first.
func (s *Store) ListDevices(ctx context.Context, tenantID string) ([]store.Device, error) {
	var out []store.Device
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[deviceRecord](tx, s.k.tenantDevices(tenantID), s.k.device)
		for _, r := range recs {
			out = append(out, store.Device(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b store.Device) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeleteDevice removes a device and the login sessions made on it.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *txn) error { return s.deleteDeviceTx(tx, id) })
	if err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteDeviceTx(tx *txn, id string) error {
	d, err := getRecord[deviceRecord](tx, s.k.device(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// The sessions made on it: the user's sessions with this device id.
	hashes, err := tx.members(s.k.userSessions(d.UserID))
	if err != nil {
		return err
	}
	for _, h := range hashes {
		var ls loginSessionRecord
		found, err := tx.getJSON(s.k.session([]byte(h)), &ls)
		if err != nil {
			return err
		}
		switch {
		case !found: // a stale index entry
			tx.srem(s.k.userSessions(d.UserID), h)
		case ls.DeviceID == d.ID:
			tx.del(s.k.session([]byte(h)))
			tx.srem(s.k.userSessions(d.UserID), h)
			tx.zrem(s.k.sessionsByExpiry(), h)
		}
	}
	tx.del(s.k.device(id))
	tx.hdel(s.k.userDeviceHashes(d.UserID), string(d.Hash))
	tx.srem(s.k.tenantDevices(d.TenantID), id)
	tx.srem(s.k.devices(), id)
	return nil
}

// deleteUserDevicesTx deletes every device of a user: a removed user's
// browsers are nobody's, and the admin's device list should not show
// them.
func (s *Store) deleteUserDevicesTx(tx *txn, userID string) error {
	ids, err := tx.hvals(s.k.userDeviceHashes(userID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deleteDeviceTx(tx, id); err != nil {
			return err
		}
	}
	tx.del(s.k.userDeviceHashes(userID))
	return nil
}

// DeleteStaleDevices removes pending devices made before pendingBefore
// and devices unused since unusedBefore, each in a transaction of its
// own. It reads every device, as the bbolt store does: it runs rarely.
func (s *Store) DeleteStaleDevices(ctx context.Context, pendingBefore, unusedBefore time.Time) (int, error) {
	var ids []string
	err := s.view(ctx, func(tx *txn) (err error) {
		ids, err = tx.members(s.k.devices())
		return err
	})
	var n int
	if err == nil {
		n, err = s.deleteEach(ctx, ids, func(tx *txn, id string) (bool, error) {
			d, err := getRecord[deviceRecord](tx, s.k.device(id))
			if errors.Is(err, store.ErrNotFound) {
				tx.srem(s.k.devices(), id) // a stale index entry
				return false, nil
			}
			if err != nil || !d.stale(pendingBefore, unusedBefore) {
				return false, err
			}
			return true, s.deleteDeviceTx(tx, id)
		})
	}
	if err != nil {
		return 0, fmt.Errorf("delete stale devices: %w", err)
	}
	return n, nil
}

// stale tells whether a device is pending since before pendingBefore,
// or approved and unused since before unusedBefore.
func (d deviceRecord) stale(pendingBefore, unusedBefore time.Time) bool {
	if !d.Approved {
		return d.CreatedAt.Before(pendingBefore)
	}
	last := d.LastLogin
	if last.IsZero() {
		last = d.CreatedAt
	}
	return last.Before(unusedBefore)
}

// Settings returns a practice's settings; the zero value when unset.
func (s *Store) Settings(ctx context.Context, tenantID string) (store.PracticeSettings, error) {
	var rec settingsRecord
	err := s.view(ctx, func(tx *txn) error {
		_, err := tx.getJSON(s.k.settings(tenantID), &rec)
		return err
	})
	if err != nil {
		return store.PracticeSettings{}, fmt.Errorf("settings of %s: %w", tenantID, err)
	}
	return store.PracticeSettings(rec), nil
}

// SetSettings stores a practice's settings; ErrNotFound when the tenant
// does not exist.
func (s *Store) SetSettings(ctx context.Context, tenantID string, ps store.PracticeSettings) error {
	err := s.update(ctx, func(tx *txn) error {
		if found, err := tx.exists(s.k.tenant(tenantID)); err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		return tx.setJSON(s.k.settings(tenantID), settingsRecord(ps))
	})
	if err != nil {
		return fmt.Errorf("set settings of %s: %w", tenantID, err)
	}
	return nil
}
