package keyring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestLoadCreatesPrivateFileAndKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "konsil.keys")
	r1, err := Load(Options{Path: path, Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	seen := map[string]bool{}
	for _, name := range Names() {
		s := r1.Current(name)
		if len(s) != 32 || r1.Source(name) != "file" {
			t.Fatalf("%s: %d bytes from %q", name, len(s), r1.Source(name))
		}
		if seen[string(s)] {
			t.Fatalf("%s repeats another secret", name)
		}
		seen[string(s)] = true
	}
	r2, err := Load(Options{Path: path, Now: at(t0.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !bytes.Equal(r1.Current(name), r2.Current(name)) {
			t.Fatalf("%s changed across loads", name)
		}
	}
}

func TestLoadRefusesExposedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "konsil.keys")
	if _, err := Load(Options{Path: path, Now: at(t0)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Path: path, Now: at(t0)})
	if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("load of a 0644 key file = %v, want ErrExposed naming the fix", err)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	for name, body := range map[string]string{
		"not json":     "pepper=abc",
		"wrong name":   `{"version":1,"keys":{"pepper":[{"secret":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}]}}`,
		"short secret": `{"version":1,"keys":{"code-pepper":[{"secret":"` + short + `"}]}}`,
		"version 2":    `{"version":2,"keys":{}}`,
		"extra field":  `{"version":1,"keys":{},"pepper":"x"}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(Options{Path: path, Now: at(t0)}); err == nil {
			t.Errorf("%s: loaded, want an error", name)
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	cur, old := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	env := map[string]string{
		EnvName(CodePepper):  base64.StdEncoding.EncodeToString(cur) + "," + base64.RawURLEncoding.EncodeToString(old),
		EnvName(SessionKey):  base64.StdEncoding.EncodeToString(cur),
		EnvName(PracticeKey): base64.StdEncoding.EncodeToString(old),
		EnvName(TURNSecret):  base64.StdEncoding.EncodeToString(cur),
	}
	// Every secret in the environment: no file is needed or written.
	path := filepath.Join(t.TempDir(), "konsil.keys")
	r, err := Load(Options{Path: path, Getenv: func(k string) string { return env[k] }, Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key file written though every secret came from the environment: %v", err)
	}
	got := r.Accepted(CodePepper)
	if len(got) != 2 || !bytes.Equal(got[0], cur) || !bytes.Equal(got[1], old) || r.Source(CodePepper) != "env" {
		t.Fatalf("code pepper from env = %x (%s)", got, r.Source(CodePepper))
	}
	if EnvName(CodePepper) != "KONSIL_KEY_CODE_PEPPER" {
		t.Fatalf("EnvName = %s", EnvName(CodePepper))
	}

	// One secret missing from the environment and no file: refused by name.
	delete(env, EnvName(TURNSecret))
	if _, err := Load(Options{Getenv: func(k string) string { return env[k] }, Now: at(t0)}); err == nil || !strings.Contains(err.Error(), "KONSIL_KEY_TURN_SECRET") {
		t.Fatalf("load without the TURN secret = %v, want it named", err)
	}
	env[EnvName(TURNSecret)] = "c2hvcnQ=" // "short"
	if _, err := Load(Options{Getenv: func(k string) string { return env[k] }, Now: at(t0)}); err == nil || !strings.Contains(err.Error(), "need 32") {
		t.Fatalf("load with a short secret = %v", err)
	}
}

func TestRotateKeepsOldKeyForGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "konsil.keys")
	r, err := Load(Options{Path: path, Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	first := r.Current(SessionKey)
	k, err := Rotate(path, SessionKey, -1, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r, err = Load(Options{Path: path, Now: at(t0.Add(30 * time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	acc := r.Accepted(SessionKey)
	if len(acc) != 2 || !bytes.Equal(acc[0], k.Secret) || !bytes.Equal(acc[1], first) {
		t.Fatalf("within the grace period: %d keys accepted, want new then old", len(acc))
	}
	if other := r.Accepted(CodePepper); len(other) != 1 {
		t.Fatalf("rotating the session key touched the pepper: %d keys", len(other))
	}
	// DefaultGrace(SessionKey) is an hour: after it the old key is gone.
	r, err = Load(Options{Path: path, Now: at(t0.Add(time.Minute + time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if acc := r.Accepted(SessionKey); len(acc) != 1 || !bytes.Equal(acc[0], k.Secret) {
		t.Fatalf("after the grace period: %d keys accepted, want only the new one", len(acc))
	}

	if _, err := Rotate(path, "pepper", -1, t0); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("rotate an unknown name = %v", err)
	}
	// A zero grace retires the old key at once.
	k2, err := Rotate(path, CodePepper, 0, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err = Load(Options{Path: path, Now: at(t0.Add(2 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if acc := r.Accepted(CodePepper); len(acc) != 1 || !bytes.Equal(acc[0], k2.Secret) {
		t.Fatalf("rotation with zero grace: %d peppers accepted", len(acc))
	}
}

func TestLoadImportsMissingSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "konsil.keys")
	old := bytes.Repeat([]byte{7}, 32)
	r, err := Load(Options{Path: path, Now: at(t0), Import: map[string][]byte{CodePepper: old}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Current(CodePepper), old) {
		t.Fatal("imported pepper not used")
	}
	// Once in the file, an import no longer changes it.
	r, err = Load(Options{Path: path, Now: at(t0), Import: map[string][]byte{CodePepper: bytes.Repeat([]byte{8}, 32)}})
	if err != nil || !bytes.Equal(r.Current(CodePepper), old) {
		t.Fatalf("second import replaced the pepper (%v)", err)
	}
}
