package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Hash keys are the raw hash bytes; every other key is an id or
// "tenantID/…". Tenant ids never contain "/" (CreateTenant refuses them), so
// the first "/" in a per-tenant key always ends the tenant part and a prefix
// scan for "tenantID/" never reaches another tenant's entries.
const (
	bucketTenants       = "tenants"           // tenant id -> tenantRecord
	bucketAPIKeys       = "apikeys"           // key id -> apiKeyRecord
	bucketAPIKeyHashes  = "apikey_hashes"     // key hash -> key id
	bucketTenantAPIKeys = "apikeys_by_tenant" // tenantID/keyID -> empty ("" tenant: admin keys)
	bucketRooms         = "rooms"             // room id -> roomRecord
	bucketTenantRooms   = "rooms_by_tenant"   // tenantID/roomID -> empty
	bucketCredentials   = "credentials"       // token or code hash -> credentialRecord
	bucketUsage         = "usage"             // tenantID/2006-01 -> call count (JSON number)
	bucketSecrets       = "secrets"           // name -> raw secret bytes
)

const (
	tenantKeySeparator = "/"
	monthLayout        = "2006-01"
	// openTimeout bounds the wait for bbolt's file lock: long enough to ride
	// out a previous process that is just exiting, short enough that a second
	// `konsil serve` on the same file says so instead of hanging.
	openTimeout = time.Second
	dirMode     = 0o700
	fileMode    = 0o600
)

// allBuckets lists the buckets OpenBolt creates, so every transaction can
// rely on tx.Bucket returning non-nil.
func allBuckets() []string {
	return append([]string{
		bucketTenants, bucketAPIKeys, bucketAPIKeyHashes, bucketTenantAPIKeys,
		bucketRooms, bucketTenantRooms, bucketCredentials, bucketUsage, bucketSecrets,
	}, append(append(practiceBuckets(), deviceBuckets()...), passkeyBuckets()...)...)
}

// Bolt is the Store kept in one embedded bbolt file: the default for a single
// node. Its only state is the *bolt.DB; bbolt serialises write transactions
// and gives each read transaction a consistent snapshot, so Bolt needs no lock
// of its own and is safe for concurrent use. The file is locked for the life
// of the Bolt, so only one process can use it at a time.
type Bolt struct {
	db *bolt.DB
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens the store at path, creating the parent directory (0700) and
// the file (0600) when missing. If another process holds the file, it fails
// after one second with an error that says so, rather than waiting forever
// for bbolt's lock.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("open store %s: create directory: %w", path, err)
	}
	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: openTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store %s is in use by another process (is konsil serve running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close releases the file and its lock.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", b.db.Path(), err)
	}
	return nil
}

// Records: the stored JSON shapes, kept apart from the exported types so the
// file format changes only when we mean it to. Times are stored in UTC.

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

func tenantToRecord(t Tenant) tenantRecord {
	return tenantRecord{ID: t.ID, Name: t.Name, MonthlyCallQuota: t.MonthlyCallQuota, CreatedAt: t.CreatedAt.UTC()}
}

func (r tenantRecord) tenant() Tenant {
	return Tenant{ID: r.ID, Name: r.Name, MonthlyCallQuota: r.MonthlyCallQuota, CreatedAt: r.CreatedAt}
}

func apiKeyToRecord(k APIKey) apiKeyRecord {
	return apiKeyRecord{ID: k.ID, TenantID: k.TenantID, Hash: bytes.Clone(k.Hash), Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC()}
}

func (r apiKeyRecord) apiKey() APIKey {
	return APIKey{ID: r.ID, TenantID: r.TenantID, Hash: r.Hash, Prefix: r.Prefix, CreatedAt: r.CreatedAt}
}

