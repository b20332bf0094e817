package e2ee

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateVectors = flag.Bool("update-key-vectors", false, "rewrite the known-answer file shared with the JavaScript tests")

// keyVectorsPath is the known-answer file both implementations check.
var keyVectorsPath = filepath.Join("..", "web", "test", "testdata", "key-schedule.json")

type keyVectors struct {
	Secret string            `json:"secret"`
	Keys   map[string]string `json:"keys"`
	Sender []struct {
		KID uint64 `json:"kid,string"`
		Key string `json:"key"`
	} `json:"sender_base_keys"`
	Fingerprint struct {
		SDP        string `json:"sdp"`
		Normalized string `json:"normalized"`
		MAC        string `json:"mac"`
	} `json:"fingerprint"`
	Chat []struct {
		Sender    string `json:"sender"`
		Plaintext string `json:"plaintext"`
		Sealed    string `json:"sealed"`
	} `json:"chat"`
	Names []struct {
		Sender string `json:"sender"`
		Name   string `json:"name"`
		Sealed string `json:"sealed"`
	} `json:"names"`
	Meta []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
		Data  string `json:"data"`
	} `json:"meta"`
	BadSecrets []string     `json:"bad_secrets"`
	Mute       []muteVector `json:"mute"`
}

// muteVector is a sealed mute state: State is the plaintext (hex), which
// decodes to MicOff, CameraOff and At (ms since 1970). A State longer
// than nine bytes or with unknown flag bits shows that both sides ignore
// those.
type muteVector struct {
	Sender    string `json:"sender"`
	At        int64  `json:"at"`
	MicOff    bool   `json:"mic_off"`
	CameraOff bool   `json:"camera_off"`
	State     string `json:"state"`
	Sealed    string `json:"sealed"`
}

// fpTestSDP has the fingerprint at session level and again, in lower case,
// at media level, as browsers and pion write it.
const fpTestSDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"a=fingerprint:SHA-256 0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9\r\n"

func secretForVectors() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func readKeyVectors(t *testing.T) keyVectors {
	t.Helper()
	raw, err := os.ReadFile(keyVectorsPath)
	if err != nil {
		t.Fatalf("read %s (make it with go test ./client/e2ee -run TestKeyVectors -update-key-vectors): %v", keyVectorsPath, err)
	}
	var v keyVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestKeyVectors holds the Go implementation to the known answers that
// client/web/test/*.test.js holds the JavaScript one to. -updateVectors writes
// them anew from the Go side (sealed messages get fresh nonces).
func TestKeyVectors(t *testing.T) {
	if *updateVectors {
		writeKeyVectors(t)
	}
	v := readKeyVectors(t)
	secret, err := ParseSecret(v.Secret)
	if err != nil || !bytes.Equal(secret, secretForVectors()) {
		t.Fatalf("ParseSecret(%q) = %x, %v", v.Secret, secret, err)
	}
	k, err := DeriveKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"media": k.Media, "chat": k.Chat, "names": k.Names, "fingerprint": k.Fingerprint} {
		if hex.EncodeToString(got) != v.Keys[name] {
			t.Errorf("%s key = %x, want %s", name, got, v.Keys[name])
		}
	}
	for _, s := range v.Sender {
		if got := hex.EncodeToString(SenderBaseKey(k.Media, s.KID)); got != s.Key {
			t.Errorf("SenderBaseKey(kid %d) = %s, want %s", s.KID, got, s.Key)
		}
	}
	fp, err := Fingerprint(v.Fingerprint.SDP)
	if err != nil || fp != v.Fingerprint.Normalized {
		t.Errorf("Fingerprint = %q, %v; want %q", fp, err, v.Fingerprint.Normalized)
	}
	mac, _ := base64.RawURLEncoding.DecodeString(v.Fingerprint.MAC)
	if !VerifyFingerprintMAC(k.Fingerprint, fp, mac) {
		t.Errorf("fingerprint MAC does not verify")
	}
	for _, c := range v.Chat {
		sealed, _ := hex.DecodeString(c.Sealed)
		got, err := OpenChat(k.Chat, c.Sender, sealed)
		if err != nil || string(got) != c.Plaintext {
			t.Errorf("OpenChat = %q, %v; want %q", got, err, c.Plaintext)
		}
	}
	for _, n := range v.Names {
		sealed, _ := hex.DecodeString(n.Sealed)
		got, err := OpenName(k.Names, n.Sender, sealed)
		if err != nil || got != n.Name {
			t.Errorf("OpenName = %q, %v; want %q", got, err, n.Name)
		}
	}
	for _, m := range v.Meta {
		val, _ := hex.DecodeString(m.Value)
		if got := EncodeMeta(Meta{Kind: m.Kind, Value: val}); got != m.Data {
			t.Errorf("EncodeMeta(%s) = %s, want %s", m.Kind, got, m.Data)
		}
	}
	for _, s := range v.BadSecrets {
		if _, err := ParseSecret(s); !errors.Is(err, ErrBadSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrBadSecret", s, err)
		}
	}
	if len(v.Mute) == 0 {
		t.Error("no mute state vectors")
	}
	for _, m := range v.Mute {
		checkMuteVector(t, k, m)
	}
}

