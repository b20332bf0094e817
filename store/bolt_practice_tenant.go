package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// deletePracticeTx removes everything of the workspace a tenant has:
// users with their logins, sessions, devices and passkeys, open setup links,
// appointments and settings. DeleteTenant calls it, so a deleted
// practice leaves no name or e-mail address behind.
func deletePracticeTx(tx *bolt.Tx, tenantID string) error {
	prefix := tenantPrefix(tenantID)

	users := bucket(tx, bucketTenantUsers)
	userKeys := keysWithPrefix(users, prefix)
	for _, k := range userKeys {
		userID := string(k[len(prefix):])
		var u userRecord
		found, err := getJSON(bucket(tx, bucketUsers), []byte(userID), &u)
		if err != nil {
			return err
		}
		if found {
			if err := bucket(tx, bucketUserEmails).Delete([]byte(u.Email)); err != nil {
				return err
			}
		}
		if err := bucket(tx, bucketUsers).Delete([]byte(userID)); err != nil {
			return err
		}
		if err := deleteUserSessionsTx(tx, userID); err != nil {
			return err
		}
	}
	if err := deleteKeys(users, userKeys); err != nil {
		return fmt.Errorf("delete users: %w", err)
	}

	devices := bucket(tx, bucketTenantDevices)
	for _, k := range keysWithPrefix(devices, prefix) {
		if err := deleteDeviceTx(tx, k[len(prefix):]); err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
	}

	if err := deleteTenantPasskeysTx(tx, tenantID); err != nil {
		return fmt.Errorf("delete passkeys: %w", err)
	}

	appts := bucket(tx, bucketTenantAppoints)
	apptKeys := keysWithPrefix(appts, prefix)
	for _, k := range apptKeys {
		id := k[len(prefix):]
		var a appointmentRecord
		found, err := getJSON(bucket(tx, bucketAppointments), id, &a)
		if err != nil {
			return err
		}
		if found {
			if err := bucket(tx, bucketRoomAppoints).Delete([]byte(a.RoomID)); err != nil {
				return err
			}
		}
		if err := bucket(tx, bucketAppointments).Delete(id); err != nil {
			return err
		}
	}
	if err := deleteKeys(appts, apptKeys); err != nil {
		return fmt.Errorf("delete appointments: %w", err)
	}

	invKeys, _, err := recordsWhere(bucket(tx, bucketInvites), "invite", func(inv inviteRecord) bool { return inv.TenantID == tenantID })
	if err != nil {
		return err
	}
	if err := deleteKeys(bucket(tx, bucketInvites), invKeys); err != nil {
		return fmt.Errorf("delete setup links: %w", err)
	}
	return bucket(tx, bucketSettings).Delete([]byte(tenantID))
}