func roomToRecord(r Room) roomRecord {
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

func (r roomRecord) room() Room {
	room := Room{
		ID: r.ID, TenantID: r.TenantID, Mode: r.Mode, Capacity: r.Capacity,
		StartsAt: r.StartsAt, EndsAt: r.EndsAt, TimeZone: r.TimeZone,
		CreatedAt: r.CreatedAt, CallCounted: r.CallCounted, WaitingRoom: r.WaitingRoom,
	}
	for _, p := range r.Participants {
		room.Participants = append(room.Participants, Participant{
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

// Transactions. Both check ctx first: bbolt itself cannot be interrupted, but
// a caller that has already gone away should not start work.

func (b *Bolt) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.View(fn)
}

func (b *Bolt) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.Update(fn)
}

func bucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

// getJSON decodes the value at key into v and reports whether it was there.
// json.Unmarshal copies everything it keeps, so v stays valid after the tx.
func getJSON(bk *bolt.Bucket, key []byte, v any) (bool, error) {
	data := bk.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode record: %w", err)
	}
	return true, nil
}

// getRecord decodes the record at key of the named bucket; ErrNotFound
// when it is absent.
func getRecord[R any](tx *bolt.Tx, name string, key []byte) (R, error) {
	var rec R
	found, err := getJSON(bucket(tx, name), key, &rec)
	if err == nil && !found {
		err = ErrNotFound
	}
	return rec, err
}

// indexedRecords decodes the records of bucket name whose ids follow
// prefix in the index bucket (tenantID/id or userID/id), in index order.
// An index entry whose record is gone is skipped.
func indexedRecords[R any](tx *bolt.Tx, index, name string, prefix []byte) ([]R, error) {
	var out []R
	for _, k := range keysWithPrefix(bucket(tx, index), prefix) {
		rec, err := getRecord[R](tx, name, k[len(prefix):])
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func putJSON(bk *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return bk.Put(key, data)
}

func tenantKey(tenantID, id string) []byte {
	return []byte(tenantID + tenantKeySeparator + id)
}

func tenantPrefix(tenantID string) []byte {
	return []byte(tenantID + tenantKeySeparator)
}

// keysWithPrefix returns copies of the keys in bk that start with prefix.
// Callers delete after collecting: deleting while a cursor walks can skip
// entries in bbolt.
func keysWithPrefix(bk *bolt.Bucket, prefix []byte) [][]byte {
	var keys [][]byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// recordsWhere decodes every record of bk and returns the keys and
// records keep accepts. Retention reads whole buckets: it runs rarely,
// and an index by end time would cost every write. Callers delete
// after collecting (see keysWithPrefix).
func recordsWhere[T any](bk *bolt.Bucket, kind string, keep func(T) bool) (keys [][]byte, recs []T, err error) {
	err = bk.ForEach(func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", kind, err)
		}
		if keep(rec) {
			keys = append(keys, bytes.Clone(k))
			recs = append(recs, rec)
		}
		return nil
	})
	return keys, recs, err
}

func deleteKeys(bk *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

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

// Tenants.

// CreateTenant stores a new tenant; ErrExists when the id is taken. Ids must
// be non-empty and free of "/", which separates per-tenant index keys.
func (b *Bolt) CreateTenant(ctx context.Context, t Tenant) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := validateID("tenant", t.ID); err != nil {
			return err
		}
		if strings.Contains(t.ID, tenantKeySeparator) {
			return fmt.Errorf("tenant id must not contain %q", tenantKeySeparator)
		}
		bk := bucket(tx, bucketTenants)
		if bk.Get([]byte(t.ID)) != nil {
			return ErrExists
		}
		return putJSON(bk, []byte(t.ID), tenantToRecord(t))
	})
	if err != nil {
		return fmt.Errorf("create tenant %s: %w", t.ID, err)
	}
	return nil
}

// GetTenant returns the tenant; ErrNotFound when absent.
func (b *Bolt) GetTenant(ctx context.Context, id string) (Tenant, error) {
	var rec tenantRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketTenants), []byte(id), &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return rec.tenant(), nil
}