// checkMuteVector opens and decodes a mute state vector and, for one of
// this version's nine bytes, encodes the state back to the same bytes.
func checkMuteVector(t *testing.T, k Keys, m muteVector) {
	t.Helper()
	sealed, _ := hex.DecodeString(m.Sealed)
	pt, err := OpenMute(k.Names, m.Sender, sealed)
	if err != nil || hex.EncodeToString(pt) != m.State {
		t.Errorf("OpenMute = %x, %v; want %s", pt, err, m.State)
		return
	}
	want := MuteState{MicOff: m.MicOff, CameraOff: m.CameraOff, At: time.UnixMilli(m.At)}
	got, err := DecodeMuteState(pt)
	if err != nil || got != want {
		t.Errorf("DecodeMuteState(%s) = %+v, %v; want %+v", m.State, got, err, want)
	}
	if len(pt) > muteStateLen || pt[8]&^(muteMicOff|muteCamOff) != 0 {
		return
	}
	if enc, err := want.Encode(); err != nil || hex.EncodeToString(enc) != m.State {
		t.Errorf("Encode(%+v) = %x, %v; want %s", want, enc, err, m.State)
	}
}

func writeKeyVectors(t *testing.T) {
	secret := secretForVectors()
	k, err := DeriveKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	var v keyVectors
	v.Secret = FormatSecret(secret)
	v.Keys = map[string]string{
		"media": hex.EncodeToString(k.Media), "chat": hex.EncodeToString(k.Chat),
		"names": hex.EncodeToString(k.Names), "fingerprint": hex.EncodeToString(k.Fingerprint),
	}
	for _, kid := range []uint64{0, 1, 0x0102030405060708, 1<<64 - 1} {
		v.Sender = append(v.Sender, struct {
			KID uint64 `json:"kid,string"`
			Key string `json:"key"`
		}{kid, hex.EncodeToString(SenderBaseKey(k.Media, kid))})
	}
	v.Fingerprint.SDP = fpTestSDP
	v.Fingerprint.Normalized, _ = Fingerprint(fpTestSDP)
	v.Fingerprint.MAC = base64.RawURLEncoding.EncodeToString(FingerprintMAC(k.Fingerprint, v.Fingerprint.Normalized))
	for _, c := range []struct{ sender, text string }{{"P1aB2cD3eF4gH5iJ", "Guten Tag, Frau Müller 👋"}, {"P6kL7mN8oP9qR0sT", ""}} {
		sealed, _ := SealChat(k.Chat, c.sender, []byte(c.text))
		v.Chat = append(v.Chat, struct {
			Sender    string `json:"sender"`
			Plaintext string `json:"plaintext"`
			Sealed    string `json:"sealed"`
		}{c.sender, c.text, hex.EncodeToString(sealed)})
	}
	sealed, _ := SealName(k.Names, "P6kL7mN8oP9qR0sT", "Erika Mustermann")
	v.Names = append(v.Names, struct {
		Sender string `json:"sender"`
		Name   string `json:"name"`
		Sealed string `json:"sealed"`
	}{"P6kL7mN8oP9qR0sT", "Erika Mustermann", hex.EncodeToString(sealed)})
	mac := FingerprintMAC(k.Fingerprint, v.Fingerprint.Normalized)
	for _, m := range []Meta{{MetaFingerprint, mac}, {MetaName, sealed}} {
		v.Meta = append(v.Meta, struct {
			Kind  string `json:"kind"`
			Value string `json:"value"`
			Data  string `json:"data"`
		}{m.Kind, hex.EncodeToString(m.Value), EncodeMeta(m)})
	}
	v.BadSecrets = []string{
		"",
		FormatSecret(secret[:31]),       // 31 bytes
		FormatSecret(append(secret, 0)), // 33 bytes
		FormatSecret(secret) + "=",      // padded
		base64.URLEncoding.EncodeToString(secret),      // padded form
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+",  // non-zero trailing bits
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/",  // standard alphabet
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8 ", // trailing space
	}
	v.Mute = muteVectors(t, k)
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(keyVectorsPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyVectorsPath, append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// muteVectors seals two mute states: one as this version writes it, one
// with unknown flag bits and three appended bytes.
func muteVectors(t *testing.T, k Keys) []muteVector {
	t.Helper()
	const at = 1795474135901
	var out []muteVector
	for _, c := range []struct {
		sender            string
		micOff, cameraOff bool
		state             string
	}{
		{"P1aB2cD3eF4gH5iJ", true, false, "000001a20a991b5d01"},
		{"P6kL7mN8oP9qR0sT", false, true, "000001a20a991b5df2ffeedd"},
	} {
		state, _ := hex.DecodeString(c.state)
		sealed, err := SealMute(k.Names, c.sender, state)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, muteVector{c.sender, at, c.micOff, c.cameraOff, c.state, hex.EncodeToString(sealed)})
	}
	return out
}

func TestDeriveKeysRefusesWrongSize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := DeriveKeys(make([]byte, n)); !errors.Is(err, ErrBadSecret) {
			t.Errorf("%d bytes: err = %v, want ErrBadSecret", n, err)
		}
	}
}

func TestKeysAreDistinct(t *testing.T) {
	k, err := DeriveKeys(secretForVectors())
	if err != nil {
		t.Fatal(err)
	}
	all := [][]byte{k.Media, k.Chat, k.Names, k.Fingerprint, SenderBaseKey(k.Media, 0), SenderBaseKey(k.Media, 1)}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if bytes.Equal(all[i][:16], all[j][:16]) {
				t.Errorf("keys %d and %d are equal", i, j)
			}
		}
	}
}
