// Package keyring holds the server's own secrets: the pepper that keys the
// hashes of codes, tokens and API keys, the key that signs session
// tokens, the practice key behind the workspace's decoy salts, and the
// TURN credential secret. They live outside the store on purpose: a copy
// of konsil.db (a backup, a stolen disk image) holds only hashes, which
// without the pepper allow no offline guessing of codes and no forged
// session tokens.
//
// Secrets come from a key file (created on first start with mode 0600 and
// refused when others can read it) or, for clusters and secret managers,
// from KONSIL_KEY_* environment variables. Each secret may have retired
// predecessors that are still accepted until their grace period ends, so
// a rotation does not end the sessions and links made under the old key.
// The package knows nothing of the store or of HTTP.
package keyring

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Names of the server's secrets.
const (
	// CodePepper keys the HMAC under which link tokens, short codes and
	// API keys are stored.
	CodePepper = "code-pepper"
	// SessionKey signs session tokens.
	SessionKey = "session-key"
	// PracticeKey derives the workspace's decoy KDF salts for unknown
	// e-mail addresses.
	PracticeKey = "practice-key"
	// TURNSecret is the TURN REST shared secret (coturn's
	// static-auth-secret) of the embedded relay.
	TURNSecret = "turn-secret"
)

// Names lists every secret the server needs.
func Names() []string { return []string{CodePepper, SessionKey, PracticeKey, TURNSecret} }

// DefaultGrace is how long a rotated-out secret stays accepted unless the
// rotation names another period. Each is the longest life of what the
// secret protects: session tokens live minutes; TURN credentials a room
// window (at most 72 h) plus 15 min; codes and links are made ahead of
// their appointment, so the pepper's predecessor is kept for 90 days
// (API keys are re-hashed under the new pepper on their first use). The
// practice key only makes decoy salts, which may change at once.
func DefaultGrace(name string) time.Duration {
	switch name {
	case CodePepper:
		return 90 * 24 * time.Hour
	case SessionKey:
		return time.Hour
	case TURNSecret:
		return 73 * time.Hour
	}
	return 0
}

// secretBytes is the size of a generated secret.
const secretBytes = 32

// maxFile bounds the key file we read: a few keys take far less.
const maxFile = 64 << 10

// Errors a caller may branch on.
var (
	// ErrExposed: the key file can be read by users other than its owner.
	ErrExposed = errors.New("keyring: key file is readable by others")
	// ErrUnknownName: a secret name the server does not use.
	ErrUnknownName = errors.New("keyring: unknown secret name")
)

// Key is one generation of a secret.
type Key struct {
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
	// Until is when a retired key stops being accepted; zero for the
	// current key and for keys given in the environment.
	Until time.Time `json:"until,omitzero"`
}

// Ring is the loaded set of secrets. It is read-only after Load and safe
// for concurrent use.
type Ring struct {
	keys map[string][]Key // current first
	// Source tells per name where the secret came from: "file" or "env".
	source map[string]string
}

// Current returns the secret that signs and hashes new things.
func (r *Ring) Current(name string) []byte {
	ks := r.keys[name]
	if len(ks) == 0 {
		return nil
	}
	return ks[0].Secret
}

// Accepted returns every secret still accepted for name, current first.
func (r *Ring) Accepted(name string) [][]byte {
	out := make([][]byte, 0, len(r.keys[name]))
	for _, k := range r.keys[name] {
		out = append(out, k.Secret)
	}
	return out
}

// Keys returns the generations of name, current first.
func (r *Ring) Keys(name string) []Key { return slices.Clone(r.keys[name]) }

// Source tells where name's secret came from: "file", "env" or
// "ephemeral".
func (r *Ring) Source(name string) string { return r.source[name] }

// Fingerprint identifies a secret in listings without revealing it: the
// first 8 bytes of its SHA-256, in hex.
func Fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:8])
}

// Options say where Load finds the secrets.
type Options struct {
	// Path is the key file; empty means every secret must come from the
	// environment.
	Path string
	// Getenv reads the environment (os.Getenv); nil reads none.
	Getenv func(string) string
	// Now is the clock for creation times and grace periods.
	Now func() time.Time
	// Import gives values for secrets the file does not have yet: an
	// older store's secrets, moved out of it on upgrade.
	Import map[string][]byte
}

