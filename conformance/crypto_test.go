package conformance_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/konsil/konsil/client/e2ee"
)

// docKeys are the room keys as SECURITY.md's key schedule makes them.
type docKeys struct {
	media, chat, names, fingerprint []byte
}

func (s spec) deriveKeys(t *testing.T, secret []byte) docKeys {
	t.Helper()
	key := func(name string) []byte {
		k, err := hkdf.Key(sha256.New, secret, []byte(s.hkdfSalt), s.keyLabels[name], s.keyLen)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	return docKeys{media: key("media"), chat: key("chat"), names: key("names"), fingerprint: key("fingerprint")}
}

// seal is SECURITY.md's sealed message.
func (s spec) seal(t *testing.T, key []byte, label, sender string, plaintext []byte) []byte {
	t.Helper()
	g := gcm(t, key)
	nonce := make([]byte, s.nonceLen)
	rand.Read(nonce)
	out := append([]byte{s.sealVersion}, nonce...)
	return g.Seal(out, nonce, plaintext, []byte(label+sender))
}

func (s spec) open(t *testing.T, key []byte, label, sender string, sealed []byte) ([]byte, error) {
	t.Helper()
	if len(sealed) < 1+s.nonceLen+s.tagLen || sealed[0] != s.sealVersion {
		return nil, errors.New("not a sealed message")
	}
	nonce := sealed[1 : 1+s.nonceLen]
	return gcm(t, key).Open(nil, nonce, sealed[1+s.nonceLen:], []byte(label+sender))
}

func gcm(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (s spec) fingerprintMAC(fpKey []byte, fingerprint string) []byte {
	m := hmac.New(sha256.New, fpKey)
	m.Write([]byte(s.fpLabel + fingerprint))
	return m.Sum(nil)
}

// encodeMeta is SECURITY.md's meta payload.
func (s spec) encodeMeta(kind string, v []byte) string {
	j, _ := json.Marshal(map[string]string{s.metaKindKey: kind, s.metaValKey: base64.RawURLEncoding.EncodeToString(v)})
	return base64.RawURLEncoding.EncodeToString(j)
}

func (s spec) decodeMeta(data string) (string, []byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return "", nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, err
	}
	v, err := base64.RawURLEncoding.DecodeString(m[s.metaValKey])
	return m[s.metaKindKey], v, err
}

// sframeHeader is RFC 9605 §4.3 as SECURITY.md words it: a value 0–7 in
// K (or C) itself, a larger one after the config byte (KID first) in the
// fewest big-endian bytes, with X (or Y) set and K (or C) = length − 1.
func sframeHeader(kid, ctr uint64) []byte {
	field := func(v uint64) (bits byte, extra []byte) {
		if v < 8 {
			return byte(v), nil
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		i := 0
		for i < 7 && b[i] == 0 {
			i++
		}
		return 8 | byte(len(b[i:])-1), b[i:]
	}
	k, kx := field(kid)
	c, cx := field(ctr)
	h := []byte{k<<4 | c}
	h = append(h, kx...)
	return append(h, cx...)
}

// sframeEncrypt is SECURITY.md's "sent frame" for a frame with clear
// prefix length n.
func (s spec) sframeEncrypt(t *testing.T, mediaKey []byte, kid, ctr uint64, frame []byte, n int) []byte {
	t.Helper()
	kidBytes := make([]byte, s.kidBytes)
	binary.BigEndian.PutUint64(kidBytes, kid)
	baseKey, err := hkdf.Key(sha256.New, mediaKey, nil, s.senderInfo+string(kidBytes), s.senderLen)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hkdf.Extract(sha256.New, baseKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	suite := binary.BigEndian.AppendUint16(nil, s.suite)
	info := func(label string) string { return label + string(kidBytes) + string(suite) }
	key, err := hkdf.Expand(sha256.New, secret, info(s.sframeKeyLabel), s.sframeKeyLen)
	if err != nil {
		t.Fatal(err)
	}
	salt, err := hkdf.Expand(sha256.New, secret, info(s.sframeSaltLabel), s.sframeSaltLen)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[4:], ctr)
	for i := range nonce {
		nonce[i] ^= salt[i]
	}
	header := sframeHeader(kid, ctr)
	clear := frame[:n]
	aad := append(append([]byte{}, header...), clear...)
	out := append(append([]byte{}, clear...), header...)
	return gcm(t, key).Seal(out, nonce, frame[n:], aad)
}

// TestDocCryptoMatchesSDK: keys, sealed messages, fingerprint MACs, meta
// payloads and SFrame frames made from SECURITY.md alone open in the Go
// SDK, and the SDK's open with the doc client.
func TestDocCryptoMatchesSDK(t *testing.T) {
	s := readSpec(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	doc := s.deriveKeys(t, secret)
	sdk, err := e2ee.DeriveKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]byte{
		"media": {doc.media, sdk.Media}, "chat": {doc.chat, sdk.Chat},
		"names": {doc.names, sdk.Names}, "fingerprint": {doc.fingerprint, sdk.Fingerprint},
	} {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("the %s key from SECURITY.md differs from the SDK's", name)
		}
	}

	const sender = "P1aB2cD3eF4gH5iJ"
	msg := []byte("Guten Tag, Frau Doktor — é ü ß")
	got, err := e2ee.OpenChat(sdk.Chat, sender, s.seal(t, doc.chat, s.sealLabels["chat"], sender, msg))
	if err != nil || !bytes.Equal(got, msg) {
		t.Errorf("a chat message sealed as SECURITY.md says does not open in the SDK: %v", err)
	}
	sealed, err := e2ee.SealName(sdk.Names, sender, "Dr. Anna Berg")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := s.open(t, doc.names, s.sealLabels["display"], sender, sealed); err != nil || string(name) != "Dr. Anna Berg" {
		t.Errorf("the SDK's sealed name does not open as SECURITY.md says: %v", err)
	}
	if _, err := s.open(t, doc.names, s.sealLabels["chat"], sender, sealed); err == nil {
		t.Error("a name opened under the chat label")
	}

	fp := s.fpPrefix + "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"
	if !e2ee.VerifyFingerprintMAC(sdk.Fingerprint, fp, s.fingerprintMAC(doc.fingerprint, fp)) {
		t.Error("the fingerprint MAC from SECURITY.md does not verify in the SDK")
	}
	m, err := e2ee.DecodeMeta(s.encodeMeta("fp", []byte{1, 2, 3}))
	if err != nil || m.Kind != "fp" || !bytes.Equal(m.Value, []byte{1, 2, 3}) {
		t.Errorf("meta payload from SECURITY.md decodes in the SDK as %+v, %v", m, err)
	}

	// SFrame: a VP8 keyframe, a delta frame and an Opus frame, at KIDs
	// and counters that take the short and the extended header forms.
	ctx, err := e2ee.NewContext(e2ee.Suite(s.suite))
	if err != nil {
		t.Fatalf("the suite SECURITY.md names (0x%04x): %v", s.suite, err)
	}
	for _, c := range []struct {
		codec    e2ee.Codec
		kid, ctr uint64
		frame    []byte
		prefix   int
	}{
		{e2ee.CodecVP8, 7, 0, append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}, bytes.Repeat([]byte{0x55}, 300)...), s.vp8KeyPrefix},
		{e2ee.CodecVP8, 1796494679594, 300, append([]byte{0x31, 0x05, 0x00}, bytes.Repeat([]byte{0x66}, 120)...), s.vp8DeltaPrefix},
		{e2ee.CodecOpus, 9, 70000, append([]byte{0xf8}, bytes.Repeat([]byte{0x77}, 60)...), s.opusPrefix},
	} {
		kidKey := e2ee.SenderBaseKey(sdk.Media, c.kid)
		if err := ctx.AddKey(c.kid, kidKey); err != nil {
			t.Fatal(err)
		}
		sent := s.sframeEncrypt(t, doc.media, c.kid, c.ctr, c.frame, c.prefix)
		kid, plain, err := ctx.DecryptFrame(nil, c.codec, sent)
		if err != nil || kid != c.kid || !bytes.Equal(plain, c.frame) {
			t.Errorf("%s frame (KID %d, CTR %d) encrypted as SECURITY.md says: SDK got KID %d, %v", c.codec, c.kid, c.ctr, kid, err)
		}
	}
}
