package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadSession is returned for a session token that is malformed, forged
// or expired; the reason is wrapped for logs at debug level only.
var ErrBadSession = errors.New("invalid session token")

// Session is what a session token grants: one participant of one room until
// Expires.
type Session struct {
	RoomID        string `json:"r"`
	ParticipantID string `json:"p"`
	Expires       int64  `json:"e"`
}

// Sessions issues and checks session tokens. A token is the JSON claims and
// an HMAC-SHA256 over them, both base64url; any node holding the same key
// accepts it, so no session table is needed. After a rotation tokens are
// signed with the new key, and those signed with a retired one are
// accepted until its grace period ends.
type Sessions struct {
	keys [][]byte // current first
}

// NewSessions returns a token issuer keyed by keys (each at least 32
// bytes): the first signs, all are accepted.
func NewSessions(keys ...[]byte) (*Sessions, error) {
	ks, err := keyCopies("sessions", "key", keys)
	if err != nil {
		return nil, err
	}
	return &Sessions{keys: ks}, nil
}

// Issue returns a token for s.
func (ss *Sessions) Issue(s Session) (string, error) {
	claims, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("issue session: %w", err)
	}
	body := base64.RawURLEncoding.EncodeToString(claims)
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(ss.keys[0], body)), nil
}

// Check verifies token at now and returns its claims.
func (ss *Sessions) Check(token string, now time.Time) (Session, error) {
	var s Session
	if len(token) > 1024 {
		return s, fmt.Errorf("%w: too long", ErrBadSession)
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return s, fmt.Errorf("%w: no signature", ErrBadSession)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !ss.signed(body, got) {
		return s, fmt.Errorf("%w: bad signature", ErrBadSession)
	}
	claims, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return s, fmt.Errorf("%w: bad encoding", ErrBadSession)
	}
	if err := json.Unmarshal(claims, &s); err != nil {
		return Session{}, fmt.Errorf("%w: bad claims", ErrBadSession)
	}
	if now.Unix() >= s.Expires {
		return Session{}, fmt.Errorf("%w: expired", ErrBadSession)
	}
	return s, nil
}

// signed tells whether sig is body's MAC under an accepted key.
func (ss *Sessions) signed(body string, sig []byte) bool {
	for _, k := range ss.keys {
		if hmac.Equal(sig, mac(k, body)) {
			return true
		}
	}
	return false
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("konsil-session\x00"))
	m.Write([]byte(body))
	return m.Sum(nil)
}
