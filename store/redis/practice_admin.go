package redisstore

import (
	"context"
	"fmt"

	"github.com/konsil/konsil/store"
)

// The practice admin's changes to users, each in one transaction with
// the caller's check of the tenant's users as they would be afterwards.
// Every user of the tenant is read, and so watched: two admins on two
// nodes who demote or remove each other at the same moment cannot both
// commit, and the one who retries sees the other's result, so a practice
// is never left without an admin.

// SetUserRole gives a user of tenantID a new role; ErrNotFound when the
// user does not exist or belongs to another tenant. check sees the
// tenant's users with the change applied; an error from it leaves
// everything as it was and is returned wrapped.
func (s *Store) SetUserRole(ctx context.Context, tenantID, id, role string, check func(after []store.User) error) (store.User, error) {
	var out store.User
	err := s.update(ctx, func(tx *txn) error {
		rec, err := s.tenantUserTx(tx, tenantID, id)
		if err != nil {
			return err
		}
		rec.Role = role
		after, err := s.tenantUsersTx(tx, tenantID)
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
		return tx.setJSON(s.k.user(id), rec)
	})
	if err != nil {
		return store.User{}, fmt.Errorf("set role of user %s: %w", id, err)
	}
	return out, nil
}

// DeleteUser removes a user of tenantID with its login (the e-mail
// address is free again), its devices, passkeys and every login session,
// in one transaction; ErrNotFound when the user does not exist or
// belongs to another tenant. check sees the tenant's users without this
// one; an error from it leaves everything as it was and is returned
// wrapped. The user's appointments keep its id as their holder.
func (s *Store) DeleteUser(ctx context.Context, tenantID, id string, check func(after []store.User) error) (store.User, error) {
	var out store.User
	err := s.update(ctx, func(tx *txn) error {
		rec, err := s.tenantUserTx(tx, tenantID, id)
		if err != nil {
			return err
		}
		all, err := s.tenantUsersTx(tx, tenantID)
		if err != nil {
			return err
		}
		after := make([]store.User, 0, len(all))
		for _, u := range all {
			if u.ID != id {
				after = append(after, u)
			}
		}
		if err := check(after); err != nil {
			return err
		}
		if err := s.deleteUserTx(tx, rec); err != nil {
			return err
		}
		out = rec.user()
		return nil
	})
	if err != nil {
		return store.User{}, fmt.Errorf("delete user %s: %w", id, err)
	}
	return out, nil
}

// deleteUserTx removes a user with its devices, passkeys, sessions and
// login.
func (s *Store) deleteUserTx(tx *txn, rec userRecord) error {
	if err := s.deleteUserDevicesTx(tx, rec.ID); err != nil {
		return err
	}
	if err := s.deleteUserPasskeysTx(tx, rec.ID); err != nil {
		return err
	}
	if err := s.deleteUserSessionsTx(tx, rec.ID); err != nil {
		return err
	}
	owner, found, err := tx.get(s.k.userEmail(rec.Email))
	if err != nil {
		return err
	}
	if found && string(owner) == rec.ID {
		tx.del(s.k.userEmail(rec.Email))
	}
	tx.srem(s.k.tenantUsers(rec.TenantID), rec.ID)
	tx.del(s.k.user(rec.ID))
	return nil
}

// tenantUserTx reads a user of tenantID; another tenant's is
// ErrNotFound, as if it did not exist.
func (s *Store) tenantUserTx(tx *txn, tenantID, id string) (userRecord, error) {
	var rec userRecord
	found, err := tx.getJSON(s.k.user(id), &rec)
	if err != nil {
		return userRecord{}, err
	}
	if !found || tenantID == "" || rec.TenantID != tenantID {
		return userRecord{}, store.ErrNotFound
	}
	return rec, nil
}

// deletePractice removes everything of the workspace a tenant has: users
// with their logins, sessions, devices and passkeys, open setup links,
// appointments and settings. DeleteTenant calls it, so a deleted
// practice leaves no name or e-mail address behind.
func (s *Store) deletePractice(tx *txn, tenantID string) error {
	users, err := tx.members(s.k.tenantUsers(tenantID))
	if err != nil {
		return err
	}
	for _, id := range users {
		var rec userRecord
		found, err := tx.getJSON(s.k.user(id), &rec)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		if err := s.deleteUserTx(tx, rec); err != nil {
			return fmt.Errorf("delete user %s: %w", id, err)
		}
	}
	tx.del(s.k.tenantUsers(tenantID))

	devices, err := tx.members(s.k.tenantDevices(tenantID))
	if err != nil {
		return err
	}
	for _, id := range devices {
		if err := s.deleteDeviceTx(tx, id); err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
	}
	tx.del(s.k.tenantDevices(tenantID))

	if err := s.deleteTenantPasskeysTx(tx, tenantID); err != nil {
		return fmt.Errorf("delete passkeys: %w", err)
	}

	appts, err := indexedRecords[appointmentRecord](tx, s.k.tenantAppointments(tenantID), s.k.appointment)
	if err != nil {
		return err
	}
	for _, a := range appts {
		s.deleteAppointment(tx, a)
	}
	tx.del(s.k.tenantAppointments(tenantID))

	invites, err := indexedRecords[inviteRecord](tx, s.k.tenantInvites(tenantID), func(h string) string { return s.k.invite([]byte(h)) })
	if err != nil {
		return err
	}
	for _, inv := range invites {
		s.deleteInvite(tx, inv)
	}
	tx.del(s.k.tenantInvites(tenantID), s.k.settings(tenantID))
	return nil
}
