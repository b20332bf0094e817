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
	got := turn.Credentials{Secret: []byte("north")}.Password("1700000000:alice")
	if want := "Cd/49soE35ICqcJF/bCTn8Z4OyE="; got != want {
		t.Errorf("password %q, want %q", got, want)
	}
}

func TestCredentialsIssueAndCheck(t *testing.T) {
	c := turn.Credentials{Secret: []byte("s"), Grace: 10 * time.Minute}
	end := time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC)
	user, pass := c.Issue("p1", end)
	if want := "1772475000:p1"; user != want {
		t.Errorf("username %q, want %q (window end + 10 min)", user, want)
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
		{"expiry edited", "1872475000:p1", pass, end, turn.ErrCredentialForged},
		{"participant edited", "1772475000:p2", pass, end, turn.ErrCredentialForged},
		{"no participant", "1772475000:", pass, end, turn.ErrCredentialMalformed},
		{"no expiry", "p1", pass, end, turn.ErrCredentialMalformed},
		{"signed expiry", "+1772475000:p1", pass, end, turn.ErrCredentialMalformed},
		{"too long", "1772475000:" + string(make([]byte, 200)), pass, end, turn.ErrCredentialMalformed},
	} {
		p, _, err := c.Check(tc.user, tc.pass, tc.now)
		if !errors.Is(err, tc.want) || (err == nil && p != "p1") {
			t.Errorf("%s: participant %q, err %v; want %v", tc.name, p, err, tc.want)
		}
	}
}

// External hands out the coturn URLs with a credential under the shared
// secret, which the embedded relay's Credentials accept too.
func TestExternalICEServers(t *testing.T) {
	ext := turn.External{URLs: []string{"turn:turn.example.org:3478?transport=udp"}, Secret: "shared"}
	end := time.Now().Add(time.Hour)
	list := ext.ICEServers("p1", end)
	if len(list) != 1 || list[0].URLs[0] != ext.URLs[0] {
		t.Fatalf("got %+v", list)
	}
	if _, _, err := (turn.Credentials{Secret: []byte("shared")}).Check(list[0].Username, list[0].Credential, time.Now()); err != nil {
		t.Errorf("credential does not check: %v", err)
	}
}
