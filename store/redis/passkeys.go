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

// Passkeys and their ceremonies (store/passkeys.go), as
// store/bolt_passkeys.go keeps them. A ceremony begun on one node may
// finish on another: both read it here.

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
func (s *Store) CreatePasskey(ctx context.Context, p store.Passkey) error {
	err := s.update(ctx, func(tx *txn) error {
		if p.ID == "" || p.UserID == "" || p.TenantID == "" {
			return errors.New("passkey without id, user or tenant")
		}
		if _, err := s.tenantUserTx(tx, p.TenantID, p.UserID); err != nil {
			return err
		}
		if found, err := tx.exists(s.k.passkey(p.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.sadd(s.k.userPasskeys(p.UserID), p.ID)
		tx.sadd(s.k.tenantPasskeys(p.TenantID), p.ID)
		return tx.setJSON(s.k.passkey(p.ID), passkeyRecord(p))
	})
	if err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	return nil
}

// GetPasskey returns a passkey; ErrNotFound when absent.
func (s *Store) GetPasskey(ctx context.Context, id string) (store.Passkey, error) {
	var rec passkeyRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[passkeyRecord](tx, s.k.passkey(id))
		return err
	})
	if err != nil {
		return store.Passkey{}, fmt.Errorf("passkey: %w", err)
	}
	return store.Passkey(rec), nil
}

// UpdatePasskey replaces a passkey's record; ErrNotFound when absent.
func (s *Store) UpdatePasskey(ctx context.Context, p store.Passkey) error {
	err := s.update(ctx, func(tx *txn) error {
		old, err := getRecord[passkeyRecord](tx, s.k.passkey(p.ID))
		if err != nil {
			return err
		}
		if old.UserID != p.UserID || old.TenantID != p.TenantID {
			return errors.New("a passkey's user and tenant cannot change")
		}
		return tx.setJSON(s.k.passkey(p.ID), passkeyRecord(p))
	})
	if err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	return nil
}

// ListPasskeys lists a user's passkeys, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]store.Passkey, error) {
	out := []store.Passkey{}
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[passkeyRecord](tx, s.k.userPasskeys(userID), s.k.passkey)
		for _, r := range recs {
			out = append(out, store.Passkey(r))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list passkeys of %s: %w", userID, err)
	}
	slices.SortFunc(out, func(a, b store.Passkey) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// DeletePasskey removes a passkey; absent is no error.
func (s *Store) DeletePasskey(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *txn) error { return s.deletePasskeyTx(tx, id) })
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	return nil
}

func (s *Store) deletePasskeyTx(tx *txn, id string) error {
	p, err := getRecord[passkeyRecord](tx, s.k.passkey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tx.srem(s.k.userPasskeys(p.UserID), id)
	tx.srem(s.k.tenantPasskeys(p.TenantID), id)
	tx.del(s.k.passkey(id))
	return nil
}

// deleteUserPasskeysTx removes every passkey of a user: a removed user
// logs in nowhere, by passkey neither.
func (s *Store) deleteUserPasskeysTx(tx *txn, userID string) error {
	ids, err := tx.members(s.k.userPasskeys(userID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deletePasskeyTx(tx, id); err != nil {
			return err
		}
	}
	// Stale index entries without their records go too.
	tx.del(s.k.userPasskeys(userID))
	return nil
}

// deleteTenantPasskeysTx removes the passkeys of every user of a tenant,
// found by the tenant's own index (the users may be gone already).
func (s *Store) deleteTenantPasskeysTx(tx *txn, tenantID string) error {
	ids, err := tx.members(s.k.tenantPasskeys(tenantID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deletePasskeyTx(tx, id); err != nil {
			return err
		}
	}
	tx.del(s.k.tenantPasskeys(tenantID))
	return nil
}

// CreatePasskeyCeremony stores a begun ceremony; ErrExists when the hash
// is taken.
func (s *Store) CreatePasskeyCeremony(ctx context.Context, c store.PasskeyCeremony) error {
	err := s.update(ctx, func(tx *txn) error {
		if len(c.Hash) == 0 || len(c.SessionData) == 0 {
			return errors.New("ceremony without hash or session data")
		}
		if found, err := tx.exists(s.k.ceremony(c.Hash)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.zadd(s.k.ceremoniesByExpiry(), string(c.Hash), c.ExpiresAt)
		return tx.setJSON(s.k.ceremony(c.Hash), ceremonyRecord(c))
	})
	if err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	return nil
}

// TakePasskeyCeremony returns a ceremony and removes it in the same
// transaction, so two finishes, on one node or two, cannot both use it.
func (s *Store) TakePasskeyCeremony(ctx context.Context, hash []byte) (store.PasskeyCeremony, error) {
	var rec ceremonyRecord
	err := s.update(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[ceremonyRecord](tx, s.k.ceremony(hash))
		if err != nil {
			return err
		}
		tx.del(s.k.ceremony(hash))
		tx.zrem(s.k.ceremoniesByExpiry(), string(hash))
		return nil
	})
	if err != nil {
		return store.PasskeyCeremony{}, fmt.Errorf("take passkey ceremony: %w", err)
	}
	return store.PasskeyCeremony(rec), nil
}

// DeleteExpiredPasskeyCeremonies removes ceremonies that expired before
// t.
func (s *Store) DeleteExpiredPasskeyCeremonies(ctx context.Context, t time.Time) (int, error) {
	n, err := s.deleteDue(ctx, s.k.ceremoniesByExpiry(), t, func(tx *txn, h string) (bool, error) {
		c, err := getRecord[ceremonyRecord](tx, s.k.ceremony([]byte(h)))
		if errors.Is(err, store.ErrNotFound) {
			tx.zrem(s.k.ceremoniesByExpiry(), h)
			return false, nil
		}
		if err != nil || !c.ExpiresAt.Before(t) {
			return false, err
		}
		tx.del(s.k.ceremony([]byte(h)))
		tx.zrem(s.k.ceremoniesByExpiry(), h)
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired passkey ceremonies: %w", err)
	}
	return n, nil
}
