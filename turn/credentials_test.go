package turn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/turn"
)

// The password is coturn's: base64(HMAC-SHA1(secret, username)). Known
// answer computed with Python's hmac module.
func TestPasswordKnownAnswer(t *testing.T) {
	got := turn.Credentials{Secret: []byte("north")}.Password("1700000000:room1:alice")
	if want := "iWq5/Aum9BaV0RbShlpdUrQ0F6Q="; got != want {
		t.Errorf("password %q, want %q", got, want)
	}
}

func TestCredentialsIssueAndCheck(t *testing.T) {
	c := turn.Credentials{Secret: []byte("s"), Grace: 10 * time.Minute}
	end := time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)
	h := turn.Holder{Room: "r1", Participant: "p1"}
	user, pass := c.Issue(h, end)
	if want := "1772475000:r1:p1"; user != want {
		t.Errorf("username %q, want %q (window end + 10 min : room : participant)", user, want)
	}
	for _, tc := range []struct {
		name       string
		user, pass string
		now        time.Time
		want       error
	}{
		{"valid in the window", user, pass, end.Add(-time.Hour), nil},
		{"valid in the grace", user, pass, end.Add(9 * time.Minute), nil},
		{"expired after the grace", user, pass, end.Add(10 * time.Minute), turn.ErrCredentialExpired},
		{"expiry edited", "1872475000:r1:p1", pass, end, turn.ErrCredentialForged},
		{"participant edited", "1772475000:r1:p2", pass, end, turn.ErrCredentialForged},
		{"room edited", "1772475000:r2:p1", pass, end, turn.ErrCredentialForged},
		{"no participant", "1772475000:r1:", pass, end, turn.ErrCredentialMalformed},
		{"no room", "1772475000::p1", pass, end, turn.ErrCredentialMalformed},
		{"old form without room", "1772475000:p1", pass, end, turn.ErrCredentialMalformed},
		{"extra field", "1772475000:r1:p1:x", pass, end, turn.ErrCredentialMalformed},
		{"no expiry", "p1", pass, end, turn.ErrCredentialMalformed},
		{"signed expiry", "+1772475000:r1:p1", pass, end, turn.ErrCredentialMalformed},
		{"too long", "1772475000:r1:" + string(make([]byte, 200)), pass, end, turn.ErrCredentialMalformed},
	} {
		claim, err := c.Check(tc.user, tc.pass, tc.now)
		if !errors.Is(err, tc.want) || (err == nil && claim.Holder != h) {
			t.Errorf("%s: claim %+v, err %v; want %v", tc.name, claim, err, tc.want)
		}
	}
}

// External hands out the coturn URLs with a credential under the shared
// secret, which the embedded relay's Credentials accept too.
func TestExternalICEServers(t *testing.T) {
	ext := turn.External{URLs: []string{"turn:turn.example.org:3478?transport=udp"}, Secret: "shared"}
	end := time.Now().Add(time.Hour)
	h := turn.Holder{Room: "r1", Participant: "p1"}
	list := ext.ICEServers(h, end)
	if len(list) != 1 || list[0].URLs[0] != ext.URLs[0] {
		t.Fatalf("got %+v", list)
	}
	if claim, err := (turn.Credentials{Secret: []byte("shared")}).Check(list[0].Username, list[0].Credential, time.Now()); err != nil || claim.Holder != h {
		t.Errorf("credential does not check: %+v, %v", claim, err)
	}
}
