package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// TokenBytes is the entropy of a link token: 128 bits.
const TokenBytes = 16

// CodeAlphabet has no characters people confuse when reading or typing
// (no 0/O, 1/I/L, no U/V): 29 symbols, ~4.86 bits each.
const CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTWXYZ"

// CodeLength is the number of symbols of a short code: ~48.6 bits, which the
// per-address limit on failed joins puts far beyond online guessing.
const CodeLength = 10

// Hasher turns tokens, codes and API keys into store keys. It is an HMAC
// with a server pepper, which lives in the key file and never in the
// store (package keyring), so a copy of the store alone does not allow an
// offline search of the short-code space. After a rotation it hashes with
// the new pepper and still finds what the old ones hashed.
type Hasher struct {
	peppers [][]byte // current first
}

// NewHasher returns a Hasher keyed by peppers (each at least 32 bytes):
// the first hashes, all are tried when looking up.
func NewHasher(peppers ...[]byte) (*Hasher, error) {
	ps, err := keyCopies("hasher", "pepper", peppers)
	if err != nil {
		return nil, err
	}
	return &Hasher{peppers: ps}, nil
}

// keyCopies checks that there is at least one key and each has 32 bytes,
// and copies them, so that the caller's slices may change.
func keyCopies(who, what string, keys [][]byte) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no %s", who, what)
	}
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("%s: %s is %d bytes, need 32", who, what, len(k))
		}
		out = append(out, append([]byte(nil), k...))
	}
	return out, nil
}

// Kinds of secret, hashed in separate domains.
const (
	KindToken  = "token"
	KindCode   = "code"
	KindAPIKey = "apikey"
)

// Hash returns the store key of a secret of the given kind under the
// current pepper.
func (h *Hasher) Hash(kind, secret string) []byte {
	return hash(h.peppers[0], kind, secret)
}

// Hashes returns the store keys of a secret under every accepted pepper,
// current first: a lookup tries each.
func (h *Hasher) Hashes(kind, secret string) [][]byte {
	out := make([][]byte, len(h.peppers))
	for i, p := range h.peppers {
		out[i] = hash(p, kind, secret)
	}
	return out
}

func hash(pepper []byte, kind, secret string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// NewToken returns a link token: 128 random bits, base64url without padding.
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewCode returns a short code of CodeLength symbols from CodeAlphabet,
// drawn without modulo bias.
func NewCode() (string, error) {
	var sb strings.Builder
	buf := make([]byte, 32)
	limit := byte(256 - 256%len(CodeAlphabet))
	for sb.Len() < CodeLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("new code: %w", err)
		}
		for _, b := range buf {
			if b >= limit || sb.Len() == CodeLength {
				continue
			}
			sb.WriteByte(CodeAlphabet[int(b)%len(CodeAlphabet)])
		}
	}
	return sb.String(), nil
}

// FormatCode groups a code for reading aloud: "ABCDE-FGHJK".
func FormatCode(code string) string {
	if len(code) != CodeLength {
		return code
	}
	return code[:5] + "-" + code[5:]
}

// NormalizeCode turns what a person typed into the canonical code: case,
// spaces and dashes do not matter. Anything else yields "", which callers
// treat exactly like an unknown code.
func NormalizeCode(typed string) string {
	if len(typed) > 4*CodeLength {
		return ""
	}
	var sb strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r < 128 && strings.ContainsRune(CodeAlphabet, r):
			sb.WriteRune(r)
		default:
			return ""
		}
	}
	if sb.Len() != CodeLength {
		return ""
	}
	return sb.String()
}

// ValidToken tells whether s has the shape of a link token.
func ValidToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(TokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// NewAPIKey returns a new API key ("ksk_" + 32 random bytes, base64url).
func NewAPIKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new api key: %w", err)
	}
	return "ksk_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// NewID returns a random identifier for rooms, participants, tenants and
// keys: 96 bits, base64url, never beginning with "-", so that an id can be
// passed to a command line (`konsil rooms delete ID`) without being read
// as a flag. One draw in 64 would; it is drawn again.
func NewID() (string, error) {
	b := make([]byte, 12)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id, nil
		}
	}
}