// ListTenants returns all tenants sorted by id.
func (b *Bolt) ListTenants(ctx context.Context) ([]Tenant, error) {
	tenants := []Tenant{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketTenants).ForEach(func(_, v []byte) error {
			var rec tenantRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode tenant: %w", err)
			}
			tenants = append(tenants, rec.tenant())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return tenants, nil
}

// UpdateTenant replaces the tenant's name and quota, keeping its CreatedAt;
// ErrNotFound when absent.
func (b *Bolt) UpdateTenant(ctx context.Context, t Tenant) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketTenants)
		var old tenantRecord
		found, err := getJSON(bk, []byte(t.ID), &old)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		rec := tenantToRecord(t)
		rec.CreatedAt = old.CreatedAt
		return putJSON(bk, []byte(t.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("update tenant %s: %w", t.ID, err)
	}
	return nil
}

// DeleteTenant removes the tenant with all its rooms (and their credentials),
// API keys and call counts, in one transaction; ErrNotFound when absent.
func (b *Bolt) DeleteTenant(ctx context.Context, id string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		tenants := bucket(tx, bucketTenants)
		if tenants.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := deleteTenantRooms(tx, id); err != nil {
			return err
		}
		if err := deleteTenantAPIKeys(tx, id); err != nil {
			return err
		}
		usage := bucket(tx, bucketUsage)
		if err := deleteKeys(usage, keysWithPrefix(usage, tenantPrefix(id))); err != nil {
			return fmt.Errorf("delete call counts: %w", err)
		}
		if err := deletePracticeTx(tx, id); err != nil {
			return fmt.Errorf("delete practice records: %w", err)
		}
		return tenants.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	return nil
}

// deleteTenantRooms removes the rooms the tenant index names, then the index
// entries themselves, so an entry whose room is already gone goes too.
func deleteTenantRooms(tx *bolt.Tx, tenantID string) error {
	prefix := tenantPrefix(tenantID)
	index := bucket(tx, bucketTenantRooms)
	keys := keysWithPrefix(index, prefix)
	for _, k := range keys {
		roomID := string(k[len(prefix):])
		if err := deleteRoomTx(tx, roomID); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("delete room %s: %w", roomID, err)
		}
	}
	return deleteKeys(index, keys)
}

// deleteTenantAPIKeys is deleteTenantRooms for API keys.
func deleteTenantAPIKeys(tx *bolt.Tx, tenantID string) error {
	prefix := tenantPrefix(tenantID)
	index := bucket(tx, bucketTenantAPIKeys)
	keys := keysWithPrefix(index, prefix)
	for _, k := range keys {
		keyID := string(k[len(prefix):])
		if err := deleteAPIKeyTx(tx, tenantID, keyID); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("delete api key %s: %w", keyID, err)
		}
	}
	return deleteKeys(index, keys)
}

// API keys.

// CreateAPIKey stores a key; ErrExists when its id or hash is taken,
// ErrNotFound when it names a tenant that does not exist (a key for a
// missing tenant would outlive DeleteTenant's cleanup).
func (b *Bolt) CreateAPIKey(ctx context.Context, k APIKey) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := validateID("api key", k.ID); err != nil {
			return err
		}
		if len(k.Hash) == 0 {
			return errors.New("empty hash")
		}
		if k.TenantID != "" && bucket(tx, bucketTenants).Get([]byte(k.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", k.TenantID, ErrNotFound)
		}
		keys, hashes := bucket(tx, bucketAPIKeys), bucket(tx, bucketAPIKeyHashes)
		if keys.Get([]byte(k.ID)) != nil {
			return ErrExists
		}
		if hashes.Get(k.Hash) != nil {
			return fmt.Errorf("hash: %w", ErrExists)
		}
		if err := putJSON(keys, []byte(k.ID), apiKeyToRecord(k)); err != nil {
			return err
		}
		if err := hashes.Put(k.Hash, []byte(k.ID)); err != nil {
			return err
		}
		return bucket(tx, bucketTenantAPIKeys).Put(tenantKey(k.TenantID, k.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash finds a key by its hash; ErrNotFound when revoked or unknown.
func (b *Bolt) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	var rec apiKeyRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		id := bucket(tx, bucketAPIKeyHashes).Get(hash)
		if id == nil {
			return ErrNotFound
		}
		found, err := getJSON(bucket(tx, bucketAPIKeys), id, &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	return rec.apiKey(), nil
}

// RehashAPIKey replaces key id's hash old by fresh in one transaction.
func (b *Bolt) RehashAPIKey(ctx context.Context, id string, old, fresh []byte) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if len(fresh) == 0 {
			return errors.New("empty hash")
		}
		keys, hashes := bucket(tx, bucketAPIKeys), bucket(tx, bucketAPIKeyHashes)
		var rec apiKeyRecord
		found, err := getJSON(keys, []byte(id), &rec)
		if err != nil {
			return err
		}
		if !found || !bytes.Equal(rec.Hash, old) || !bytes.Equal(hashes.Get(old), []byte(id)) {
			return ErrNotFound
		}
		if hashes.Get(fresh) != nil {
			return ErrExists
		}
		rec.Hash = bytes.Clone(fresh)
		if err := putJSON(keys, []byte(id), rec); err != nil {
			return err
		}
		if err := hashes.Delete(old); err != nil {
			return err
		}
		return hashes.Put(fresh, []byte(id))
	})
	if err != nil {
		return fmt.Errorf("rehash api key %s: %w", id, err)
	}
	return nil
}

