package e2ee

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKeys(t *testing.T) Keys {
	t.Helper()
	k, err := DeriveKeys(secretForVectors())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestChatRoundTripAndRefusals(t *testing.T) {
	k := testKeys(t)
	other, _ := DeriveKeys(bytes.Repeat([]byte{7}, 32))
	sealed, err := SealChat(k.Chat, "alice", []byte("hallo"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != SealOverhead+5 || sealed[0] != 1 {
		t.Fatalf("sealed = %x", sealed)
	}
	if got, err := OpenChat(k.Chat, "alice", sealed); err != nil || string(got) != "hallo" {
		t.Fatalf("OpenChat = %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	cases := map[string]struct {
		key    []byte
		sender string
		sealed []byte
	}{
		"wrong key":     {other.Chat, "alice", sealed},
		"wrong sender":  {k.Chat, "bob", sealed},
		"names key":     {k.Names, "alice", sealed},
		"tampered":      {k.Chat, "alice", flipped},
		"short":         {k.Chat, "alice", sealed[:SealOverhead-1]},
		"wrong version": {k.Chat, "alice", append([]byte{2}, sealed[1:]...)},
		"empty":         {k.Chat, "alice", nil},
	}
	for name, c := range cases {
		if _, err := OpenChat(c.key, c.sender, c.sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
	// A sealed chat message is not a valid name, even with the same key:
	// the AAD label differs.
	if _, err := OpenName(k.Chat, "alice", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("chat opened as a name: %v", err)
	}
	if _, err := SealChat(k.Chat, "alice", make([]byte, MaxChatBytes+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized chat: %v", err)
	}
	if _, err := SealName(k.Names, "alice", strings.Repeat("x", MaxNameBytes+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized name: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	fp := "sha-256 0A:1B"
	cases := []struct {
		name, sdp, want string
	}{
		{"session level", "v=0\r\na=fingerprint:sha-256 0a:1b\r\n", fp},
		{"upper-case hash name", "a=fingerprint:SHA-256 0A:1B\n", fp},
		{"ignores sha-1", "a=fingerprint:sha-1 FF:FF\r\na=fingerprint:sha-256 0A:1B\r\n", fp},
		{"none", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", ""},
		{"only sha-1", "a=fingerprint:sha-1 0A:1B\r\n", ""},
		{"two certificates", "a=fingerprint:sha-256 0A:1B\r\na=fingerprint:sha-256 0A:1C\r\n", ""},
	}
	for _, c := range cases {
		got, err := Fingerprint(c.sdp)
		if got != c.want || (c.want == "") != errors.Is(err, ErrFingerprint) {
			t.Errorf("%s: Fingerprint = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	k := testKeys(t)
	mac := FingerprintMAC(k.Fingerprint, fp)
	if !VerifyFingerprintMAC(k.Fingerprint, fp, mac) {
		t.Error("own MAC does not verify")
	}
	if VerifyFingerprintMAC(k.Fingerprint, "sha-256 0A:1C", mac) {
		t.Error("MAC verifies another fingerprint")
	}
	if VerifyFingerprintMAC(k.Chat, fp, mac) {
		t.Error("MAC verifies under another key")
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{{MetaFingerprint, []byte{1, 2, 3}}, {MetaName, nil}, {"future", []byte("x")}} {
		got, err := DecodeMeta(EncodeMeta(m))
		if err != nil || got.Kind != m.Kind || !bytes.Equal(got.Value, m.Value) {
			t.Errorf("round trip of %v = %v, %v", m, got, err)
		}
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte(`{"v":"AA"}`)), base64.RawURLEncoding.EncodeToString([]byte(`{"t":"fp","v":"+"}`))} {
		if _, err := DecodeMeta(bad); !errors.Is(err, ErrMeta) {
			t.Errorf("DecodeMeta(%q) = %v, want ErrMeta", bad, err)
		}
	}
}

func FuzzOpenChat(f *testing.F) {
	k, _ := DeriveKeys(secretForVectors())
	s, _ := SealChat(k.Chat, "a", []byte("seed"))
	f.Add(s)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = OpenChat(k.Chat, "a", b)
		_, _ = DecodeMeta(string(b))
		_, _ = Fingerprint(string(b))
	})
}

// crossInput is what the Go side hands the JavaScript side in
// TestCrossLanguage; crossOutput is what comes back. The script is
// client/web/test/cross-language.mjs.
type crossInput struct {
	Secret      string   `json:"secret"`
	Sender      string   `json:"sender"`
	Chat        []string `json:"chat"` // hex, sealed by Go
	Name        string   `json:"name"` // hex, sealed by Go
	Mute        string   `json:"mute"` // hex, sealed by Go
	Fingerprint string   `json:"fingerprint"`
	MAC         string   `json:"mac"` // base64url, made by Go
	KID         uint64   `json:"kid,string"`
}

type crossOutput struct {
	Keys        map[string]string `json:"keys"`
	SenderKey   string            `json:"sender_key"`
	Opened      []string          `json:"opened"`
	OpenedName  string            `json:"opened_name"`
	MACVerified bool              `json:"mac_verified"`
	MAC         string            `json:"mac"`
	Sealed      []string          `json:"sealed"` // hex, sealed by JS as sender "js"
	SealedName  string            `json:"sealed_name"`
	OpenedMute  struct {
		MicOff bool  `json:"micOff"`
		CamOff bool  `json:"camOff"`
		At     int64 `json:"at"`
	} `json:"opened_mute"`
	SealedMute string `json:"sealed_mute"` // hex, the state JS opened, sealed as sender "js"
	Error      string `json:"error"`
}

// TestCrossLanguage proves that Go and the browser's JavaScript derive the
// same keys from a fresh random secret and open each other's chat
// messages, names, mute states and fingerprint MACs.
func TestCrossLanguage(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed; CI needs it for the cross-language test")
		}
		t.Skip("node is not installed: skipping the Go/JavaScript cross-language test")
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	k, err := DeriveKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Guten Morgen", "", "Blutdruck 120/80 — ok? ✓", strings.Repeat("ä", 5000)}
	in := crossInput{Secret: FormatSecret(secret), Sender: "P1aB2cD3eF4gH5iJ", Fingerprint: "sha-256 " + strings.Repeat("AB:", 31) + "AB", KID: 0xfedcba9876543210}
	for _, s := range texts {
		b, err := SealChat(k.Chat, in.Sender, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		in.Chat = append(in.Chat, hex.EncodeToString(b))
	}
	name, _ := SealName(k.Names, in.Sender, "Dr. Özgür Şahin")
	in.Name = hex.EncodeToString(name)
	muteState := MuteState{CameraOff: true, At: time.UnixMilli(1795474135901)}
	state, _ := muteState.Encode()
	mute, _ := SealMute(k.Names, in.Sender, state)
	in.Mute = hex.EncodeToString(mute)
	in.MAC = base64.RawURLEncoding.EncodeToString(FingerprintMAC(k.Fingerprint, in.Fingerprint))

	raw, _ := json.Marshal(in)
	cmd := exec.Command(node, filepath.Join("..", "web", "test", "cross-language.mjs"))
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	outRaw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out crossOutput
	if err := json.Unmarshal(outRaw, &out); err != nil {
		t.Fatalf("decode %q: %v", outRaw, err)
	}
	if out.Error != "" {
		t.Fatalf("JavaScript side: %s", out.Error)
	}
	for name, want := range map[string][]byte{"media": k.Media, "chat": k.Chat, "names": k.Names, "fingerprint": k.Fingerprint} {
		if out.Keys[name] != hex.EncodeToString(want) {
			t.Errorf("%s key: JS %s, Go %x", name, out.Keys[name], want)
		}
	}
	if want := hex.EncodeToString(SenderBaseKey(k.Media, in.KID)); out.SenderKey != want {
		t.Errorf("sender base key: JS %s, Go %s", out.SenderKey, want)
	}
	if len(out.Opened) != len(texts) {
		t.Fatalf("JS opened %d messages, want %d", len(out.Opened), len(texts))
	}
	for i, s := range texts {
		if out.Opened[i] != s {
			t.Errorf("JS opened %q, want %q", out.Opened[i], s)
		}
	}
	if out.OpenedName != "Dr. Özgür Şahin" {
		t.Errorf("JS opened name %q", out.OpenedName)
	}
	if !out.MACVerified || out.MAC != in.MAC {
		t.Errorf("fingerprint MAC: JS verified %t, JS %s, Go %s", out.MACVerified, out.MAC, in.MAC)
	}
	for i, h := range out.Sealed {
		b, _ := hex.DecodeString(h)
		got, err := OpenChat(k.Chat, "js", b)
		if err != nil || string(got) != texts[i] {
			t.Errorf("Go opened JS message %d: %q, %v", i, got, err)
		}
	}
	b, _ := hex.DecodeString(out.SealedName)
	if got, err := OpenName(k.Names, "js", b); err != nil || got != "Erika Mustermann" {
		t.Errorf("Go opened JS name: %q, %v", got, err)
	}
	if m := out.OpenedMute; m.MicOff || !m.CamOff || m.At != muteState.At.UnixMilli() {
		t.Errorf("JS opened mute state %+v, want %+v", m, muteState)
	}
	b, _ = hex.DecodeString(out.SealedMute)
	pt, err := OpenMute(k.Names, "js", b)
	if got, derr := DecodeMuteState(pt); err != nil || derr != nil || got != muteState {
		t.Errorf("Go opened JS mute state: %+v, %v, %v", got, err, derr)
	}
}
