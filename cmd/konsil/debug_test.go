package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/internal/testutil"
)

func TestDebugAddrOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.org:6060", "6060"} {
		if ln, err := listenDebug(addr); err == nil {
			ln.Close()
			t.Errorf("listenDebug(%q) accepted a non-loopback address", addr)
		} else if !strings.Contains(err.Error(), "debug-addr") {
			t.Errorf("listenDebug(%q) error %q does not name the flag", addr, err)
		}
	}
	ln, err := listenDebug("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "heap profile") {
		t.Fatalf("heap profile: %d %.80q", resp.StatusCode, b)
	}
}

// A first start that fails on its flags (a profiler address that is not
// loopback) fails before the bootstrap keys are made, so the next start
// is still the first and shows them.
func TestFailedFirstStartKeepsTheKeysToShow(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--data", dir, "--addr", "127.0.0.1:0", "--turn=false", "--sfu-udp", "127.0.0.1:0", "--sfu-tcp", ""}
	var first bytes.Buffer
	err := serve(context.Background(), append(args, "--debug-addr", "0.0.0.0:6060"), &first, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "debug-addr") {
		t.Fatalf("serve with a public profiler address: %v, want a debug-addr error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var second testutil.SyncBuffer
	go func() { done <- serve(ctx, args, &second, io.Discard) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(second.String(), "is running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("second start: %v", err)
	}
	if !strings.Contains(second.String(), "First start: keys created") {
		t.Fatalf("second start did not show the keys:\n%s", second.String())
	}
}
