package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	bucketPasskeys     = "passkeys"           // credential id -> passkeyRecord
	bucketUserPasskeys = "passkeys_by_user"   // userID/credential id -> empty
	bucketCeremonies   = "passkey_ceremonies" // hash -> ceremonyRecord
)

func passkeyBuckets() []string {
	return []string{bucketPasskeys, bucketUserPasskeys, bucketCeremonies}
}

type passkeyRecord struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id"`
	UserID     string    `json:"user_id"`
	Credential []byte    `json:"credential"`
	WrappedKey string    `json:"wrapped_key,omitempty"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsed   time.Time `json:"last_used,omitzero"`
}

type ceremonyRecord struct {
	Hash        []byte    `json:"hash"`
	Kind        string    `json:"kind"`
	UserID      string    `json:"user_id,omitempty"`
	SessionData []byte    `json:"session_data"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// CreatePasskey stores a new passkey; ErrExists when the credential id
// is taken, ErrNotFound when the user does not exist in the tenant.
func (b *Bolt) CreatePasskey(ctx context.Context, p Passkey) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if p.ID == "" || p.UserID == "" || p.TenantID == "" {
			return fmt.Errorf("passkey without id, user or tenant")
		}
		if _, err := tenantUserTx(tx, p.TenantID, p.UserID); err != nil {
			return err
		}
		keys := bucket(tx, bucketPasskeys)
		if keys.Get([]byte(p.ID)) != nil {
			return ErrExists
		}
		if err := putJSON(keys, []byte(p.ID), passkeyRecord(p)); err != nil {
			return err
		}
		return bucket(tx, bucketUserPasskeys).Put(tenantKey(p.UserID, p.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	return nil
}

func getPasskeyTx(tx *bolt.Tx, id []byte) (Passkey, error) {
	rec, err := getRecord[passkeyRecord](tx, bucketPasskeys, id)
	return Passkey(rec), err
}

// GetPasskey returns a passkey; ErrNotFound when absent.
func (b *Bolt) GetPasskey(ctx context.Context, id string) (Passkey, error) {
	var p Passkey
	err := b.view(ctx, func(tx *bolt.Tx) (err error) {
		p, err = getPasskeyTx(tx, []byte(id))
		return err
	})
	if err != nil {
		return Passkey{}, fmt.Errorf("passkey: %w", err)
	}
	return p, nil
}

// UpdatePasskey replaces a passkey's record; ErrNotFound when absent.
func (b *Bolt) UpdatePasskey(ctx context.Context, p Passkey) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		old, err := getPasskeyTx(tx, []byte(p.ID))
		if err != nil {
			return err
		}
		if old.UserID != p.UserID || old.TenantID != p.TenantID {
			return fmt.Errorf("a passkey's user and tenant cannot change")
		}
		return putJSON(bucket(tx, bucketPasskeys), []byte(p.ID), passkeyRecord(p))
	})
	if err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	return nil
}

// ListPasskeys lists a user's passkeys, oldest first.
func (b *Bolt) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	out := []Passkey{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		recs, err := indexedRecords[passkeyRecord](tx, bucketUserPasskeys, bucketPasskeys, tenantPrefix(userID))
		for _, r := range recs {
			out = append(out, Passkey(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list passkeys of %s: %w", userID, err)
	}
	slices.SortFunc(out, func(a, b Passkey) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeletePasskey removes a passkey; absent is no error.
func (b *Bolt) DeletePasskey(ctx context.Context, id string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return deletePasskeyTx(tx, []byte(id)) })
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	return nil
}

func deletePasskeyTx(tx *bolt.Tx, id []byte) error {
	p, err := getPasskeyTx(tx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := bucket(tx, bucketUserPasskeys).Delete(tenantKey(p.UserID, p.ID)); err != nil {
		return err
	}
	return bucket(tx, bucketPasskeys).Delete(id)
}

// deleteUserPasskeysTx removes every passkey of a user: a removed user
// logs in nowhere, by passkey neither.
func deleteUserPasskeysTx(tx *bolt.Tx, userID string) error {
	prefix := tenantPrefix(userID)
	for _, k := range keysWithPrefix(bucket(tx, bucketUserPasskeys), prefix) {
		if err := deletePasskeyTx(tx, k[len(prefix):]); err != nil {
			return err
		}
		// A stale index entry without its record goes too.
		if err := bucket(tx, bucketUserPasskeys).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteTenantPasskeysTx removes the passkeys of every user of a tenant,
// found by the records' tenant (the user index may be gone already).
func deleteTenantPasskeysTx(tx *bolt.Tx, tenantID string) error {
	keys, recs, err := recordsWhere(bucket(tx, bucketPasskeys), "passkey", func(p passkeyRecord) bool { return p.TenantID == tenantID })
	if err != nil {
		return err
	}
	for _, p := range recs {
		if err := bucket(tx, bucketUserPasskeys).Delete(tenantKey(p.UserID, p.ID)); err != nil {
			return err
		}
	}
	return deleteKeys(bucket(tx, bucketPasskeys), keys)
}

// CreatePasskeyCeremony stores a begun ceremony; ErrExists when the hash
// is taken.
func (b *Bolt) CreatePasskeyCeremony(ctx context.Context, c PasskeyCeremony) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if len(c.Hash) == 0 || len(c.SessionData) == 0 {
			return fmt.Errorf("ceremony without hash or session data")
		}
		bk := bucket(tx, bucketCeremonies)
		if bk.Get(c.Hash) != nil {
			return ErrExists
		}
		return putJSON(bk, c.Hash, ceremonyRecord(c))
	})
	if err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	return nil
}

// TakePasskeyCeremony returns a ceremony and removes it in the same
// transaction, so two finishes cannot both use it.
func (b *Bolt) TakePasskeyCeremony(ctx context.Context, hash []byte) (PasskeyCeremony, error) {
	var rec ceremonyRecord
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketCeremonies)
		found, err := getJSON(bk, hash, &rec)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		return bk.Delete(hash)
	})
	if err != nil {
		return PasskeyCeremony{}, fmt.Errorf("take passkey ceremony: %w", err)
	}
	return PasskeyCeremony(rec), nil
}

// DeleteExpiredPasskeyCeremonies removes ceremonies that expired before t.
func (b *Bolt) DeleteExpiredPasskeyCeremonies(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketCeremonies)
		keys, _, err := recordsWhere(bk, "passkey ceremony", func(c ceremonyRecord) bool { return c.ExpiresAt.Before(t) })
		if err != nil {
			return err
		}
		n = len(keys)
		return deleteKeys(bk, keys)
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired passkey ceremonies: %w", err)
	}
	return n, nil
}
