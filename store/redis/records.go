package redisstore

import (
	"bytes"
	"time"

	"github.com/konsil/konsil/store"
)

// Records: the stored JSON shapes, field for field those of the bbolt
// store (store/bolt*.go), kept apart from the exported types so that what
// is in Redis changes only when we mean it to. Times are stored in UTC.

type tenantRecord struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	MonthlyCallQuota int       `json:"monthly_call_quota"`
	CreatedAt        time.Time `json:"created_at"`
}

type apiKeyRecord struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Hash      []byte    `json:"hash"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
}

type participantRecord struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	Label     string `json:"label"`
	TokenHash []byte `json:"token_hash,omitempty"`
	CodeHash  []byte `json:"code_hash,omitempty"`
}

type roomRecord struct {
	ID           string              `json:"id"`
	TenantID     string              `json:"tenant_id"`
	Mode         string              `json:"mode"`
	Capacity     int                 `json:"capacity"`
	StartsAt     time.Time           `json:"starts_at"`
	EndsAt       time.Time           `json:"ends_at"`
	TimeZone     string              `json:"time_zone"`
	CreatedAt    time.Time           `json:"created_at"`
	Participants []participantRecord `json:"participants"`
	CallCounted  bool                `json:"call_counted"`
	WaitingRoom  bool                `json:"waiting_room,omitempty"`
}

type credentialRecord struct {
	RoomID        string `json:"room_id"`
	ParticipantID string `json:"participant_id"`
}

func tenantToRecord(t store.Tenant) tenantRecord {
	return tenantRecord{ID: t.ID, Name: t.Name, MonthlyCallQuota: t.MonthlyCallQuota, CreatedAt: t.CreatedAt.UTC()}
}

func (r tenantRecord) tenant() store.Tenant {
	return store.Tenant{ID: r.ID, Name: r.Name, MonthlyCallQuota: r.MonthlyCallQuota, CreatedAt: r.CreatedAt}
}

func apiKeyToRecord(k store.APIKey) apiKeyRecord {
	return apiKeyRecord{ID: k.ID, TenantID: k.TenantID, Hash: bytes.Clone(k.Hash), Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC()}
}

func (r apiKeyRecord) apiKey() store.APIKey {
	return store.APIKey{ID: r.ID, TenantID: r.TenantID, Hash: r.Hash, Prefix: r.Prefix, CreatedAt: r.CreatedAt}
}

func roomToRecord(r store.Room) roomRecord {
	rec := roomRecord{
		ID: r.ID, TenantID: r.TenantID, Mode: r.Mode, Capacity: r.Capacity,
		StartsAt: r.StartsAt.UTC(), EndsAt: r.EndsAt.UTC(), TimeZone: r.TimeZone,
		CreatedAt: r.CreatedAt.UTC(), CallCounted: r.CallCounted, WaitingRoom: r.WaitingRoom,
	}
	for _, p := range r.Participants {
		rec.Participants = append(rec.Participants, participantRecord{
			ID: p.ID, Role: p.Role, Label: p.Label,
			TokenHash: bytes.Clone(p.TokenHash), CodeHash: bytes.Clone(p.CodeHash),
		})
	}
	return rec
}

func (r roomRecord) room() store.Room {
	room := store.Room{
		ID: r.ID, TenantID: r.TenantID, Mode: r.Mode, Capacity: r.Capacity,
		StartsAt: r.StartsAt, EndsAt: r.EndsAt, TimeZone: r.TimeZone,
		CreatedAt: r.CreatedAt, CallCounted: r.CallCounted, WaitingRoom: r.WaitingRoom,
	}
	for _, p := range r.Participants {
		room.Participants = append(room.Participants, store.Participant{
			ID: p.ID, Role: p.Role, Label: p.Label, TokenHash: p.TokenHash, CodeHash: p.CodeHash,
		})
	}
	return room
}

// overlaps tells whether the room's window [StartsAt, EndsAt) meets
// [from, to); a zero bound is open on that side.
func (r roomRecord) overlaps(from, to time.Time) bool {
	return (to.IsZero() || r.StartsAt.Before(to)) && (from.IsZero() || r.EndsAt.After(from))
}

// hashes returns the room's non-empty credential hashes.
func (r roomRecord) hashes() [][]byte {
	var hs [][]byte
	for _, p := range r.Participants {
		for _, h := range [][]byte{p.TokenHash, p.CodeHash} {
			if len(h) > 0 {
				hs = append(hs, h)
			}
		}
	}
	return hs
}
