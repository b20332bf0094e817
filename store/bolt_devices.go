package store

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	bucketDevices       = "devices"           // device id -> deviceRecord
	bucketDeviceHashes  = "devices_by_hash"   // userID/hex(hash) -> device id
	bucketTenantDevices = "devices_by_tenant" // tenantID/deviceID -> empty
	bucketSettings      = "practice_settings" // tenant id -> settingsRecord
)

func deviceBuckets() []string {
	return []string{bucketDevices, bucketDeviceHashes, bucketTenantDevices, bucketSettings}
}

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

func deviceHashKey(userID string, hash []byte) []byte {
	return tenantKey(userID, hex.EncodeToString(hash))
}

// CreateDevice stores a new device; ErrExists when the id or the user's
// hash is taken, ErrNotFound when the tenant does not exist.
func (b *Bolt) CreateDevice(ctx context.Context, d Device) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if d.ID == "" || d.UserID == "" || len(d.Hash) == 0 {
			return fmt.Errorf("device without id, user or hash")
		}
		if bucket(tx, bucketTenants).Get([]byte(d.TenantID)) == nil {
			return ErrNotFound
		}
		devices, hashes := bucket(tx, bucketDevices), bucket(tx, bucketDeviceHashes)
		hk := deviceHashKey(d.UserID, d.Hash)
		if devices.Get([]byte(d.ID)) != nil || hashes.Get(hk) != nil {
			return ErrExists
		}
		if err := putJSON(devices, []byte(d.ID), deviceRecord(d)); err != nil {
			return err
		}
		if err := hashes.Put(hk, []byte(d.ID)); err != nil {
			return err
		}
		return bucket(tx, bucketTenantDevices).Put(tenantKey(d.TenantID, d.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	return nil
}

func getDeviceTx(tx *bolt.Tx, id []byte) (Device, error) {
	rec, err := getRecord[deviceRecord](tx, bucketDevices, id)
	return Device(rec), err
}

// GetDevice returns a device; ErrNotFound when absent.
func (b *Bolt) GetDevice(ctx context.Context, id string) (Device, error) {
	var d Device
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		d, err = getDeviceTx(tx, []byte(id))
		return err
	})
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", id, err)
	}
	return d, nil
}

// DeviceByHash finds a user's device by its cookie's hash.
func (b *Bolt) DeviceByHash(ctx context.Context, userID string, hash []byte) (Device, error) {
	var d Device
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		id := bucket(tx, bucketDeviceHashes).Get(deviceHashKey(userID, hash))
		if id == nil {
			return ErrNotFound
		}
		d, err = getDeviceTx(tx, id)
		return err
	})
	if err != nil {
		return Device{}, fmt.Errorf("device by hash: %w", err)
	}
	return d, nil
}

// UpdateDevice replaces a device's record; ErrNotFound when absent.
func (b *Bolt) UpdateDevice(ctx context.Context, d Device) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		old, err := getDeviceTx(tx, []byte(d.ID))
		if err != nil {
			return err
		}
		if old.UserID != d.UserID || old.TenantID != d.TenantID || string(old.Hash) != string(d.Hash) {
			return fmt.Errorf("a device's user, tenant and hash cannot change")
		}
		return putJSON(bucket(tx, bucketDevices), []byte(d.ID), deviceRecord(d))
	})
	if err != nil {
		return fmt.Errorf("update device %s: %w", d.ID, err)
	}
	return nil
}

// ListDevices lists a tenant's devices, oldest first.
func (b *Bolt) ListDevices(ctx context.Context, tenantID string) ([]Device, error) {
	var out []Device
	err := b.view(ctx, func(tx *bolt.Tx) error {
		recs, err := indexedRecords[deviceRecord](tx, bucketTenantDevices, bucketDevices, tenantPrefix(tenantID))
		for _, r := range recs {
			out = append(out, Device(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", tenantID, err)
	}
	slices.SortFunc(out, func(a, b Device) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeleteDevice removes a device and the login sessions made on it.
func (b *Bolt) DeleteDevice(ctx context.Context, id string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return deleteDeviceTx(tx, []byte(id)) })
	if err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	return nil
}

func deleteDeviceTx(tx *bolt.Tx, id []byte) error {
	d, err := getDeviceTx(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// The sessions made on it: the user's sessions with this device id.
	byUser := bucket(tx, bucketUserSessions)
	prefix := tenantPrefix(d.UserID)
	for _, k := range keysWithPrefix(byUser, prefix) {
		hash, err := hex.DecodeString(string(k[len(prefix):]))
		if err != nil {
			return fmt.Errorf("session index key: %w", err)
		}
		var ls loginSessionRecord
		found, err := getJSON(bucket(tx, bucketLoginSessions), hash, &ls)
		if err != nil {
			return err
		}
		switch {
		case !found: // a stale index entry
			if err := byUser.Delete(k); err != nil {
				return err
			}
		case ls.DeviceID == d.ID:
			if err := deleteLoginSessionTx(tx, hash); err != nil {
				return err
			}
		}
	}
	if err := bucket(tx, bucketDevices).Delete(id); err != nil {
		return err
	}
	if err := bucket(tx, bucketDeviceHashes).Delete(deviceHashKey(d.UserID, d.Hash)); err != nil {
		return err
	}
	return bucket(tx, bucketTenantDevices).Delete(tenantKey(d.TenantID, d.ID))
}

// DeleteStaleDevices removes pending devices made before pendingBefore
// and devices unused since unusedBefore.
func (b *Bolt) DeleteStaleDevices(ctx context.Context, pendingBefore, unusedBefore time.Time) (int, error) {
	var n int
	err := b.update(ctx, func(tx *bolt.Tx) error {
		keys, _, err := recordsWhere(bucket(tx, bucketDevices), "device", func(d deviceRecord) bool {
			if !d.Approved {
				return d.CreatedAt.Before(pendingBefore)
			}
			last := d.LastLogin
			if last.IsZero() {
				last = d.CreatedAt
			}
			return last.Before(unusedBefore)
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := deleteDeviceTx(tx, k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete stale devices: %w", err)
	}
	return n, nil
}

// Settings returns a practice's settings; the zero value when unset.
func (b *Bolt) Settings(ctx context.Context, tenantID string) (PracticeSettings, error) {
	var rec settingsRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		_, err := getJSON(bucket(tx, bucketSettings), []byte(tenantID), &rec)
		return err
	})
	if err != nil {
		return PracticeSettings{}, fmt.Errorf("settings of %s: %w", tenantID, err)
	}
	return PracticeSettings(rec), nil
}

// SetSettings stores a practice's settings; ErrNotFound when the tenant
// does not exist.
func (b *Bolt) SetSettings(ctx context.Context, tenantID string, s PracticeSettings) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if bucket(tx, bucketTenants).Get([]byte(tenantID)) == nil {
			return ErrNotFound
		}
		return putJSON(bucket(tx, bucketSettings), []byte(tenantID), settingsRecord(s))
	})
	if err != nil {
		return fmt.Errorf("set settings of %s: %w", tenantID, err)
	}
	return nil
}
