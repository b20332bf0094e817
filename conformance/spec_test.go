// Package conformance_test holds a client written only from what
// docs/PROTOCOL.md and docs/SECURITY.md state. Its constants — labels,
// salts, lengths, the SFrame suite, message and payload shapes — are
// parsed out of the docs' tables and code blocks, not copied from the
// code, and it talks to the server and to the Go SDK over real sockets.
// A wrong number or a reworded formula in a doc fails CI here: that is
// what an integrator who writes a client from the docs would meet.
package conformance_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// spec is everything the doc client takes from the docs.
type spec struct {
	// Key schedule (SECURITY.md, "Key schedule").
	hkdfSalt   string
	keyLen     int
	keyLabels  map[string]string // "media", "chat", "names", "fingerprint" -> HKDF info
	senderInfo string            // prefix of the SFrame sender base key's info
	kidBytes   int
	senderLen  int

	// Sealed messages.
	sealVersion byte
	nonceLen    int
	tagLen      int
	sealLabels  map[string]string // "chat message", "display name", "mute state …" -> AAD label

	// Fingerprint check.
	fpPrefix string // "sha-256 "
	fpLabel  string

	// SFrame.
	suite                   uint16
	sframeKeyLabel          string
	sframeSaltLabel         string
	sframeKeyLen            int
	sframeSaltLen           int
	vp8KeyPrefix            int
	vp8DeltaPrefix          int
	opusPrefix              int
	metaKindKey, metaValKey string
	metaKinds               map[string]bool

	// PROTOCOL.md.
	joinPath, wsPath string
	helloVersion     int
	chatLabel        string
	chatID           int
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// find returns the submatches of re in doc, failing with what was looked
// for: a doc reworded so that a client can no longer find a fact fails
// as surely as a wrong value.
func find(t *testing.T, doc, what, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("the docs no longer state %s (looked for /%s/)", what, re)
	}
	return m
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readSpec parses the facts the doc client needs out of the docs.
func readSpec(t *testing.T) spec {
	t.Helper()
	sec, proto := readDoc(t, "SECURITY.md"), readDoc(t, "PROTOCOL.md")
	var s spec

	m := find(t, sec, "the key schedule", "key\\(label\\) = HKDF-SHA256\\(IKM = room secret, salt = UTF-8 \"([^\"]+)\", info = UTF-8 label, L = (\\d+)\\)")
	s.hkdfSalt, s.keyLen = m[1], atoi(t, m[2])
	s.keyLabels = map[string]string{}
	for _, row := range regexp.MustCompile("(?m)^\\| `(konsil [a-z]+)` \\| ([a-z]+) key \\|").FindAllStringSubmatch(sec, -1) {
		s.keyLabels[row[2]] = row[1]
	}
	for _, k := range []string{"media", "chat", "names", "fingerprint"} {
		if s.keyLabels[k] == "" {
			t.Fatalf("SECURITY.md's key table has no label for the %s key", k)
		}
	}
	m = find(t, sec, "the SFrame sender base key", "sender_base_key\\(kid\\) = HKDF-SHA256\\(IKM = media key, salt = empty, info = UTF-8 \"([^\"]+)\" \\|\\| KID as (\\d+)-byte big-endian, L = (\\d+)\\)")
	s.senderInfo, s.kidBytes, s.senderLen = m[1], atoi(t, m[2]), atoi(t, m[3])

	m = find(t, sec, "the sealed message format", "sealed = 0x([0-9a-fA-F]{2}) \\|\\| nonce \\((\\d+) random bytes\\) \\|\\| AES-256-GCM ciphertext \\|\\| tag \\((\\d+) bytes\\)")
	v, _ := strconv.ParseUint(m[1], 16, 8)
	s.sealVersion, s.nonceLen, s.tagLen = byte(v), atoi(t, m[2]), atoi(t, m[3])
	find(t, sec, "the sealed message AAD", "AAD += UTF-8 label \\|\\| UTF-8 sender participant id")
	s.sealLabels = map[string]string{}
	for _, row := range regexp.MustCompile("(?m)^\\| ([a-z ()]+) \\| (chat|names) key \\| `(konsil [a-z]+ v\\d)` \\|").FindAllStringSubmatch(sec, -1) {
		s.sealLabels[strings.Fields(row[1])[0]] = row[3]
	}
	for _, k := range []string{"chat", "display", "mute"} {
		if s.sealLabels[k] == "" {
			t.Fatalf("SECURITY.md's sealed-message table has no label for %q", k)
		}
	}

	m = find(t, sec, "the fingerprint format", "fingerprint = \"([^\"]+)\" \\|\\| upper-case hex with colons")
	s.fpPrefix = m[1]
	m = find(t, sec, "the fingerprint MAC", "MAC += HMAC-SHA256\\(fingerprint key, UTF-8 \"([^\"]+)\" \\|\\| UTF-8 fingerprint\\)")
	s.fpLabel = m[1]

	m = find(t, sec, "the SFrame suite number", "`AES_128_GCM_SHA256_128` \\(\\*\\*0x([0-9A-Fa-f]{4})\\*\\*")
	suite, _ := strconv.ParseUint(m[1], 16, 16)
	s.suite = uint16(suite)
	m = find(t, sec, "the SFrame key label", "sframe_key += HKDF-Expand\\(sframe_secret, \"([^\"]+)\" +\\|\\| KID \\|\\| suite, (\\d+)\\)")
	s.sframeKeyLabel, s.sframeKeyLen = m[1], atoi(t, m[2])
	m = find(t, sec, "the SFrame salt label", "sframe_salt += HKDF-Expand\\(sframe_secret, \"([^\"]+)\" \\|\\| KID \\|\\| suite, (\\d+)\\)")
	s.sframeSaltLabel, s.sframeSaltLen = m[1], atoi(t, m[2])
	find(t, sec, "the SFrame key schedule's extract", "sframe_secret += HKDF-Extract\\(salt = empty, IKM = base_key\\)")
	find(t, sec, "the SFrame nonce", "nonce += sframe_salt XOR \\(CTR as 12 bytes big-endian\\)")
	find(t, sec, "the SFrame AAD", "AAD += header \\|\\| clear prefix")
	find(t, sec, "the SFrame frame layout", "sent frame += clear prefix \\|\\| header \\|\\| ciphertext \\|\\| tag \\(16 bytes\\)")
	m = find(t, sec, "the VP8 and Opus clear prefixes", "(?s)VP8 (\\d+) bytes on keyframes.*?, (\\d+) on delta frames \\(frame tag\\); Opus (\\d+) byte")
	s.vp8KeyPrefix, s.vp8DeltaPrefix, s.opusPrefix = atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])

	m = find(t, sec, "the meta payload shape", "meta.data = base64url\\( UTF-8 JSON \\{\"(\\w+)\": kind, \"(\\w+)\": base64url\\(bytes\\)\\} \\)")
	s.metaKindKey, s.metaValKey = m[1], m[2]
	s.metaKinds = map[string]bool{}
	for _, row := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\| (the|a|conferences)").FindAllStringSubmatch(sec, -1) {
		s.metaKinds[row[1]] = true
	}

	m = find(t, proto, "the join and WebSocket paths", "`POST (/api/v1/join)` with the link token or the short code[\\s\\S]*?`ws\\(s\\)://<host>(/api/v1/ws)`")
	s.joinPath, s.wsPath = m[1], m[2]
	m = find(t, proto, "the hello message", "\\{\"type\": \"hello\", \"v\": (\\d+), \"token\": \"<session_token>\"\\}")
	s.helloVersion = atoi(t, m[1])
	m = find(t, proto, "the chat channel", "negotiated data channel \\(`negotiated: true`, id (\\d+), label `(\\w+)`")
	s.chatID, s.chatLabel = atoi(t, m[1]), m[2]
	return s
}

// TestDocsStateWhatTheClientNeeds: every fact the doc client uses can be
// found in the docs, and the tables name each kind once.
func TestDocsStateWhatTheClientNeeds(t *testing.T) {
	s := readSpec(t)
	if s.keyLen != 32 || s.senderLen != 16 || s.kidBytes != 8 {
		t.Errorf("key lengths from SECURITY.md: L=%d, sender L=%d, KID bytes %d", s.keyLen, s.senderLen, s.kidBytes)
	}
	for _, k := range []string{"fp", "name", "mute"} {
		if !s.metaKinds[k] {
			t.Errorf("SECURITY.md's meta table lacks %q", k)
		}
	}
}
