package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/server"
)

var setupRE = regexp.MustCompile(`(\S+)/practice/#setup=([A-Za-z0-9_-]{43})\n`)

// firstStart makes a store as `konsil serve`'s first start does and
// returns its directory and the default practice's id.
func firstStart(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, srv.Bootstrap.TenantID
}

func runErr(args ...string) error {
	return run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
}

func b64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// The operator of a stopped server makes a practice's first setup link;
// the started server takes it as the first admin's, and the user it
// made shows in the list.
func TestUsersCreateAndList(t *testing.T) {
	dir, tenant := firstStart(t)
	out := runOK(t, "users", "create", "--data", dir, "--tenant", tenant, "--role", "admin", "--public-url", "https://video.example.org/")
	m := setupRE.FindStringSubmatch(out)
	if m == nil || m[1] != "https://video.example.org" {
		t.Fatalf("no setup link on https://video.example.org in:\n%s", out)
	}
	token := m[2]
	if list := runOK(t, "users", "list", "--data", dir, "--tenant", tenant); strings.Count(list, "\n") != 1 {
		t.Errorf("a practice without users lists:\n%s", list)
	}

	s := testutil.StartServer(t, func(c *server.Config) { c.DataDir = dir })
	var info practice.SetupInfo
	if code := s.Do(t, "GET", "/api/v1/practice/setup/"+token, "", nil, &info); code != 200 || !info.First || info.Role != "admin" {
		t.Fatalf("setup info of the printed link: %d %+v", code, info)
	}
	t.Run("a running server holds the store", func(t *testing.T) {
		start := time.Now()
		err := runErr("users", "list", "--data", dir, "--tenant", tenant)
		if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "stop konsil serve") ||
			!strings.Contains(err.Error(), "setup link") {
			t.Errorf("list with the server running: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s to give up", d)
		}
	})
	var sess practice.Session
	req := practice.SetupRequest{Email: "Anna.Berg@Praxis.example", Name: "Dr. Anna Berg", PracticeName: "Praxis Berg",
		KDF: practice.KDF{Salt: b64(16), T: 3, M: 65536}, Auth: b64(32), WrappedKey: "v1." + b64(60)}
	if code := s.Do(t, "POST", "/api/v1/practice/setup/"+token, "", req, &sess); code != 201 || sess.User.Role != "admin" {
		t.Fatalf("setup with the printed link: %d %+v", code, sess)
	}
	s.Stop(t)

	list := runOK(t, "users", "list", "--data", dir, "--tenant", tenant)
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sess.User.ID) + `\s+admin\s+anna\.berg@praxis\.example\s+\d{4}-\d\d-\d\dT`)
	if !row.MatchString(list) {
		t.Errorf("list lacks the new admin %s:\n%s", sess.User.ID, list)
	}
	// Now an invitation needs the practice key: made in the workspace.
	err := runErr("users", "create", "--data", dir, "--tenant", tenant, "--role", "clinician")
	if err == nil || !strings.Contains(err.Error(), "already has users") {
		t.Errorf("create for a practice with users: %v", err)
	}
}

func TestUsersRefusals(t *testing.T) {
	dir, tenant := firstStart(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--tenant", tenant, "--role", "doctor"}, "admin, clinician or assistant"},
		{[]string{"create", "--tenant", tenant}, "admin, clinician or assistant"},
		{[]string{"create", "--tenant", tenant, "--role", "assistant"}, "first user must be an admin"},
		{[]string{"list", "--tenant", "no-such-practice"}, `no practice (tenant) has the id "no-such-practice"`},
	} {
		err := runErr(append(append([]string{"users"}, c.args...), "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("users %s: %v, want it to say %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if err := runErr("users", "frobnicate"); err != errUsage {
		t.Errorf("unknown users command: %v", err)
	}
}
