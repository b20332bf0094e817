package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/store"
)

// joinCode joins by a participant's short code and returns the HTTP status.
func joinCode(t *testing.T, s *testutil.Server, code string) int {
	t.Helper()
	var out protocol.JoinResponse
	return s.Do(t, http.MethodPost, "/api/v1/join", "", protocol.JoinRequest{Code: code}, &out)
}

func listRooms(t *testing.T, s *testutil.Server, key string) int {
	t.Helper()
	return s.Do(t, http.MethodGet, "/api/v1/rooms", key, nil, nil)
}

// A copy of konsil.db (a backup) must not hold the pepper or the session
// key: with them anyone could check code guesses offline and forge
// session tokens (audit finding 1). They live in a private key file, and
// a rotated pepper keeps old codes and API keys working.
func TestServerSecretsStayOutOfStore(t *testing.T) {
	dir := t.TempDir()
	inDir := func(c *server.Config) { c.DataDir = dir }
	s1 := testutil.StartServer(t, inDir, testutil.WithTURN())
	tenantKey := s1.TenantKey
	room := s1.CreateRoom(t, 2, "host", "guest")
	if code := joinCode(t, s1, room.Participants[1].Code); code != http.StatusOK {
		t.Fatalf("join by code: HTTP %d", code)
	}
	s1.Stop(t)

	path := filepath.Join(dir, "konsil.keys")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file after the first start: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	ring, err := keyring.Load(keyring.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, "konsil.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range keyring.Names() {
		s := ring.Current(name)
		for _, enc := range [][]byte{s, []byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawURLEncoding.EncodeToString(s))} {
			if bytes.Contains(db, enc) {
				t.Errorf("konsil.db holds the %s", name)
			}
		}
	}

	// Rotate the pepper: the old code and the tenant's API key still
	// work, and the key moves to the new pepper on its first use.
	if _, err := keyring.Rotate(path, keyring.CodePepper, -1, time.Now()); err != nil {
		t.Fatal(err)
	}
	s2 := testutil.StartServer(t, inDir)
	if code := joinCode(t, s2, room.Participants[0].Code); code != http.StatusOK {
		t.Fatalf("join by a code made before the pepper rotation: HTTP %d", code)
	}
	if code := listRooms(t, s2, tenantKey); code != http.StatusOK {
		t.Fatalf("API key made before the pepper rotation: HTTP %d", code)
	}
	s2.TenantKey = tenantKey
	fresh := s2.CreateRoom(t, 2, "host", "guest")
	if code := joinCode(t, s2, fresh.Participants[1].Code); code != http.StatusOK {
		t.Fatalf("join by a code made after the rotation: HTTP %d", code)
	}
	s2.Stop(t)

	// 91 days on, the old pepper's grace is over and it is dropped; the
	// API key, re-hashed, still works, and a wrong key still does not.
	later := func(c *server.Config) { c.Now = func() time.Time { return time.Now().Add(91 * 24 * time.Hour) } }
	s3 := testutil.StartServer(t, inDir, later)
	if code := listRooms(t, s3, tenantKey); code != http.StatusOK {
		t.Fatalf("API key after the old pepper's grace: HTTP %d", code)
	}
	if code := listRooms(t, s3, tenantKey+"x"); code != http.StatusUnauthorized {
		t.Fatalf("wrong API key: HTTP %d", code)
	}
}

// A store written by a version that kept the secrets in it: on upgrade
// they move to the key file, rooms and keys made before keep working,
// and the store holds them no more.
func TestServerMovesSecretsOutOfAnOldStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pepper, session := bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x43}, 32)

	// The old version: its service hashed and signed with these.
	env := map[string]string{}
	for _, name := range keyring.Names() {
		env[keyring.EnvName(name)] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x44}, 32))
	}
	env[keyring.EnvName(keyring.CodePepper)] = base64.StdEncoding.EncodeToString(pepper)
	env[keyring.EnvName(keyring.SessionKey)] = base64.StdEncoding.EncodeToString(session)
	oldKeys, err := keyring.Load(keyring.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(dir, "konsil.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := api.NewService(ctx, api.ServiceConfig{Store: st, Keys: oldKeys})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := svc.EnsureBootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	room, err := svc.CreateRoom(ctx, boot.TenantID, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host"}, {Role: "guest"}},
	}, "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := bolt.Open(filepath.Join(dir, "konsil.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("secrets"))
		if err := bk.Put([]byte("pepper"), pepper); err != nil {
			return err
		}
		return bk.Put([]byte("session-key"), session)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := testutil.StartServer(t, func(c *server.Config) { c.DataDir = dir })
	if code := joinCode(t, s, room.Participants[1].Code); code != http.StatusOK {
		t.Fatalf("join by a code made before the upgrade: HTTP %d", code)
	}
	if code := listRooms(t, s, boot.TenantKey); code != http.StatusOK {
		t.Fatalf("API key made before the upgrade: HTTP %d", code)
	}
	s.Stop(t)

	ring, err := keyring.Load(keyring.Options{Path: filepath.Join(dir, "konsil.keys")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ring.Current(keyring.CodePepper), pepper) || !bytes.Equal(ring.Current(keyring.SessionKey), session) {
		t.Fatal("the store's secrets did not move to the key file")
	}
	b, err := store.OpenBolt(filepath.Join(dir, "konsil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if left, err := b.LegacySecrets(ctx); err != nil || len(left) != 0 {
		t.Fatalf("store still holds %d secrets (%v)", len(left), err)
	}
}
