package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

// Suite is an SFrame cipher suite (RFC 9605 §4.5, the IANA registry of
// §8.1). The names are the RFC's, as crypto/tls keeps the TLS names.
type Suite uint16

// The cipher suites of RFC 9605. Konsil uses AES_128_GCM_SHA256_128
// (DefaultSuite); the others are here so that every RFC vector runs.
const (
	AES_128_CTR_HMAC_SHA256_80 Suite = 1
	AES_128_CTR_HMAC_SHA256_64 Suite = 2
	AES_128_CTR_HMAC_SHA256_32 Suite = 3
	AES_128_GCM_SHA256_128     Suite = 4
	AES_256_GCM_SHA512_128     Suite = 5
)

// DefaultSuite is the suite of Konsil conferences (DESIGN.md).
const DefaultSuite = AES_128_GCM_SHA256_128

// suiteParams are the sizes of RFC 9605 §4.5 for one suite.
type suiteParams struct {
	name string
	hash func() hash.Hash
	nk   int  // AEAD.Nk: size of sframe_key
	nka  int  // AEAD.Nka: AES key size (CTR suites: sframe_key = enc_key || auth_key)
	nt   int  // AEAD.Nt: tag size
	ctr  bool // AES-CTR + HMAC (§4.5.1) rather than AES-GCM
}

// nonceSize is AEAD.Nn, 12 bytes for every suite.
const nonceSize = 12

var suites = [...]suiteParams{
	AES_128_CTR_HMAC_SHA256_80: {"AES_128_CTR_HMAC_SHA256_80", sha256.New, 48, 16, 10, true},
	AES_128_CTR_HMAC_SHA256_64: {"AES_128_CTR_HMAC_SHA256_64", sha256.New, 48, 16, 8, true},
	AES_128_CTR_HMAC_SHA256_32: {"AES_128_CTR_HMAC_SHA256_32", sha256.New, 48, 16, 4, true},
	AES_128_GCM_SHA256_128:     {"AES_128_GCM_SHA256_128", sha256.New, 16, 16, 16, false},
	AES_256_GCM_SHA512_128:     {"AES_256_GCM_SHA512_128", sha512.New, 32, 32, 16, false},
}

func (s Suite) params() (suiteParams, bool) {
	if s == 0 || int(s) >= len(suites) {
		return suiteParams{}, false
	}
	return suites[s], true
}

// Valid reports whether s is one of the five suites of RFC 9605.
func (s Suite) Valid() bool { _, ok := s.params(); return ok }

// TagLen is the size of the authentication tag the suite adds to a frame.
func (s Suite) TagLen() int { p, _ := s.params(); return p.nt }

func (s Suite) String() string {
	if p, ok := s.params(); ok {
		return p.name
	}
	return fmt.Sprintf("Suite(%d)", uint16(s))
}

// RFC 9605 §4.4.2 labels; KID (8 bytes) and suite (2 bytes) follow, big-endian.
const (
	sframeKeyLabel  = "SFrame 1.0 Secret key "
	sframeSaltLabel = "SFrame 1.0 Secret salt "
)

// deriveSFrameKey is the key schedule of RFC 9605 §4.4.2:
//
//	sframe_secret = HKDF-Extract("", base_key)
//	sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  || KID || suite, Nk)
//	sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " || KID || suite, Nn)
//
// with the suite's hash.
func deriveSFrameKey(s Suite, kid uint64, baseKey []byte) (key, salt []byte, err error) {
	p, ok := s.params()
	if !ok {
		return nil, nil, fmt.Errorf("e2ee: unknown SFrame cipher suite %d", uint16(s))
	}
	if len(baseKey) == 0 {
		return nil, nil, fmt.Errorf("e2ee: empty SFrame base key for KID %d", kid)
	}
	secret, err := hkdf.Extract(p.hash, baseKey, nil)
	if err != nil {
		return nil, nil, err
	}
	if key, err = hkdf.Expand(p.hash, secret, sframeLabel(sframeKeyLabel, kid, s), p.nk); err != nil {
		return nil, nil, err
	}
	if salt, err = hkdf.Expand(p.hash, secret, sframeLabel(sframeSaltLabel, kid, s), nonceSize); err != nil {
		return nil, nil, err
	}
	return key, salt, nil
}