// ListAPIKeys lists the keys whose TenantID is tenantID ("" for admin keys),
// sorted by CreatedAt, then id.
func (b *Bolt) ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	keys := []APIKey{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		prefix := tenantPrefix(tenantID)
		for _, k := range keysWithPrefix(bucket(tx, bucketTenantAPIKeys), prefix) {
			var rec apiKeyRecord
			found, err := getJSON(bucket(tx, bucketAPIKeys), k[len(prefix):], &rec)
			if err != nil {
				return err
			}
			if found && rec.TenantID == tenantID {
				keys = append(keys, rec.apiKey())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys of tenant %q: %w", tenantID, err)
	}
	slices.SortFunc(keys, func(a, b APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// DeleteAPIKey revokes the key if it belongs to tenantID ("" for admin keys);
// ErrNotFound otherwise, so one tenant cannot probe or revoke another's keys.
func (b *Bolt) DeleteAPIKey(ctx context.Context, tenantID, id string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		return deleteAPIKeyTx(tx, tenantID, id)
	})
	if err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	return nil
}

func deleteAPIKeyTx(tx *bolt.Tx, tenantID, id string) error {
	keys := bucket(tx, bucketAPIKeys)
	var rec apiKeyRecord
	found, err := getJSON(keys, []byte(id), &rec)
	if err != nil {
		return err
	}
	if !found || rec.TenantID != tenantID {
		return ErrNotFound
	}
	hashes := bucket(tx, bucketAPIKeyHashes)
	if bytes.Equal(hashes.Get(rec.Hash), []byte(id)) {
		if err := hashes.Delete(rec.Hash); err != nil {
			return err
		}
	}
	if err := bucket(tx, bucketTenantAPIKeys).Delete(tenantKey(tenantID, id)); err != nil {
		return err
	}
	return keys.Delete([]byte(id))
}

// Rooms.

// CreateRoom stores the room and indexes every participant's non-empty token
// and code hash, all in one transaction: ErrExists when the id, a participant
// id within the room or any hash is taken (nothing is written then),
// ErrNotFound when the tenant does not exist.
func (b *Bolt) CreateRoom(ctx context.Context, r Room) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := validateID("room", r.ID); err != nil {
			return err
		}
		if bucket(tx, bucketTenants).Get([]byte(r.TenantID)) == nil {
			return fmt.Errorf("tenant %s: %w", r.TenantID, ErrNotFound)
		}
		rooms := bucket(tx, bucketRooms)
		if rooms.Get([]byte(r.ID)) != nil {
			return ErrExists
		}
		rec := roomToRecord(r)
		if err := indexCredentials(tx, rec); err != nil {
			return err
		}
		if err := putJSON(rooms, []byte(r.ID), rec); err != nil {
			return err
		}
		return bucket(tx, bucketTenantRooms).Put(tenantKey(r.TenantID, r.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("create room %s: %w", r.ID, err)
	}
	return nil
}

// indexCredentials adds one credential entry per hash. Checking and putting
// one hash at a time also catches a hash repeated within the room itself.
func indexCredentials(tx *bolt.Tx, rec roomRecord) error {
	creds := bucket(tx, bucketCredentials)
	seen := make(map[string]bool, len(rec.Participants))
	for _, p := range rec.Participants {
		if seen[p.ID] {
			return fmt.Errorf("participant %s: %w", p.ID, ErrExists)
		}
		seen[p.ID] = true
		for _, c := range []struct {
			kind string
			hash []byte
		}{{"token", p.TokenHash}, {"code", p.CodeHash}} {
			h := c.hash
			if len(h) == 0 {
				continue
			}
			if creds.Get(h) != nil {
				return fmt.Errorf("participant %s %s hash: %w", p.ID, c.kind, ErrExists)
			}
			if err := putJSON(creds, h, credentialRecord{RoomID: rec.ID, ParticipantID: p.ID}); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetRoom returns the room; ErrNotFound when absent.
func (b *Bolt) GetRoom(ctx context.Context, id string) (Room, error) {
	var rec roomRecord
	err := b.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bucketRooms), []byte(id), &rec)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Room{}, fmt.Errorf("get room %s: %w", id, err)
	}
	return rec.room(), nil
}

// SetRoomWindow moves a room's window in one transaction; its
// participants and credentials stay. ErrNotFound when absent.
func (b *Bolt) SetRoomWindow(ctx context.Context, id string, startsAt, endsAt time.Time, timeZone string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rec, err := getRecord[roomRecord](tx, bucketRooms, []byte(id))
		if err != nil {
			return err
		}
		rec.StartsAt, rec.EndsAt, rec.TimeZone = startsAt.UTC(), endsAt.UTC(), timeZone
		return putJSON(bucket(tx, bucketRooms), []byte(id), rec)
	})
	if err != nil {
		return fmt.Errorf("set window of room %s: %w", id, err)
	}
	return nil
}