// EnvName is the environment variable that gives a secret: KONSIL_KEY_
// and the name in capitals with underscores (KONSIL_KEY_CODE_PEPPER). Its
// value is the current secret in base64, optionally followed by retired
// ones still accepted, comma-separated.
func EnvName(name string) string {
	return "KONSIL_KEY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Load reads the secrets: a name given in the environment wins; the rest
// come from the key file, which is created (mode 0600) or completed with
// new random secrets when a name is missing. Retired keys past their grace
// period are dropped.
func Load(o Options) (*Ring, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()
	r := &Ring{keys: map[string][]Key{}, source: map[string]string{}}
	var fromFile []string
	for _, name := range Names() {
		v := ""
		if o.Getenv != nil {
			v = o.Getenv(EnvName(name))
		}
		if v == "" {
			fromFile = append(fromFile, name)
			continue
		}
		ks, err := parseEnv(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvName(name), err)
		}
		r.keys[name], r.source[name] = ks, "env"
	}
	if len(fromFile) == 0 {
		return r, nil
	}
	if o.Path == "" {
		return nil, fmt.Errorf("keyring: no key file, and %s is not set", EnvName(fromFile[0]))
	}
	file, err := readFile(o.Path)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, name := range fromFile {
		ks := live(file.Keys[name], now)
		if len(ks) != len(file.Keys[name]) {
			changed = true
		}
		if len(ks) == 0 {
			secret := o.Import[name]
			if len(secret) == 0 {
				if secret, err = newSecret(); err != nil {
					return nil, err
				}
			}
			ks = []Key{{Secret: bytes.Clone(secret), Created: now.UTC()}}
			changed = true
		}
		file.Keys[name] = ks
		r.keys[name], r.source[name] = ks, "file"
	}
	if changed {
		if err := writeFile(o.Path, file); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Ephemeral returns a ring of random secrets that live as long as the
// process: for tools and tests that keep nothing.
func Ephemeral() (*Ring, error) {
	r := &Ring{keys: map[string][]Key{}, source: map[string]string{}}
	for _, name := range Names() {
		s, err := newSecret()
		if err != nil {
			return nil, err
		}
		r.keys[name], r.source[name] = []Key{{Secret: s}}, "ephemeral"
	}
	return r, nil
}

// Rotate makes a new current secret for name in the key file at path; the
// former one stays accepted for grace (DefaultGrace(name) when negative).
// A running server reads the file when it starts, so the new key takes
// effect at its next start.
func Rotate(path, name string, grace time.Duration, now time.Time) (Key, error) {
	if !slices.Contains(Names(), name) {
		return Key{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownName, name, strings.Join(Names(), ", "))
	}
	if grace < 0 {
		grace = DefaultGrace(name)
	}
	file, err := readFile(path)
	if err != nil {
		return Key{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Key{}, err
	}
	ks := live(file.Keys[name], now)
	if len(ks) > 0 && ks[0].Until.IsZero() {
		ks[0].Until = now.Add(grace).UTC()
	}
	ks = live(ks, now) // a zero grace retires the old key at once
	k := Key{Secret: secret, Created: now.UTC()}
	file.Keys[name] = append([]Key{k}, ks...)
	if err := writeFile(path, file); err != nil {
		return Key{}, err
	}
	return k, nil
}

// fileFormat is the key file: JSON, version 1.
type fileFormat struct {
	Version int              `json:"version"`
	Keys    map[string][]Key `json:"keys"`
}

// readFile reads the key file; a missing file reads as empty.
func readFile(path string) (fileFormat, error) {
	empty := fileFormat{Version: 1, Keys: map[string][]Key{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("keyring: open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return empty, fmt.Errorf("keyring: %s: %w", path, err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return empty, fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrExposed, path, info.Mode().Perm(), path)
	}
	if info.Size() > maxFile {
		return empty, fmt.Errorf("keyring: %s is %d bytes, more than a key file holds", path, info.Size())
	}
	var file fileFormat
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return empty, fmt.Errorf("keyring: %s is not a key file: %w", path, err)
	}
	if file.Version != 1 {
		return empty, fmt.Errorf("keyring: %s has version %d, this server reads 1", path, file.Version)
	}
	if file.Keys == nil {
		file.Keys = map[string][]Key{}
	}
	for name, ks := range file.Keys {
		if !slices.Contains(Names(), name) {
			return empty, fmt.Errorf("keyring: %s: %w: %q", path, ErrUnknownName, name)
		}
		for _, k := range ks {
			if len(k.Secret) < secretBytes {
				return empty, fmt.Errorf("keyring: %s: a %s key has %d bytes, need %d", path, name, len(k.Secret), secretBytes)
			}
		}
	}
	return file, nil
}

// writeFile replaces the key file atomically: a new file with mode 0600
// in the same directory, synced, then renamed over the old one.
func writeFile(path string, file fileFormat) error {
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("keyring: encode: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".konsil-keys-*")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keyring: replace %s: %w", path, err)
	}
	return nil
}

// live drops the keys whose grace period has ended.
func live(ks []Key, now time.Time) []Key {
	out := make([]Key, 0, len(ks))
	for _, k := range ks {
		if k.Until.IsZero() || now.Before(k.Until) {
			out = append(out, k)
		}
	}
	return out
}

// parseEnv reads "current[,retired...]", each standard or URL base64.
func parseEnv(v string) ([]Key, error) {
	if len(v) > maxFile {
		return nil, errors.New("value too long")
	}
	var ks []Key
	for i, part := range strings.Split(v, ",") {
		s, err := decodeBase64(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("secret %d is not base64: %w", i+1, err)
		}
		if len(s) < secretBytes {
			return nil, fmt.Errorf("secret %d has %d bytes, need %d (e.g. openssl rand -base64 32)", i+1, len(s), secretBytes)
		}
		ks = append(ks, Key{Secret: s})
	}
	return ks, nil
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not standard or URL base64")
}

func newSecret() ([]byte, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("keyring: random: %w", err)
	}
	return b, nil
}
