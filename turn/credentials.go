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
	// ErrCredentialMalformed: the username is not
	// "expiry:room:participant" (an older "expiry:participant" one too:
	// without the room it cannot be checked for revocation).
	ErrCredentialMalformed = errors.New("turn: credential is not expiry:room:participant")
	// ErrCredentialExpired: the expiry in the username has passed.
	ErrCredentialExpired = errors.New("turn: credential expired")
	// ErrCredentialForged: the password is not the HMAC of the username
	// under our secret (someone edited the expiry, or another secret).
	ErrCredentialForged = errors.New("turn: credential not issued by this server")
)

// maxUsername bounds what we parse: a Unix time and a room and a
// participant id (16 characters each), with two colons, fit in far less.
const maxUsername = 128

// DefaultGrace is how long a credential outlives the room's window: long
// enough for a consultation that runs a few minutes over, short enough
// that a link from yesterday relays nothing today.
const DefaultGrace = 15 * time.Minute

// Credentials issues and checks time-limited TURN REST credentials
// (draft-uberti-behave-turn-rest-00 §2.2, coturn's use-auth-secret):
// username "expiry:room:participant" with expiry in Unix seconds,
// password base64(HMAC-SHA1(secret, username)). The server keeps no list
// of them: anyone holding the secret can check one, which is what lets
// coturn stand in for the embedded relay (coturn reads only the expiry
// before the first colon). The room and participant let the embedded
// relay ask whether the credential still holds (Config.Revoked).
type Credentials struct {
	Secret []byte
	// Grace is added to the room's window end; DefaultGrace when zero.
	Grace time.Duration
}

// Holder is whom a credential is issued to: a participant of a room.
// Ids hold no colon (they are base64url).
type Holder struct {
	Room, Participant string
}

// Claim is what a credential's username says: its holder and when it
// expires.
type Claim struct {
	Holder
	Expiry time.Time
}

// Issue returns a username and password for h valid until the end of the
// room window plus the grace period.
func (c Credentials) Issue(h Holder, until time.Time) (username, password string) {
	grace := c.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	username = strconv.FormatInt(until.Add(grace).Unix(), 10) + ":" + h.Room + ":" + h.Participant
	return username, c.Password(username)
}

// Password is the password that belongs to username under c's secret.
func (c Credentials) Password(username string) string {
	mac := hmac.New(sha1.New, c.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Check returns the claim of a credential, or the error that refuses it.
// The TURN server itself compares keys, not passwords (RFC 8489 §9.2),
// and calls only ParseUsername, the clock and Config.Revoked; Check is
// the stateless part of the rule in one place for callers and tests.
func (c Credentials) Check(username, password string, now time.Time) (Claim, error) {
	claim, err := ParseUsername(username)
	if err != nil {
		return Claim{}, err
	}
	if !hmac.Equal([]byte(password), []byte(c.Password(username))) {
		return Claim{}, ErrCredentialForged
	}
	if !now.Before(claim.Expiry) {
		return Claim{}, fmt.Errorf("%w at %s", ErrCredentialExpired, claim.Expiry.UTC().Format(time.RFC3339))
	}
	return claim, nil
}

// ParseUsername splits "expiry:room:participant".
func ParseUsername(username string) (Claim, error) {
	if len(username) > maxUsername {
		return Claim{}, ErrCredentialMalformed
	}
	ts, rest, _ := strings.Cut(username, ":")
	room, participant, ok := strings.Cut(rest, ":")
	if !ok || room == "" || participant == "" || strings.Contains(participant, ":") ||
		ts == "" || ts[0] == '-' || ts[0] == '+' {
		return Claim{}, ErrCredentialMalformed
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Claim{}, ErrCredentialMalformed
	}
	return Claim{Holder: Holder{Room: room, Participant: participant}, Expiry: time.Unix(sec, 0)}, nil
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

// ICEServers returns the external servers with a fresh credential for h.
// The external server checks only the expiry and the password: it cannot
// know that a room was deleted (see docs/SECURITY.md).
func (e External) ICEServers(h Holder, until time.Time) []protocol.ICEServer {
	if len(e.URLs) == 0 {
		return nil
	}
	user, pass := Credentials{Secret: []byte(e.Secret), Grace: e.Grace}.Issue(h, until)
	return []protocol.ICEServer{{URLs: append([]string(nil), e.URLs...), Username: user, Credential: pass}}
}
