package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/server"
)

var linkRE = regexp.MustCompile(`(http://\S+/r/([A-Za-z0-9_-]{22}))#k=([A-Za-z0-9_-]{43})`)

// konsil rooms create against a running server prints links that join,
// each with the same fresh room secret in its fragment; list and delete
// act on the same room.
func TestRoomsAgainstServer(t *testing.T) {
	s := testutil.StartServer(t)
	flags := []string{"--server", s.URL, "--api-key", s.TenantKey}
	out := runOK(t, append([]string{"rooms", "create", "--guests", "2", "--capacity", "3"}, flags...)...)
	links := linkRE.FindAllStringSubmatch(out, -1)
	if len(links) != 3 {
		t.Fatalf("want 3 links in:\n%s", out)
	}
	if links[0][3] != links[1][3] || links[1][3] != links[2][3] {
		t.Error("links of one room carry different secrets")
	}
	var j struct{ Mode string }
	if code := s.Do(t, "POST", "/api/v1/join", "", map[string]string{"token": links[1][2]}, &j); code != 200 || j.Mode != "sfu" {
		t.Fatalf("join with printed link: %d %+v", code, j)
	}
	id := regexp.MustCompile(`Room (\S+) `).FindStringSubmatch(out)[1]
	if list := runOK(t, append([]string{"rooms", "list"}, flags...)...); !strings.Contains(list, id) {
		t.Errorf("list lacks %s:\n%s", id, list)
	}
	runOK(t, append([]string{"rooms", "delete"}, append(flags, id)...)...)
	if list := runOK(t, append([]string{"rooms", "list"}, flags...)...); strings.Contains(list, id) {
		t.Errorf("deleted room still listed:\n%s", list)
	}
	if err := run(context.Background(), append([]string{"rooms", "create"}, "--server", s.URL, "--api-key", "ksk_wrong"), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("wrong key: %v", err)
	}
}

// With the server stopped, the same command works on the local store, and
// the server finds the room when it starts again.
func TestRoomsOnLocalStore(t *testing.T) {
	dir := t.TempDir()
	if err := run(context.Background(), []string{"rooms", "create", "--data", dir}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("create on a store no server ever initialised succeeded")
	}
	first, err := server.New(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first.Shutdown(context.Background())
	day := time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	out := runOK(t, "rooms", "create", "--data", dir, "--day", day, "--tz", "Europe/Berlin")
	if !regexp.MustCompile(`Valid ` + day + `T00:00:00\+0[12]:00 to \S+T00:00:00\+0[12]:00`).MatchString(out) {
		t.Errorf("window is not the Berlin day %s:\n%s", day, out)
	}
	if n := len(linkRE.FindAllString(out, -1)); n != 2 {
		t.Errorf("%d links in:\n%s", n, out)
	}
}

// TestRoomsPapercuts: what a new user met (audit finding 9): help
// without opening a store, a flag after the room id, list and create
// writing a window alike, more links than seats refused.
func TestRoomsPapercuts(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"rooms", "-h", "--data", "/nonexistent/konsil"}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "usage: konsil rooms") {
		t.Errorf("rooms -h: %v %q %q", err, stdout.String(), stderr.String())
	}
	s := testutil.StartServer(t)
	flags := []string{"--server", s.URL, "--api-key", s.TenantKey}
	day := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	out := runOK(t, append([]string{"rooms", "create", "--day", day, "--tz", "Europe/Berlin"}, flags...)...)
	id := regexp.MustCompile(`Room (\S+) `).FindStringSubmatch(out)[1]
	valid := regexp.MustCompile(`Valid (\S+) to`).FindStringSubmatch(out)[1]
	if list := runOK(t, append([]string{"rooms", "list"}, flags...)...); !strings.Contains(list, valid) {
		t.Errorf("create wrote the window as %s; list does not:\n%s", valid, list)
	}
	runOK(t, append([]string{"rooms", "delete", id}, flags...)...)
	if list := runOK(t, append([]string{"rooms", "list"}, flags...)...); strings.Contains(list, id) {
		t.Errorf("rooms delete ID --api-key …: the room is still listed:\n%s", list)
	}
	err := run(context.Background(), append([]string{"rooms", "create", "--hosts", "3", "--guests", "3", "--capacity", "4"}, flags...), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "6 links for a room of 4") {
		t.Errorf("6 links for 4 seats: %v", err)
	}
	if err := run(context.Background(), append([]string{"rooms", "list", "extra"}, flags...), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("rooms list with a stray argument succeeded")
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: %v %q", err, stderr.String())
	}
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("konsil %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
