package turn_test

import (
	"crypto/hmac"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/konsil/konsil/turn"
)

// FuzzParseUsername: any username either is refused as malformed or
// names a room, a participant and an expiry that, written out again as
// Issue writes them, parse to the same claim. The parser never accepts
// what Issue could not have made: an empty id, a colon in an id, a signed
// expiry, more than maxUsername bytes.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{
		"1772475000:r1:p1",
		"0:r:p",
		"1772475000:r1",
		"1772475000::p1",
		"1772475000:r1:p1:x",
		"+1772475000:r1:p1",
		"-1:r:p",
		"9223372036854775807:r:p",
		"9223372036854775808:r:p",
		"0001772475000:r1:p1",
		":r:p",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		claim, err := turn.ParseUsername(username)
		if err != nil {
			if !errors.Is(err, turn.ErrCredentialMalformed) {
				t.Fatalf("ParseUsername(%q): %v, not ErrCredentialMalformed", username, err)
			}
			return
		}
		if len(username) > 128 {
			t.Fatalf("ParseUsername accepted %d bytes", len(username))
		}
		if claim.Room == "" || claim.Participant == "" {
			t.Fatalf("ParseUsername(%q) = %+v: an empty id", username, claim)
		}
		again := strconv.FormatInt(claim.Expiry.Unix(), 10) + ":" + claim.Room + ":" + claim.Participant
		back, err := turn.ParseUsername(again)
		if err != nil || back.Holder != claim.Holder || !back.Expiry.Equal(claim.Expiry) {
			t.Fatalf("ParseUsername(%q) = %+v, written out %q parses to %+v, %v", username, claim, again, back, err)
		}
	})
}

// FuzzCheck: Check accepts a credential only when the password is the
// HMAC of the username under the secret and the expiry has not passed,
// and refuses every other one with one of the named errors. The issued
// password is accepted whenever the username parses and is unexpired.
func FuzzCheck(f *testing.F) {
	c := turn.Credentials{Secret: []byte("north")}
	user, pass := c.Issue(turn.Holder{Room: "r1", Participant: "p1"}, time.Unix(1772475000, 0))
	f.Add([]byte("north"), user, pass, int64(1772474000))
	f.Add([]byte("north"), user, pass, int64(1872475000))
	f.Add([]byte("south"), user, pass, int64(1772474000))
	f.Add([]byte("north"), user, pass[:len(pass)-1], int64(0))
	f.Add([]byte{}, "1:r:p", "", int64(0))
	f.Fuzz(func(t *testing.T, secret []byte, username, password string, now int64) {
		c := turn.Credentials{Secret: secret}
		at := time.Unix(now, 0)
		want := c.Password(username)
		claim, err := c.Check(username, password, at)
		if err == nil {
			if !hmac.Equal([]byte(password), []byte(want)) {
				t.Fatalf("Check(%q, %q) accepted a password that is not the HMAC %q", username, password, want)
			}
			if !at.Before(claim.Expiry) {
				t.Fatalf("Check(%q) accepted at %v a credential expiring %v", username, at, claim.Expiry)
			}
		} else if !errors.Is(err, turn.ErrCredentialMalformed) && !errors.Is(err, turn.ErrCredentialForged) &&
			!errors.Is(err, turn.ErrCredentialExpired) {
			t.Fatalf("Check(%q): %v, not a named error", username, err)
		}
		parsed, perr := turn.ParseUsername(username)
		_, err = c.Check(username, want, at)
		switch {
		case perr != nil:
			if !errors.Is(err, turn.ErrCredentialMalformed) {
				t.Fatalf("Check(%q) with its HMAC: %v, want malformed", username, err)
			}
		case at.Before(parsed.Expiry):
			if err != nil {
				t.Fatalf("Check(%q) refused its own HMAC before expiry: %v", username, err)
			}
		default:
			if !errors.Is(err, turn.ErrCredentialExpired) {
				t.Fatalf("Check(%q) at %v after expiry %v: %v", username, at, parsed.Expiry, err)
			}
		}
	})
}
