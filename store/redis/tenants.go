package redisstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/konsil/konsil/store"
)

// tenantKeySeparator is refused in tenant ids, as the bbolt store
// refuses it, so that a tenant id is valid on both stores.
const tenantKeySeparator = "/"

const monthLayout = "2006-01"

func validateID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s id", kind)
	}
	return nil
}

func validateMonth(month string) error {
	if _, err := time.Parse(monthLayout, month); err != nil {
		return fmt.Errorf("month %q is not YYYY-MM", month)
	}
	return nil
}

// CreateTenant stores a new tenant; ErrExists when the id is taken. Ids
// must be non-empty and free of "/".
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	err := s.update(ctx, func(tx *txn) error {
		if err := validateID("tenant", t.ID); err != nil {
			return err
		}
		if strings.Contains(t.ID, tenantKeySeparator) {
			return fmt.Errorf("tenant id must not contain %q", tenantKeySeparator)
		}
		if found, err := tx.exists(s.k.tenant(t.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		tx.sadd(s.k.tenants(), t.ID)
		return tx.setJSON(s.k.tenant(t.ID), tenantToRecord(t))
	})
	if err != nil {
		return fmt.Errorf("create tenant %s: %w", t.ID, err)
	}
	return nil
}

// GetTenant returns the tenant; ErrNotFound when absent.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	var rec tenantRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[tenantRecord](tx, s.k.tenant(id))
		return err
	})
	if err != nil {
		return store.Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return rec.tenant(), nil
}

// ListTenants returns all tenants sorted by id.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	tenants := []store.Tenant{}
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[tenantRecord](tx, s.k.tenants(), s.k.tenant)
		for _, r := range recs {
			tenants = append(tenants, r.tenant())
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return tenants, nil
}

