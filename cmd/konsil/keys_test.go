package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
)

// TestKeysCommand: an operator lists the server secrets by fingerprint
// (never the secret), rotates one, and a room made by the local CLI is
// hashed with the server's keys, so its code joins once the server runs.
func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	if err := run(context.Background(), []string{"keys", "list", "--data", dir}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no key file") {
		t.Fatalf("keys list before any start = %v, want no key file", err)
	}
	first, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first.Shutdown(context.Background())

	path := filepath.Join(dir, "konsil.keys")
	ring, err := keyring.Load(keyring.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	out := runOK(t, "keys", "list", "--data", dir)
	for _, name := range keyring.Names() {
		s := ring.Current(name)
		if !strings.Contains(out, name+" ") || !strings.Contains(out, keyring.Fingerprint(s)) {
			t.Errorf("keys list lacks %s:\n%s", name, out)
		}
		if strings.Contains(out, base64.StdEncoding.EncodeToString(s)) || strings.Contains(out, base64.RawURLEncoding.EncodeToString(s)) {
			t.Errorf("keys list prints the %s itself", name)
		}
	}

	out = runOK(t, "keys", "rotate", keyring.CodePepper, "--data", dir)
	if !strings.Contains(out, "Restart konsil serve") {
		t.Errorf("rotate output:\n%s", out)
	}
	out = runOK(t, "keys", "list", "--data", dir)
	if n := strings.Count(out, keyring.CodePepper+" "); n != 2 {
		t.Errorf("%d code-pepper rows after a rotation, want 2 (new, and the old within its grace):\n%s", n, out)
	}
	if err := run(context.Background(), []string{"keys", "rotate", "pepper", "--data", dir}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unknown secret name") {
		t.Errorf("rotate of an unknown name = %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"rooms", "list", "--data", dir}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("local rooms with a world-readable key file = %v, want refused", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	out = runOK(t, "rooms", "create", "--data", dir)
	codes := regexp.MustCompile(`code ([2-9A-Z]{5}-[2-9A-Z]{5})`).FindAllStringSubmatch(out, -1)
	if len(codes) == 0 {
		t.Fatalf("no code in:\n%s", out)
	}
	s := testutil.StartServer(t, func(c *server.Config) { c.DataDir = dir })
	var joined protocol.JoinResponse
	if code := s.Do(t, http.MethodPost, "/api/v1/join", "", protocol.JoinRequest{Code: codes[0][1]}, &joined); code != http.StatusOK {
		t.Fatalf("join by the code of a room the CLI made: HTTP %d", code)
	}
}