// ListRooms lists the tenant's rooms whose window [StartsAt, EndsAt) overlaps
// [from, to), sorted by StartsAt, then id. A zero from or to leaves that side
// open. It reads only the tenant's own index entries.
func (b *Bolt) ListRooms(ctx context.Context, tenantID string, from, to time.Time) ([]Room, error) {
	rooms := []Room{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		prefix := tenantPrefix(tenantID)
		for _, k := range keysWithPrefix(bucket(tx, bucketTenantRooms), prefix) {
			var rec roomRecord
			found, err := getJSON(bucket(tx, bucketRooms), k[len(prefix):], &rec)
			if err != nil {
				return err
			}
			if found && rec.TenantID == tenantID && rec.overlaps(from, to) {
				rooms = append(rooms, rec.room())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms of tenant %s: %w", tenantID, err)
	}
	slices.SortFunc(rooms, func(a, b Room) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return rooms, nil
}

// DeleteRoom removes the room, its credentials and its tenant index entry;
// ErrNotFound when absent.
func (b *Bolt) DeleteRoom(ctx context.Context, id string) error {
	err := b.update(ctx, func(tx *bolt.Tx) error { return deleteRoomTx(tx, id) })
	if err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	return nil
}

func deleteRoomTx(tx *bolt.Tx, id string) error {
	rooms := bucket(tx, bucketRooms)
	var rec roomRecord
	found, err := getJSON(rooms, []byte(id), &rec)
	if err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	return deleteRoomRecord(tx, rec)
}

func deleteRoomRecord(tx *bolt.Tx, rec roomRecord) error {
	creds := bucket(tx, bucketCredentials)
	for _, h := range rec.hashes() {
		// Only drop entries that point here; CreateRoom keeps hashes unique,
		// but a stray entry of another room must not vanish with this one.
		var cred credentialRecord
		found, err := getJSON(creds, h, &cred)
		if err != nil {
			return err
		}
		if found && cred.RoomID == rec.ID {
			if err := creds.Delete(h); err != nil {
				return err
			}
		}
	}
	if err := bucket(tx, bucketTenantRooms).Delete(tenantKey(rec.TenantID, rec.ID)); err != nil {
		return err
	}
	return bucket(tx, bucketRooms).Delete([]byte(rec.ID))
}

// LookupCredential resolves a token or code hash; ErrNotFound when unknown.
// The returned Hash is a copy of the stored key.
func (b *Bolt) LookupCredential(ctx context.Context, hash []byte) (Credential, error) {
	var cred Credential
	err := b.view(ctx, func(tx *bolt.Tx) error {
		k, v := bucket(tx, bucketCredentials).Cursor().Seek(hash)
		if k == nil || !bytes.Equal(k, hash) {
			return ErrNotFound
		}
		var rec credentialRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode credential: %w", err)
		}
		cred = Credential{RoomID: rec.RoomID, ParticipantID: rec.ParticipantID, Hash: bytes.Clone(k)}
		return nil
	})
	if err != nil {
		// Never the hash in the message: it is as good as the credential
		// for anyone who can read logs and query the store.
		return Credential{}, fmt.Errorf("lookup credential: %w", err)
	}
	return cred, nil
}

// DeleteRoomsEndedBefore removes every room whose EndsAt is before t, with its
// credentials and index entries, and returns how many it removed. It reads
// every room: it runs rarely (retention), and an end-time index would cost
// every CreateRoom.
func (b *Bolt) DeleteRoomsEndedBefore(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := b.update(ctx, func(tx *bolt.Tx) error {
		_, ended, err := recordsWhere(bucket(tx, bucketRooms), "room", func(r roomRecord) bool { return r.EndsAt.Before(t) })
		if err != nil {
			return err
		}
		for _, rec := range ended {
			if err := deleteRoomRecord(tx, rec); err != nil {
				return fmt.Errorf("delete room %s: %w", rec.ID, err)
			}
		}
		n = len(ended)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete rooms ended before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// Usage.

// CountCall marks the room as a held call and adds one to its tenant's count
// for month, once per room, in one transaction. It reports whether this call
// added to the count; ErrNotFound when the room is absent.
func (b *Bolt) CountCall(ctx context.Context, roomID, month string) (bool, error) {
	var counted bool
	err := b.update(ctx, func(tx *bolt.Tx) error {
		if err := validateMonth(month); err != nil {
			return err
		}
		rooms := bucket(tx, bucketRooms)
		var rec roomRecord
		found, err := getJSON(rooms, []byte(roomID), &rec)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if rec.CallCounted {
			return nil
		}
		key := tenantKey(rec.TenantID, month)
		usage := bucket(tx, bucketUsage)
		var count int
		if _, err := getJSON(usage, key, &count); err != nil {
			return err
		}
		if err := putJSON(usage, key, count+1); err != nil {
			return err
		}
		rec.CallCounted = true
		if err := putJSON(rooms, []byte(roomID), rec); err != nil {
			return err
		}
		counted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("count call in room %s: %w", roomID, err)
	}
	return counted, nil
}

// CallsInMonth returns the tenant's call count for month; 0 when none.
func (b *Bolt) CallsInMonth(ctx context.Context, tenantID, month string) (int, error) {
	var count int
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if err := validateMonth(month); err != nil {
			return err
		}
		_, err := getJSON(bucket(tx, bucketUsage), tenantKey(tenantID, month), &count)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("calls of tenant %s in %s: %w", tenantID, month, err)
	}
	return count, nil
}

// Secrets of older versions.

// LegacySecrets returns the server secrets that versions before the key
// file kept in the store (name -> value); none on a store made since. The
// server moves them to the key file and then calls DropLegacySecrets.
func (b *Bolt) LegacySecrets(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketSecrets).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("legacy secrets: %w", err)
	}
	return out, nil
}

// DropLegacySecrets deletes the secrets LegacySecrets returned. bbolt
// does not overwrite freed pages, so the file (and its older backups)
// may still hold their bytes: rotate them after an upgrade
// (docs/OPERATIONS.md).
func (b *Bolt) DropLegacySecrets(ctx context.Context) error {
	err := b.update(ctx, func(tx *bolt.Tx) error {
		bk := bucket(tx, bucketSecrets)
		var names [][]byte
		if err := bk.ForEach(func(k, _ []byte) error {
			names = append(names, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range names {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop legacy secrets: %w", err)
	}
	return nil
}
