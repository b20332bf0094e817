package store_test

import (
	"path/filepath"
	"testing"

	"github.com/konsil/konsil/store"
	"github.com/konsil/konsil/store/storetest"
)

// TestBoltContract runs the store contract on bbolt; reopen closes the
// file and opens it again, as a restart does.
func TestBoltContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "konsil.db")
		open := func() store.Store {
			b, err := store.OpenBolt(path)
			if err != nil {
				t.Fatalf("OpenBolt: %v", err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
		s := open()
		return s, func() store.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s = open()
			return s
		}
	})
}
