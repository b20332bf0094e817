package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	redisstore "github.com/konsil/konsil/store/redis"
)

// serveUntilRunning runs konsil serve with args until it says it is
// running, stops it, and returns what it printed.
func serveUntilRunning(t *testing.T, args []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out testutil.SyncBuffer
	go func() { done <- serve(ctx, args, &out, io.Discard) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "is running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	return out.String()
}

// With --redis the state lives in Redis: the first start makes its keys
// there (not in a bbolt file), a restart finds them, and the server
// secrets stay in the key file in --data.
func TestServeOnRedis(t *testing.T) {
	srv := testutil.StartRedis(t)
	dir := t.TempDir()
	args := []string{"--redis", srv.URL, "--data", dir, "--addr", "127.0.0.1:0", "--turn=false", "--sfu-udp", "127.0.0.1:0", "--sfu-tcp", ""}

	if out := serveUntilRunning(t, args); !strings.Contains(out, "First start: keys created") {
		t.Fatalf("first start on an empty Redis did not make keys:\n%s", out)
	}
	if out := serveUntilRunning(t, args); strings.Contains(out, "First start") {
		t.Fatalf("second start on the same Redis made keys again:\n%s", out)
	}

	st, err := redisstore.Open(context.Background(), redisstore.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tenants, err := st.ListTenants(context.Background())
	if err != nil || len(tenants) != 1 || tenants[0].Name != api.DefaultTenantName {
		t.Fatalf("tenants in Redis = %+v, %v; want the default one", tenants, err)
	}
	if admins, err := st.ListAPIKeys(context.Background(), ""); err != nil || len(admins) != 1 {
		t.Fatalf("admin keys in Redis = %d, %v; want the first start's one", len(admins), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "konsil.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve --redis made a bbolt file (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "konsil.keys")); err != nil {
		t.Errorf("serve --redis kept no key file in --data: %v", err)
	}
}

// A Redis that does not answer stops serve at start, naming the flag.
func TestServeRedisUnreachable(t *testing.T) {
	srv := testutil.StartRedis(t)
	srv.Stop()
	t.Setenv("KONSIL_REDIS_URL", srv.URL)
	err := serve(context.Background(), []string{"--data", t.TempDir(), "--addr", "127.0.0.1:0", "--turn=false", "--sfu-udp", "127.0.0.1:0", "--sfu-tcp", ""}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--redis") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("serve with KONSIL_REDIS_URL of a stopped Redis: %v; want an unreachable --redis error", err)
	}
}