func sframeLabel(prefix string, kid uint64, s Suite) string {
	b := make([]byte, 0, len(prefix)+10)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, kid)
	b = binary.BigEndian.AppendUint16(b, uint16(s))
	return string(b)
}

// newSuiteAEAD builds the suite's AEAD over sframe_key.
func newSuiteAEAD(s Suite, key []byte) (cipher.AEAD, error) {
	p, ok := s.params()
	if !ok {
		return nil, fmt.Errorf("e2ee: unknown SFrame cipher suite %d", uint16(s))
	}
	if len(key) != p.nk {
		return nil, fmt.Errorf("e2ee: %v key must be %d bytes, got %d", s, p.nk, len(key))
	}
	block, err := aes.NewCipher(key[:p.nka])
	if err != nil {
		return nil, err
	}
	if !p.ctr {
		return cipher.NewGCM(block)
	}
	return newCTRHMAC(block, key[p.nka:], p.hash, p.nt), nil
}

func newCTRHMAC(block cipher.Block, authKey []byte, h func() hash.Hash, tagLen int) *ctrHMAC {
	a := &ctrHMAC{block: block, tagLen: tagLen}
	a.macs.New = func() any { return &macState{mac: hmac.New(h, authKey)} }
	return a
}

// ctrHMAC is the AES-CTR + HMAC AEAD of RFC 9605 §4.5.1, encrypt-then-MAC
// as in SRTP, which is what allows the short tags of suites 1–3. It holds
// only keys and a pool of keyed HMACs, so it is safe for concurrent use.
// Each call allocates its CTR state (the GCM default suite allocates
// nothing).
type ctrHMAC struct {
	block  cipher.Block
	macs   sync.Pool // of *macState
	tagLen int
}

// macState is an HMAC keyed with auth_key and its scratch space, pooled
// because buffers passed to a hash.Hash escape to the heap.
type macState struct {
	mac  hash.Hash
	lens [24]byte
	sum  [sha512.Size]byte
}

func (a *ctrHMAC) NonceSize() int { return nonceSize }
func (a *ctrHMAC) Overhead() int  { return a.tagLen }

func (a *ctrHMAC) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != nonceSize {
		panic("e2ee: incorrect nonce length given to AES-CTR-HMAC")
	}
	ret, out := growSlice(dst, len(plaintext)+a.tagLen)
	ct := out[:len(plaintext)]
	a.xorKeyStream(ct, plaintext, nonce)
	a.tag(out[len(plaintext):], nonce, aad, ct)
	return ret
}

func (a *ctrHMAC) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		panic("e2ee: incorrect nonce length given to AES-CTR-HMAC")
	}
	if len(ciphertext) < a.tagLen {
		return nil, ErrAuth
	}
	ct, tag := ciphertext[:len(ciphertext)-a.tagLen], ciphertext[len(ciphertext)-a.tagLen:]
	var want [sha512.Size]byte
	a.tag(want[:a.tagLen], nonce, aad, ct)
	if subtle.ConstantTimeCompare(want[:a.tagLen], tag) != 1 {
		return nil, ErrAuth
	}
	ret, out := growSlice(dst, len(ct))
	a.xorKeyStream(out, ct, nonce)
	return ret, nil
}

// xorKeyStream runs AES-CTR from the initial counter block nonce || 0^32
// (RFC 9605 §4.5.1). Go's CTR carries into the nonce after 2^32 blocks
// where WebCrypto (length: 32) would wrap; no frame comes near 64 GiB.
func (a *ctrHMAC) xorKeyStream(dst, src, nonce []byte) {
	var iv [aes.BlockSize]byte
	copy(iv[:], nonce)
	cipher.NewCTR(a.block, iv[:]).XORKeyStream(dst, src)
}

// tag writes the truncated HMAC of RFC 9605 §4.5.1 to out:
// HMAC(auth_key, len(aad) || len(ct) || Nt || nonce || aad || ct), each
// length 8 bytes big-endian.
func (a *ctrHMAC) tag(out, nonce, aad, ct []byte) {
	m := a.macs.Get().(*macState)
	defer a.macs.Put(m)
	m.mac.Reset()
	binary.BigEndian.PutUint64(m.lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(m.lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(m.lens[16:], uint64(a.tagLen))
	m.mac.Write(m.lens[:])
	m.mac.Write(nonce)
	m.mac.Write(aad)
	m.mac.Write(ct)
	copy(out, m.mac.Sum(m.sum[:0]))
}
