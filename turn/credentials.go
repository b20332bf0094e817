package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1; coturn checks exactly this.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/konsil/konsil/protocol"
)

// Errors of a TURN username, as the server sees it. Clients only ever see
// 401 Unauthorized (STUN has no field for why); these name the reason in
// logs and in konsil_turn_refusals_total.
var (
	// ErrCredentialMalformed: the username is not "expiry:participant".
	ErrCredentialMalformed = errors.New("turn: credential is not expiry:participant")
	// ErrCredentialExpired: the expiry in the username has passed.
	ErrCredentialExpired = errors.New("turn: credential expired")
	// ErrCredentialForged: the password is not the HMAC of the username
	// under our secret (someone edited the expiry, or another secret).
	ErrCredentialForged = errors.New("turn: credential not issued by this server")
)

// maxUsername bounds what we parse: a Unix time, a colon and a
// participant id fit in far less.
const maxUsername = 128

// DefaultGrace is how long a credential outlives the room's window: long
// enough for a consultation that runs a few minutes over, short enough
// that a link from yesterday relays nothing today.
const DefaultGrace = 15 * time.Minute

// Credentials issues and checks time-limited TURN REST credentials
// (draft-uberti-behave-turn-rest-00 §2.2, coturn's use-auth-secret):
// username "expiry:participant" with expiry in Unix seconds, password
// base64(HMAC-SHA1(secret, username)). The server keeps no list of them:
// anyone holding the secret can check one, which is what lets coturn
// stand in for the embedded relay.
type Credentials struct {
	Secret []byte
	// Grace is added to the room's window end; DefaultGrace when zero.
	Grace time.Duration
}

// Issue returns a username and password valid until the end of the room
// window plus the grace period.
func (c Credentials) Issue(participant string, until time.Time) (username, password string) {
	grace := c.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	username = strconv.FormatInt(until.Add(grace).Unix(), 10) + ":" + participant
	return username, c.Password(username)
}

// Password is the password that belongs to username under c's secret.
func (c Credentials) Password(username string) string {
	mac := hmac.New(sha1.New, c.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Check returns the participant and expiry of a credential, or the error
// that refuses it. The TURN server itself compares keys, not passwords
// (RFC 8489 §9.2), and calls only ParseUsername and the clock; Check is
// the whole rule in one place for callers and tests.
func (c Credentials) Check(username, password string, now time.Time) (participant string, expiry time.Time, err error) {
	participant, expiry, err = ParseUsername(username)
	if err != nil {
		return "", time.Time{}, err
	}
	if !hmac.Equal([]byte(password), []byte(c.Password(username))) {
		return "", time.Time{}, ErrCredentialForged
	}
	if !now.Before(expiry) {
		return "", time.Time{}, fmt.Errorf("%w at %s", ErrCredentialExpired, expiry.UTC().Format(time.RFC3339))
	}
	return participant, expiry, nil
}

// ParseUsername splits "expiry:participant".
func ParseUsername(username string) (participant string, expiry time.Time, err error) {
	if len(username) > maxUsername {
		return "", time.Time{}, ErrCredentialMalformed
	}
	ts, participant, ok := strings.Cut(username, ":")
	if !ok || participant == "" || ts == "" || ts[0] == '-' || ts[0] == '+' {
		return "", time.Time{}, ErrCredentialMalformed
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, ErrCredentialMalformed
	}
	return participant, time.Unix(sec, 0), nil
}

// External hands out credentials for a TURN server Konsil does not run,
// such as coturn configured with use-auth-secret and the same
// static-auth-secret.
type External struct {
	// URLs of the external server, e.g.
	// "turn:turn.example.org:3478?transport=udp",
	// "turns:turn.example.org:5349?transport=tcp".
	URLs   []string
	Secret string
	Grace  time.Duration
}

// ICEServers returns the external servers with a fresh credential.
func (e External) ICEServers(participant string, until time.Time) []protocol.ICEServer {
	if len(e.URLs) == 0 {
		return nil
	}
	user, pass := Credentials{Secret: []byte(e.Secret), Grace: e.Grace}.Issue(participant, until)
	return []protocol.ICEServer{{URLs: append([]string(nil), e.URLs...), Username: user, Credential: pass}}
}
