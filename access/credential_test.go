package access

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCodesAreUnambiguousAndNormalise(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeLength {
			t.Fatalf("code %q has %d symbols", c, len(c))
		}
		if strings.ContainsAny(c, "01ILOUV") {
			t.Fatalf("code %q has an ambiguous symbol", c)
		}
		if seen[c] {
			t.Fatalf("code %q repeated", c)
		}
		seen[c] = true
		typed := strings.ToLower(FormatCode(c))
		if got := NormalizeCode(" " + typed + " "); got != c {
			t.Fatalf("NormalizeCode(%q) = %q, want %q", typed, got, c)
		}
	}
	for _, bad := range []string{"", "ABC", "ABCDE-FGHJ0", "ABCDE-FGHJKM", "ÄBCDE-FGHJK", strings.Repeat("A", 1000)} {
		if got := NormalizeCode(bad); got != "" {
			t.Errorf("NormalizeCode(%q) = %q, want refusal", bad, got)
		}
	}
}

func TestTokensHave128Bits(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !ValidToken(tok) {
		t.Fatalf("token %q not valid", tok)
	}
	if ValidToken(tok[1:]) || ValidToken(tok[:len(tok)-1]+"*") {
		t.Error("malformed tokens accepted")
	}
}

func TestHashDomainsAndPepper(t *testing.T) {
	h1, err := NewHasher(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := NewHasher(bytes.Repeat([]byte{2}, 32))
	if Equal(h1.Hash(KindToken, "x"), h1.Hash(KindCode, "x")) {
		t.Error("token and code hashes collide")
	}
	if Equal(h1.Hash(KindCode, "x"), h2.Hash(KindCode, "x")) {
		t.Error("pepper does not change the hash")
	}
	if !Equal(h1.Hash(KindCode, "x"), h1.Hash(KindCode, "x")) {
		t.Error("hash not stable")
	}
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Error("short pepper accepted")
	}
}

func TestSessionTokens(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	ss, _ := NewSessions(key)
	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	tok, err := ss.Issue(Session{RoomID: "r", ParticipantID: "p", Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ss.Check(tok, now)
	if err != nil || s.RoomID != "r" || s.ParticipantID != "p" {
		t.Fatalf("Check = %+v, %v", s, err)
	}
	if _, err := ss.Check(tok, now.Add(time.Minute)); !errors.Is(err, ErrBadSession) {
		t.Errorf("expired token: %v", err)
	}
	other, _ := NewSessions(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Check(tok, now); !errors.Is(err, ErrBadSession) {
		t.Errorf("token from another key: %v", err)
	}
	body, sig, _ := strings.Cut(tok, ".")
	forged := body[:len(body)-2] + "xx." + sig
	for _, bad := range []string{"", ".", "abc", forged, tok + "x"} {
		if _, err := ss.Check(bad, now); !errors.Is(err, ErrBadSession) {
			t.Errorf("Check(%q): %v", bad, err)
		}
	}
}

// TestRotatedKeysStillAccepted: after a rotation, the new pepper hashes
// and the old one still finds; a token signed with a retired session key
// is accepted while that key is given, and refused once it is dropped.
func TestRotatedKeysStillAccepted(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	before, _ := NewHasher(oldKey)
	after, err := NewHasher(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if Equal(after.Hash(KindCode, "x"), before.Hash(KindCode, "x")) {
		t.Error("the rotated hasher still hashes with the old pepper")
	}
	hs := after.Hashes(KindCode, "x")
	if len(hs) != 2 || !Equal(hs[1], before.Hash(KindCode, "x")) || !Equal(hs[0], after.Hash(KindCode, "x")) {
		t.Error("Hashes is not current first, then the retired pepper's")
	}

	now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	oldSigner, _ := NewSessions(oldKey)
	tok, err := oldSigner.Issue(Session{RoomID: "r", ParticipantID: "p", Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewSessions(newKey, oldKey)
	if _, err := rotated.Check(tok, now); err != nil {
		t.Errorf("token of the retired key within its grace: %v", err)
	}
	fresh, _ := rotated.Issue(Session{RoomID: "r", ParticipantID: "p", Expires: now.Add(time.Minute).Unix()})
	if _, err := oldSigner.Check(fresh, now); err == nil {
		t.Error("a token made after the rotation is signed with the old key")
	}
	dropped, _ := NewSessions(newKey)
	if _, err := dropped.Check(tok, now); !errors.Is(err, ErrBadSession) {
		t.Errorf("token of a dropped key: %v", err)
	}
	if _, err := NewSessions(); err == nil {
		t.Error("NewSessions without a key accepted")
	}
	if _, err := NewHasher(); err == nil {
		t.Error("NewHasher without a pepper accepted")
	}
}

// Ids go on command lines (`konsil rooms delete ID`): none may begin
// with "-", which one base64url draw in 64 would.
func TestNewIDNeverLooksLikeAFlag(t *testing.T) {
	seen := map[string]bool{}
	for range 5000 {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 16 || id[0] == '-' || seen[id] {
			t.Fatalf("id %q: want 16 base64url characters, not beginning with -, never seen before", id)
		}
		seen[id] = true
	}
}