// indexedRecords decodes the records whose ids the set index holds, in
// id order; key names a record by its id. A member whose record is gone
// is skipped. The records come in one MGET, not one round trip each.
func indexedRecords[R any](tx *txn, index string, key func(string) string) ([]R, error) {
	ids, err := tx.members(index)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	values, err := tx.getMany(keys)
	if err != nil {
		return nil, err
	}
	var out []R
	for _, data := range values {
		if data == nil {
			continue
		}
		var rec R
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("decode record: %w", err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// UpdateTenant replaces the tenant's name and quota, keeping its
// CreatedAt; ErrNotFound when absent.
func (s *Store) UpdateTenant(ctx context.Context, t store.Tenant) error {
	err := s.update(ctx, func(tx *txn) error {
		old, err := getRecord[tenantRecord](tx, s.k.tenant(t.ID))
		if err != nil {
			return err
		}
		rec := tenantToRecord(t)
		rec.CreatedAt = old.CreatedAt
		return tx.setJSON(s.k.tenant(t.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	return nil
}

// DeleteTenant removes the tenant with all its rooms (and their
// credentials), API keys, call counts and practice, in one transaction;
// ErrNotFound when absent.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *txn) error {
		if found, err := tx.exists(s.k.tenant(id)); err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		if err := s.deleteTenantRooms(tx, id); err != nil {
			return err
		}
		if err := s.deleteTenantAPIKeys(tx, id); err != nil {
			return err
		}
		if err := s.deletePractice(tx, id); err != nil {
			return fmt.Errorf("delete practice records: %w", err)
		}
		tx.del(s.k.usage(id), s.k.tenant(id))
		tx.srem(s.k.tenants(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	return nil
}

// deleteTenantRooms removes the rooms the tenant index names, then the
// index itself, so an entry whose room is already gone goes too.
func (s *Store) deleteTenantRooms(tx *txn, tenantID string) error {
	ids, err := tx.members(s.k.tenantRooms(tenantID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deleteRoomTx(tx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete room %s: %w", id, err)
		}
	}
	tx.del(s.k.tenantRooms(tenantID))
	return nil
}

// deleteTenantAPIKeys is deleteTenantRooms for API keys.
func (s *Store) deleteTenantAPIKeys(tx *txn, tenantID string) error {
	ids, err := tx.members(s.k.tenantAPIKeys(tenantID))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deleteAPIKeyTx(tx, tenantID, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete api key %s: %w", id, err)
		}
	}
	tx.del(s.k.tenantAPIKeys(tenantID))
	return nil
}

// API keys.

// CreateAPIKey stores a key; ErrExists when its id or hash is taken,
// ErrNotFound when it names a tenant that does not exist.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	err := s.update(ctx, func(tx *txn) error {
		if err := validateID("api key", k.ID); err != nil {
			return err
		}
		if len(k.Hash) == 0 {
			return errors.New("empty hash")
		}
		if k.TenantID != "" {
			if found, err := tx.exists(s.k.tenant(k.TenantID)); err != nil || !found {
				return cmp.Or(err, fmt.Errorf("tenant %s: %w", k.TenantID, store.ErrNotFound))
			}
		}
		if found, err := tx.exists(s.k.apiKey(k.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		if found, err := tx.exists(s.k.apiKeyHash(k.Hash)); err != nil || found {
			return cmp.Or(err, fmt.Errorf("hash: %w", store.ErrExists))
		}
		tx.set(s.k.apiKeyHash(k.Hash), k.ID)
		tx.sadd(s.k.tenantAPIKeys(k.TenantID), k.ID)
		return tx.setJSON(s.k.apiKey(k.ID), apiKeyToRecord(k))
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash finds a key by its hash; ErrNotFound when revoked or
// unknown.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	var rec apiKeyRecord
	err := s.view(ctx, func(tx *txn) error {
		id, found, err := tx.get(s.k.apiKeyHash(hash))
		if err != nil || !found {
			return cmp.Or(err, store.ErrNotFound)
		}
		rec, err = getRecord[apiKeyRecord](tx, s.k.apiKey(string(id)))
		if err == nil && !bytes.Equal(rec.Hash, hash) {
			err = store.ErrNotFound // a rehash between the two reads
		}
		return err
	})
	if err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	return rec.apiKey(), nil
}

// RehashAPIKey replaces key id's hash old by fresh in one transaction.
func (s *Store) RehashAPIKey(ctx context.Context, id string, old, fresh []byte) error {
	err := s.update(ctx, func(tx *txn) error {
		if len(fresh) == 0 {
			return errors.New("empty hash")
		}
		rec, err := getRecord[apiKeyRecord](tx, s.k.apiKey(id))
		if err != nil {
			return err
		}
		owner, found, err := tx.get(s.k.apiKeyHash(old))
		if err != nil {
			return err
		}
		if !bytes.Equal(rec.Hash, old) || !found || string(owner) != id {
			return store.ErrNotFound
		}
		if taken, err := tx.exists(s.k.apiKeyHash(fresh)); err != nil || taken {
			return cmp.Or(err, store.ErrExists)
		}
		rec.Hash = bytes.Clone(fresh)
		tx.del(s.k.apiKeyHash(old))
		tx.set(s.k.apiKeyHash(fresh), id)
		return tx.setJSON(s.k.apiKey(id), rec)
	})
	if err != nil {
		return fmt.Errorf("rehash api key %s: %w", id, err)
	}
	return nil
}

// ListAPIKeys lists the keys whose TenantID is tenantID ("" for admin
// keys), sorted by CreatedAt, then id.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string) ([]store.APIKey, error) {
	keys := []store.APIKey{}
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[apiKeyRecord](tx, s.k.tenantAPIKeys(tenantID), s.k.apiKey)
		for _, r := range recs {
			if r.TenantID == tenantID {
				keys = append(keys, r.apiKey())
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys of tenant %q: %w", tenantID, err)
	}
	slices.SortFunc(keys, func(a, b store.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// DeleteAPIKey revokes the key if it belongs to tenantID ("" for admin
// keys); ErrNotFound otherwise, so one tenant cannot probe or revoke
// another's keys.
func (s *Store) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	err := s.update(ctx, func(tx *txn) error { return s.deleteAPIKeyTx(tx, tenantID, id) })
	if err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteAPIKeyTx(tx *txn, tenantID, id string) error {
	rec, err := getRecord[apiKeyRecord](tx, s.k.apiKey(id))
	if err != nil {
		return err
	}
	if rec.TenantID != tenantID {
		return store.ErrNotFound
	}
	owner, found, err := tx.get(s.k.apiKeyHash(rec.Hash))
	if err != nil {
		return err
	}
	if found && string(owner) == id {
		tx.del(s.k.apiKeyHash(rec.Hash))
	}
	tx.srem(s.k.tenantAPIKeys(tenantID), id)
	tx.del(s.k.apiKey(id))
	return nil
}
