package redisstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/konsil/konsil/store"
)

// CreateRoom stores the room and indexes every participant's non-empty
// token and code hash, all in one transaction: ErrExists when the id, a
// participant id within the room or any hash is taken (nothing is
// written then), ErrNotFound when the tenant does not exist. Two nodes
// creating rooms with one hash at the same moment: the second's EXEC
// fails on the watched credential key, and its retry sees the hash taken.
func (s *Store) CreateRoom(ctx context.Context, r store.Room) error {
	err := s.update(ctx, func(tx *txn) error {
		if err := validateID("room", r.ID); err != nil {
			return err
		}
		if found, err := tx.exists(s.k.tenant(r.TenantID)); err != nil || !found {
			return cmp.Or(err, fmt.Errorf("tenant %s: %w", r.TenantID, store.ErrNotFound))
		}
		if found, err := tx.exists(s.k.room(r.ID)); err != nil || found {
			return cmp.Or(err, store.ErrExists)
		}
		rec := roomToRecord(r)
		if err := s.indexCredentials(tx, rec); err != nil {
			return err
		}
		tx.sadd(s.k.tenantRooms(r.TenantID), r.ID)
		tx.zadd(s.k.roomsByEnd(), r.ID, rec.EndsAt)
		return tx.setJSON(s.k.room(r.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("create room %s: %w", r.ID, err)
	}
	return nil
}

// indexCredentials queues one credential entry per hash. A txn does not
// see its own writes, so seen catches a hash repeated within the room.
func (s *Store) indexCredentials(tx *txn, rec roomRecord) error {
	ids := make(map[string]bool, len(rec.Participants))
	seen := map[string]bool{}
	for _, p := range rec.Participants {
		if ids[p.ID] {
			return fmt.Errorf("participant %s: %w", p.ID, store.ErrExists)
		}
		ids[p.ID] = true
		for _, c := range []struct {
			kind string
			hash []byte
		}{{"token", p.TokenHash}, {"code", p.CodeHash}} {
			if len(c.hash) == 0 {
				continue
			}
			taken, err := tx.exists(s.k.credential(c.hash))
			if err != nil {
				return err
			}
			if taken || seen[string(c.hash)] {
				return fmt.Errorf("participant %s %s hash: %w", p.ID, c.kind, store.ErrExists)
			}
			seen[string(c.hash)] = true
			if err := tx.setJSON(s.k.credential(c.hash), credentialRecord{RoomID: rec.ID, ParticipantID: p.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetRoom returns the room; ErrNotFound when absent.
func (s *Store) GetRoom(ctx context.Context, id string) (store.Room, error) {
	var rec roomRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[roomRecord](tx, s.k.room(id))
		return err
	})
	if err != nil {
		return store.Room{}, fmt.Errorf("get room %s: %w", id, err)
	}
	return rec.room(), nil
}

// SetRoomWindow moves a room's window in one transaction; its
// participants and credentials stay. ErrNotFound when absent.
func (s *Store) SetRoomWindow(ctx context.Context, id string, startsAt, endsAt time.Time, timeZone string) error {
	err := s.update(ctx, func(tx *txn) error {
		rec, err := getRecord[roomRecord](tx, s.k.room(id))
		if err != nil {
			return err
		}
		rec.StartsAt, rec.EndsAt, rec.TimeZone = startsAt.UTC(), endsAt.UTC(), timeZone
		tx.zadd(s.k.roomsByEnd(), id, rec.EndsAt)
		return tx.setJSON(s.k.room(id), rec)
	})
	if err != nil {
		return fmt.Errorf("set window of room %s: %w", id, err)
	}
	return nil
}

// ListRooms lists the tenant's rooms whose window [StartsAt, EndsAt)
// overlaps [from, to), sorted by StartsAt, then id. A zero from or to
// leaves that side open. It reads only the tenant's own rooms.
func (s *Store) ListRooms(ctx context.Context, tenantID string, from, to time.Time) ([]store.Room, error) {
	rooms := []store.Room{}
	err := s.view(ctx, func(tx *txn) error {
		recs, err := indexedRecords[roomRecord](tx, s.k.tenantRooms(tenantID), s.k.room)
		for _, rec := range recs {
			if rec.TenantID == tenantID && rec.overlaps(from, to) {
				rooms = append(rooms, rec.room())
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(rooms, func(a, b store.Room) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return rooms, nil
}

// DeleteRoom removes the room, its credentials and its index entries;
// ErrNotFound when absent.
func (s *Store) DeleteRoom(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *txn) error { return s.deleteRoomTx(tx, id) })
	if err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteRoomTx(tx *txn, id string) error {
	rec, err := getRecord[roomRecord](tx, s.k.room(id))
	if err != nil {
		return err
	}
	return s.deleteRoomRecord(tx, rec)
}

func (s *Store) deleteRoomRecord(tx *txn, rec roomRecord) error {
	for _, h := range rec.hashes() {
		// Only drop entries that point here; CreateRoom keeps hashes
		// unique, but a stray entry of another room must not vanish with
		// this one.
		var cred credentialRecord
		found, err := tx.getJSON(s.k.credential(h), &cred)
		if err != nil {
			return err
		}
		if found && cred.RoomID == rec.ID {
			tx.del(s.k.credential(h))
		}
	}
	tx.srem(s.k.tenantRooms(rec.TenantID), rec.ID)
	tx.zrem(s.k.roomsByEnd(), rec.ID)
	tx.del(s.k.room(rec.ID))
	return nil
}

// LookupCredential resolves a token or code hash; ErrNotFound when
// unknown. The returned Hash is a copy of the one asked for, which is
// the stored key.
func (s *Store) LookupCredential(ctx context.Context, hash []byte) (store.Credential, error) {
	var rec credentialRecord
	err := s.view(ctx, func(tx *txn) (err error) {
		rec, err = getRecord[credentialRecord](tx, s.k.credential(hash))
		return err
	})
	if err != nil {
		// Never the hash in the message: it is as good as the credential
		// for anyone who can read logs and query the store.
		return store.Credential{}, fmt.Errorf("lookup credential: %w", err)
	}
	return store.Credential{RoomID: rec.RoomID, ParticipantID: rec.ParticipantID, Hash: bytes.Clone(hash)}, nil
}

// DeleteRoomsEndedBefore removes every room whose EndsAt is before t,
// with its credentials and index entries, and returns how many it
// removed. The rooms come from the end-time index; each goes in a
// transaction of its own, so retention on a large store does not hold
// every room's keys under one WATCH.
func (s *Store) DeleteRoomsEndedBefore(ctx context.Context, t time.Time) (int, error) {
	n, err := s.deleteDue(ctx, s.k.roomsByEnd(), t, func(tx *txn, id string) (bool, error) {
		rec, err := getRecord[roomRecord](tx, s.k.room(id))
		if errors.Is(err, store.ErrNotFound) {
			tx.zrem(s.k.roomsByEnd(), id) // a stale index entry
			return false, nil
		}
		if err != nil || !rec.EndsAt.Before(t) {
			return false, err
		}
		return true, s.deleteRoomRecord(tx, rec)
	})
	if err != nil {
		return 0, fmt.Errorf("delete rooms ended before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// deleteDue runs deleteEach for the members of the sorted set index due
// by t.
func (s *Store) deleteDue(ctx context.Context, index string, t time.Time, del func(tx *txn, member string) (bool, error)) (int, error) {
	var due []string
	err := s.view(ctx, func(tx *txn) (err error) {
		due, err = tx.dueBy(index, t)
		return err
	})
	if err != nil {
		return 0, err
	}
	return s.deleteEach(ctx, due, del)
}

// deleteEach runs del for each member in a transaction of its own, and
// counts those del reported deleted: retention on a large store does
// not hold every record's keys under one WATCH.
func (s *Store) deleteEach(ctx context.Context, members []string, del func(tx *txn, member string) (bool, error)) (int, error) {
	var n int
	for _, m := range members {
		var deleted bool
		err := s.update(ctx, func(tx *txn) (err error) {
			deleted, err = del(tx, m)
			return err
		})
		if err != nil {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// Usage.

// CountCall marks the room as a held call and adds one to its tenant's
// count for month, once per room, in one transaction: the room key is
// watched, so of two nodes that see the call at once only one counts.
// It reports whether this call added to the count; ErrNotFound when the
// room is absent.
func (s *Store) CountCall(ctx context.Context, roomID, month string) (bool, error) {
	var counted bool
	err := s.update(ctx, func(tx *txn) error {
		counted = false
		if err := validateMonth(month); err != nil {
			return err
		}
		rec, err := getRecord[roomRecord](tx, s.k.room(roomID))
		if err != nil || rec.CallCounted {
			return err
		}
		rec.CallCounted = true
		tx.hincr(s.k.usage(rec.TenantID), month)
		counted = true
		return tx.setJSON(s.k.room(roomID), rec)
	})
	if err != nil {
		return false, fmt.Errorf("count call in room %s: %w", roomID, err)
	}
	return counted, nil
}

// CallsInMonth returns the tenant's call count for month; 0 when none.
func (s *Store) CallsInMonth(ctx context.Context, tenantID, month string) (int, error) {
	var count int
	err := s.view(ctx, func(tx *txn) error {
		if err := validateMonth(month); err != nil {
			return err
		}
		v, found, err := tx.hget(s.k.usage(tenantID), month)
		if err != nil || !found {
			return err
		}
		count, err = strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("decode call count: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("calls of tenant %s in %s: %w", tenantID, month, err)
	}
	return count, nil
}
