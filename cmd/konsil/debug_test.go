package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
