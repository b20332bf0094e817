package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/testutil"
)

// The example as an integrator runs it: built, then started twice with
// the two links of a consultation against a server on 127.0.0.1. Both
// sides connect (which includes the fingerprint check under the room
// secret), the host says its line, the guest answers it and the host
// leaves on hearing the answer; the guest learns the host's name and
// sees it leave.
func TestExampleCallConnectsAndChats(t *testing.T) {
	bin := buildExample(t)
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	secret := make([]byte, e2ee.SecretSize)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	link := func(i int) string {
		return s.URL + "/r/" + room.Participants[i].Token + "#k=" + e2ee.FormatSecret(secret)
	}
	guest := startExample(t, bin, "--loopback", "--name", "Erika Mustermann", "--say", "Guten Tag, Frau Doktor", "--reply", link(1))
	host := startExample(t, bin, "--loopback", "--name", "Dr. Anna Berg", "--say", "Guten Tag, Frau Mustermann", "--exit-after-chat", link(0))

	hostOut := host.wait(t, "host")
	guestOut := guest.wait(t, "guest")
	for who, c := range map[string]struct {
		out  string
		want []string
	}{
		"host":  {hostOut, []string{"connected", "chat: Guten Tag, Frau Doktor"}},
		"guest": {guestOut, []string{"connected", "chat: Guten Tag, Frau Mustermann", "peer name: Dr. Anna Berg", "peer left"}},
	} {
		lines := strings.Split(strings.TrimSpace(c.out), "\n")
		for _, w := range c.want {
			if !contains(lines, w) {
				t.Errorf("%s printed no line %q:\n%s", who, w, c.out)
			}
		}
	}
}

// A link without its room secret is refused before anything is joined.
func TestExampleRefusesLinkWithoutSecret(t *testing.T) {
	for _, link := range []string{
		"https://konsil.example/r/abc",
		"https://konsil.example/r/abc#k=AAEC",
		"https://konsil.example/join/abc#k=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	} {
		if _, err := parseArgs([]string{link}); err == nil {
			t.Errorf("parseArgs(%q) accepted it", link)
		}
	}
	c, err := parseArgs([]string{"https://konsil.example/r/abc#k=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"})
	if err != nil || c.server != "https://konsil.example" || c.join.Token != "abc" || len(c.secret) != 32 {
		t.Errorf("parseArgs = %+v, %v", c, err)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func buildExample(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the example with")
	}
	bin := filepath.Join(t.TempDir(), "sdk-call")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

// startExample runs the example; the context only keeps a hung run from
// outliving the test (the program gives up itself after --timeout).
func startExample(t *testing.T, bin string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	r := &running{done: make(chan error, 1)}
	r.cmd = exec.CommandContext(ctx, bin, append([]string{"--timeout", "60s"}, args...)...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// wait waits for the run to end and returns what it printed.
func (r *running) wait(t *testing.T, who string) string {
	t.Helper()
	err := <-r.done
	r.done <- err // for the cleanup
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", who, err, r.stdout.String(), r.stderr.String())
	}
	return r.stdout.String()
}
