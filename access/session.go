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
// accepts it, so no session table is needed.
type Sessions struct {
	key []byte
}

// NewSessions returns a token issuer keyed by key (at least 32 bytes).
func NewSessions(key []byte) (*Sessions, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("sessions: key is %d bytes, need 32", len(key))
	}
	return &Sessions{key: append([]byte(nil), key...)}, nil
}

// Issue returns a token for s.
func (ss *Sessions) Issue(s Session) (string, error) {
	claims, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("issue session: %w", err)
	}
	body := base64.RawURLEncoding.EncodeToString(claims)
	return body + "." + base64.RawURLEncoding.EncodeToString(ss.mac(body)), nil
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
	if err != nil || !hmac.Equal(got, ss.mac(body)) {
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

func (ss *Sessions) mac(body string) []byte {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte("konsil-session\x00"))
	m.Write([]byte(body))
	return m.Sum(nil)
}
