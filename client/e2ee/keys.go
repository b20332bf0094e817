// Package e2ee holds the end-to-end encryption of Konsil clients: the room
// key schedule (HKDF-SHA256 from the room secret in the link fragment),
// the sealing of chat messages and display names (AES-256-GCM), the
// fingerprint MAC that detects a signaling server swapping DTLS
// certificates, and SFrame (RFC 9605) for conference media. The browser
// app implements the same schedule in client/web/static/js/e2ee/; a
// cross-language test holds the two to identical bytes.
//
// Nothing here talks to the network: callers hand in bytes and get bytes.
// docs/SECURITY.md describes the formats.
package e2ee

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// SecretSize is the size of a room secret in bytes.
const SecretSize = 32

// ErrBadSecret is returned for a room secret that is not exactly 32 bytes,
// or not valid unpadded base64url. A link with such a secret is refused,
// never used with a weaker key.
var ErrBadSecret = errors.New("e2ee: room secret must be 32 bytes in unpadded base64url")

// Salt and labels of the key schedule. Changing any of them changes every
// key, so they carry a version.
const (
	keySalt          = "konsil/v1"
	labelMedia       = "konsil media"
	labelChat        = "konsil chat"
	labelNames       = "konsil names"
	labelFingerprint = "konsil fingerprint"
	labelSender      = "konsil sframe sender "
)

// Keys are the keys derived from one room secret, each 32 bytes.
type Keys struct {
	// Media is the base of the per-sender SFrame keys (SenderBaseKey).
	Media []byte
	// Chat seals data-channel chat messages (SealChat).
	Chat []byte
	// Names seals display names sent over signaling (SealName).
	Names []byte
	// Fingerprint authenticates DTLS fingerprints (FingerprintMAC).
	Fingerprint []byte
}

// DeriveKeys derives the room keys from a 32-byte room secret:
// HKDF-SHA256(IKM = secret, salt = "konsil/v1", info = label, L = 32).
func DeriveKeys(secret []byte) (Keys, error) {
	if len(secret) != SecretSize {
		return Keys{}, fmt.Errorf("%w: got %d bytes", ErrBadSecret, len(secret))
	}
	var k Keys
	for _, d := range []struct {
		dst   *[]byte
		label string
	}{{&k.Media, labelMedia}, {&k.Chat, labelChat}, {&k.Names, labelNames}, {&k.Fingerprint, labelFingerprint}} {
		key, err := hkdf.Key(sha256.New, secret, []byte(keySalt), d.label, 32)
		if err != nil {
			return Keys{}, err
		}
		*d.dst = key
	}
	return k, nil
}

// SenderBaseKey derives the SFrame base key of one sender from the media
// key: HKDF-SHA256(IKM = media key, salt = empty, info = "konsil sframe
// sender " || kid as 8-byte big-endian, L = 16). Each sender encrypts with
// its own key, so a receiver can tell senders apart and no two senders
// share a nonce space.
func SenderBaseKey(mediaKey []byte, kid uint64) []byte {
	info := make([]byte, len(labelSender)+8)
	copy(info, labelSender)
	binary.BigEndian.PutUint64(info[len(labelSender):], kid)
	key, err := hkdf.Key(sha256.New, mediaKey, nil, string(info), 16)
	if err != nil {
		// Only an output longer than 255 hash blocks fails; 16 bytes never does.
		panic(err)
	}
	return key
}

// ParseSecret decodes the room secret of a link fragment (the value of
// k=, unpadded base64url). Anything but exactly 32 bytes is ErrBadSecret.
func ParseSecret(s string) ([]byte, error) {
	if strings.ContainsAny(s, "=+/") {
		return nil, ErrBadSecret
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != SecretSize {
		return nil, ErrBadSecret
	}
	return b, nil
}

// FormatSecret encodes a room secret for a link fragment (#k=...).
func FormatSecret(secret []byte) string { return base64.RawURLEncoding.EncodeToString(secret) }
