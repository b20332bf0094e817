package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The behaviour of the Store interface is tested once for every store,
// in package storetest (contract_test.go runs it on bbolt). Here: what
// only the bbolt store has, its file, its lock and the secrets older
// versions kept in it.

// openTestBolt opens a store in a fresh directory and closes it when the test
// ends. It returns the path so tests can reopen the same file.
func openTestBolt(t *testing.T) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "konsil.db")
	return openBoltAt(t, path), path
}

func openBoltAt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// reopen closes b and opens the same file again, as a restart would.
func reopen(t *testing.T, b *Bolt, path string) *Bolt {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openBoltAt(t, path)
}

// TestBoltLegacySecrets: a store written by a version that kept the
// server secrets in it hands them over once and then holds none.
func TestBoltLegacySecrets(t *testing.T) {
	ctx := context.Background()
	b, path := openTestBolt(t)
	if got, err := b.LegacySecrets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LegacySecrets of a new store = %v, %v; want none", got, err)
	}
	// What an older version wrote: name -> raw bytes in the secrets bucket.
	if err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketSecrets))
		if err := bk.Put([]byte("pepper"), []byte("old-pepper")); err != nil {
			return err
		}
		return bk.Put([]byte("session-key"), []byte("old-session-key"))
	}); err != nil {
		t.Fatal(err)
	}
	b = reopen(t, b, path)
	got, err := b.LegacySecrets(ctx)
	if err != nil || string(got["pepper"]) != "old-pepper" || string(got["session-key"]) != "old-session-key" || len(got) != 2 {
		t.Fatalf("LegacySecrets = %q, %v", got, err)
	}
	if err := b.DropLegacySecrets(ctx); err != nil {
		t.Fatal(err)
	}
	b = reopen(t, b, path)
	if got, err := b.LegacySecrets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LegacySecrets after drop = %q, %v; want none", got, err)
	}
}

func TestOpenBoltCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "konsil")
	path := filepath.Join(dir, "konsil.db")
	openBoltAt(t, path)

	for _, p := range []string{dir, path} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v; want no group or other access", p, perm)
		}
	}
}

func TestOpenBoltInUse(t *testing.T) {
	b, path := openTestBolt(t)

	done := make(chan error, 1)
	go func() {
		second, err := OpenBolt(path)
		if err == nil {
			_ = second.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("second OpenBolt: %v; want an in-use error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second OpenBolt still waiting after 5s")
	}

	// Once the first holder closes, the file opens normally.
	reopen(t, b, path)
}

// TestBoltLegacySecretsCancelledContext: the bbolt-only calls, like
// every Store call (storetest), do nothing for a caller that has gone.
func TestBoltLegacySecretsCancelledContext(t *testing.T) {
	b, _ := openTestBolt(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.LegacySecrets(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("LegacySecrets: error %v, want %v", err, context.Canceled)
	}
	if err := b.DropLegacySecrets(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("DropLegacySecrets: error %v, want %v", err, context.Canceled)
	}
}
