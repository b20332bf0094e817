package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Sealed messages: version byte || 12-byte random nonce || AES-256-GCM
// ciphertext with its 16-byte tag. The AAD is a label naming the kind of
// message and its version, followed by the sender's participant id, so a
// message cannot be replayed as another kind or as coming from the other
// participant.
const (
	boxVersion   = 0x01
	boxNonceSize = 12
	boxTagSize   = 16
	// SealOverhead is what sealing adds to a plaintext.
	SealOverhead = 1 + boxNonceSize + boxTagSize

	boxLabelChat = "konsil chat v1"
	boxLabelName = "konsil name v1"

	fingerprintMACLabel = "konsil fingerprint v1"
)

// Limits on what is sealed; the browser app enforces the same.
const (
	// MaxChatBytes bounds one chat message's plaintext.
	MaxChatBytes = 16 << 10
	// MaxNameBytes bounds a display name's plaintext.
	MaxNameBytes = 256
)

var (
	// ErrOpen is returned for a sealed message that does not decrypt: a
	// wrong key (another room secret), a wrong sender, or tampering.
	ErrOpen = errors.New("e2ee: message does not decrypt (wrong key, sender or tampered)")
	// ErrMessageTooLarge is returned for a plaintext over the limit.
	ErrMessageTooLarge = errors.New("e2ee: message too large")
	// ErrFingerprint is returned for an SDP without one usable sha-256
	// DTLS fingerprint.
	ErrFingerprint = errors.New("e2ee: no single sha-256 DTLS fingerprint")
	// ErrMeta is returned for a meta payload that is not one of ours.
	ErrMeta = errors.New("e2ee: malformed meta payload")
)

// SealChat encrypts one chat message from sender with the chat key.
func SealChat(chatKey []byte, sender string, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxChatBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(plaintext), MaxChatBytes)
	}
	return sealBox(chatKey, boxLabelChat, sender, plaintext)
}

// OpenChat decrypts a chat message that sender sealed.
func OpenChat(chatKey []byte, sender string, sealed []byte) ([]byte, error) {
	return openBox(chatKey, boxLabelChat, sender, sealed)
}

// SealName encrypts the sender's display name with the names key.
func SealName(namesKey []byte, sender, name string) ([]byte, error) {
	if len(name) > MaxNameBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(name), MaxNameBytes)
	}
	return sealBox(namesKey, boxLabelName, sender, []byte(name))
}

// OpenName decrypts a display name that sender sealed.
func OpenName(namesKey []byte, sender string, sealed []byte) (string, error) {
	b, err := openBox(namesKey, boxLabelName, sender, sealed)
	return string(b), err
}

func boxAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("e2ee: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sealBox(key []byte, label, sender string, plaintext []byte) ([]byte, error) {
	g, err := boxAEAD(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+boxNonceSize, SealOverhead+len(plaintext))
	out[0] = boxVersion
	// Random nonces: a room sees far fewer than 2^32 messages per key.
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return g.Seal(out, out[1:1+boxNonceSize], plaintext, []byte(label+sender)), nil
}

func openBox(key []byte, label, sender string, sealed []byte) ([]byte, error) {
	g, err := boxAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < SealOverhead || sealed[0] != boxVersion {
		return nil, ErrOpen
	}
	pt, err := g.Open(nil, sealed[1:1+boxNonceSize], sealed[1+boxNonceSize:], []byte(label+sender))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

var fingerprintLineRE = regexp.MustCompile(`(?im)^a=fingerprint:[ \t]*(\S+)[ \t]+([0-9a-f:]+)[ \t]*\r?$`)

// Fingerprint returns the normalized DTLS certificate fingerprint of an
// SDP: "sha-256 AA:BB:...", hash name in lower case, hex in upper case.
// Every sha-256 fingerprint line in the SDP (session or media level) must
// name the same certificate, and there must be one.
func Fingerprint(sdp string) (string, error) {
	var found string
	for _, m := range fingerprintLineRE.FindAllStringSubmatch(sdp, -1) {
		if strings.ToLower(m[1]) != "sha-256" {
			continue
		}
		fp := "sha-256 " + strings.ToUpper(m[2])
		if found != "" && found != fp {
			return "", fmt.Errorf("%w: two different certificates", ErrFingerprint)
		}
		found = fp
	}
	if found == "" {
		return "", ErrFingerprint
	}
	return found, nil
}

// FingerprintMAC authenticates a normalized fingerprint:
// HMAC-SHA256(fingerprint key, "konsil fingerprint v1" || fingerprint).
func FingerprintMAC(fpKey []byte, fingerprint string) []byte {
	m := hmac.New(sha256.New, fpKey)
	m.Write([]byte(fingerprintMACLabel))
	m.Write([]byte(fingerprint))
	return m.Sum(nil)
}

// VerifyFingerprintMAC tells whether mac authenticates fingerprint.
func VerifyFingerprintMAC(fpKey []byte, fingerprint string, mac []byte) bool {
	return hmac.Equal(FingerprintMAC(fpKey, fingerprint), mac)
}

// Meta payload kinds (the "t" of a meta payload).
const (
	MetaFingerprint = "fp"
	MetaName        = "name"
	// MetaMute carries a conference participant's sealed mute state
	// (SealMute).
	MetaMute = "mute"
)

// Meta is what a client puts into a signaling meta message: JSON
// {"t": kind, "v": base64url bytes}, itself base64url-encoded as
// meta.data. For "fp" the bytes are FingerprintMAC of the sender's own
// fingerprint; for "name" they are SealName's output, for "mute"
// SealMute's.
type Meta struct {
	Kind  string
	Value []byte
}

type metaWire struct {
	T string `json:"t"`
	V string `json:"v"`
}

// EncodeMeta encodes a meta payload for meta.data.
func EncodeMeta(m Meta) string {
	b, _ := json.Marshal(metaWire{T: m.Kind, V: base64.RawURLEncoding.EncodeToString(m.Value)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeMeta decodes meta.data. Unknown kinds decode without error, so a
// newer peer's additions can be ignored by the caller.
func DecodeMeta(data string) (Meta, error) {
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return Meta{}, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	var j metaWire
	if err := json.Unmarshal(raw, &j); err != nil || j.T == "" {
		return Meta{}, fmt.Errorf("%w: not {\"t\",\"v\"} JSON", ErrMeta)
	}
	v, err := base64.RawURLEncoding.DecodeString(j.V)
	if err != nil {
		return Meta{}, fmt.Errorf("%w: v: %v", ErrMeta, err)
	}
	return Meta{Kind: j.T, Value: v}, nil
}
