package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The practice admin's changes to users (store/practice.go): a new role
// and removal. Each runs in one transaction with the caller's check of
// the tenant's users as they would be afterwards, so two admins who
// demote or remove each other at the same moment cannot leave a practice
// without one: bbolt runs write transactions one at a time, and the
// second sees the first's result.

// SetUserRole gives a user of tenantID a new role; ErrNotFound when the
// user does not exist or belongs to another tenant. check sees the
// tenant's users with the change applied; an error from it leaves
// everything as it was and is returned wrapped.
func (b *Bolt) SetUserRole(ctx context.Context, tenantID, id, role string, check func(after []User) error) (User, error) {
	var out User
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec, err := tenantUserTx(tx, tenantID, id)
		if err != nil {
			return err
		}
		rec.Role = role
		after, err := tenantUsersTx(tx, tenantID)
		if err != nil {
			return err
		}
		for i := range after {
			if after[i].ID == id {
				after[i].Role = role
			}
		}
		if err := check(after); err != nil {
			return err
		}
		out = rec.user()
		return putJSON(bucket(tx, bucketUsers), []byte(id), rec)
	})
	if err != nil {
		return User{}, fmt.Errorf("set role of user %s: %w", id, err)
	}
	return out, nil
}

// DeleteUser removes a user of tenantID with its login (the e-mail
// address is free again), its devices and every login session, in one
// transaction;
// ErrNotFound when the user does not exist or belongs to another tenant.
// check sees the tenant's users without this one; an error from it
// leaves everything as it was and is returned wrapped. The user's
// appointments keep its id as their holder.
func (b *Bolt) DeleteUser(ctx context.Context, tenantID, id string, check func(after []User) error) (User, error) {
	var out User
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec, err := tenantUserTx(tx, tenantID, id)
		if err != nil {
			return err
		}
		all, err := tenantUsersTx(tx, tenantID)
		if err != nil {
			return err
		}
		after := make([]User, 0, len(all))
		for _, u := range all {
			if u.ID != id {
				after = append(after, u)
			}
		}
		if err := check(after); err != nil {
			return err
		}
		if err := deleteUserDevicesTx(tx, id); err != nil {
			return err
		}
		if err := deleteUserPasskeysTx(tx, id); err != nil {
			return err
		}
		if err := endUserSessionsTx(tx, id); err != nil {
			return err
		}
		if err := bucket(tx, bucketUserEmails).Delete([]byte(rec.Email)); err != nil {
			return err
		}
		if err := bucket(tx, bucketTenantUsers).Delete(tenantKey(tenantID, id)); err != nil {
			return err
		}
		out = rec.user()
		return bucket(tx, bucketUsers).Delete([]byte(id))
	})
	if err != nil {
		return User{}, fmt.Errorf("delete user %s: %w", id, err)
	}
	return out, nil
}

// tenantUserTx reads a user of tenantID; another tenant's is ErrNotFound,
// as if it did not exist.
func tenantUserTx(tx *bolt.Tx, tenantID, id string) (userRecord, error) {
	var rec userRecord
	found, err := getJSON(bucket(tx, bucketUsers), []byte(id), &rec)
	if err != nil {
		return userRecord{}, err
	}
	if !found || tenantID == "" || rec.TenantID != tenantID {
		return userRecord{}, ErrNotFound
	}
	return rec, nil
}

// tenantUsersTx reads every user of tenantID, in index order.
func tenantUsersTx(tx *bolt.Tx, tenantID string) ([]User, error) {
	users := bucket(tx, bucketUsers)
	prefix := tenantPrefix(tenantID)
	var out []User
	for _, k := range keysWithPrefix(bucket(tx, bucketTenantUsers), prefix) {
		var rec userRecord
		found, err := getJSON(users, k[len(prefix):], &rec)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, rec.user())
		}
	}
	return out, nil
}

// endUserSessionsTx deletes every login session of a user and its index.
func endUserSessionsTx(tx *bolt.Tx, userID string) error {
	byUser := bucket(tx, bucketUserSessions)
	prefix := tenantPrefix(userID)
	keys := keysWithPrefix(byUser, prefix)
	sessions := bucket(tx, bucketLoginSessions)
	for _, k := range keys {
		hash, err := hex.DecodeString(string(k[len(prefix):]))
		if err != nil {
			return fmt.Errorf("session index key: %w", err)
		}
		if err := sessions.Delete(hash); err != nil {
			return err
		}
	}
	return deleteKeys(byUser, keys)
}

// deleteUserDevicesTx deletes every device of a user (store/devices.go):
// a removed user's browsers are nobody's, and the admin's device list
// should not show them.
func deleteUserDevicesTx(tx *bolt.Tx, userID string) error {
	hashes := bucket(tx, bucketDeviceHashes)
	for _, k := range keysWithPrefix(hashes, tenantPrefix(userID)) {
		if id := hashes.Get(k); id != nil {
			if err := deleteDeviceTx(tx, bytes.Clone(id)); err != nil {
				return err
			}
		}
	}
	return nil
}
