package e2ee

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Errors of SFrame encryption that callers branch on. They come wrapped
// with the KID or the part of the frame at fault; test with errors.Is.
var (
	// ErrUnknownKID: the frame names a KID this Context has no key for
	// (a sender the receiver has not heard of yet, or one that left).
	ErrUnknownKID = errors.New("e2ee: no SFrame key for KID")
	// ErrAuth: the frame does not authenticate: wrong key, or the header,
	// clear prefix, metadata or ciphertext were changed on the way.
	ErrAuth = errors.New("e2ee: SFrame frame does not authenticate")
	// ErrMalformed: the frame cannot be an SFrame frame at all (bad header,
	// shorter than header and tag, shorter than its codec's clear prefix).
	ErrMalformed = errors.New("e2ee: malformed SFrame frame")
	// ErrCounterExhausted: the sender has used every counter of a KID;
	// it needs a new KID (never a reused counter).
	ErrCounterExhausted = errors.New("e2ee: SFrame counter exhausted")
)

// Context holds the SFrame keys (RFC 9605 §4.4) of one participant, all of
// one cipher suite, by KID, with the next counter of each KID.
//
// Encrypt draws counters itself: a counter is never handed out twice for a
// KID within a Context, even when its key is removed and added again. It
// cannot see other Contexts or earlier runs of the program, so a (KID,
// base key) pair must encrypt in one Context only, ever: Konsil gives each
// join its own KID for that.
//
// A Context is safe for concurrent use: mu guards the maps, a key never
// changes once made, and counters are atomic.
type Context struct {
	suite Suite

	mu       sync.RWMutex
	keys     map[uint64]*sframeKey
	counters map[uint64]*atomic.Uint64 // next CTR per KID; outlives its key
}

// sframeKey is sframe_key and sframe_salt of one KID, ready to use.
type sframeKey struct {
	kid  uint64
	aead cipher.AEAD
	salt [nonceSize]byte
	next *atomic.Uint64
}

// NewContext returns an empty Context for suite (DefaultSuite in Konsil).
func NewContext(suite Suite) (*Context, error) {
	if !suite.Valid() {
		return nil, fmt.Errorf("e2ee: unknown SFrame cipher suite %d", uint16(suite))
	}
	return &Context{
		suite:    suite,
		keys:     make(map[uint64]*sframeKey),
		counters: make(map[uint64]*atomic.Uint64),
	}, nil
}

// Suite is the cipher suite of c.
func (c *Context) Suite() Suite { return c.suite }

// AddKey derives the SFrame key and salt of kid from baseKey and makes them
// available to Encrypt and Decrypt, replacing any key kid had. The KID's
// counter carries on from where it was.
func (c *Context) AddKey(kid uint64, baseKey []byte) error {
	key, salt, err := deriveSFrameKey(c.suite, kid, baseKey)
	if err != nil {
		return err
	}
	aead, err := newSuiteAEAD(c.suite, key)
	if err != nil {
		return err
	}
	k := &sframeKey{kid: kid, aead: aead}
	copy(k.salt[:], salt)

	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.counters[kid]
	if next == nil {
		next = new(atomic.Uint64)
		c.counters[kid] = next
	}
	k.next = next
	c.keys[kid] = k
	return nil
}

// RemoveKey forgets the key of kid (a sender left); its counter is kept.
func (c *Context) RemoveKey(kid uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, kid)
}

func (c *Context) key(kid uint64) (*sframeKey, error) {
	c.mu.RLock()
	k := c.keys[kid]
	c.mu.RUnlock()
	if k == nil {
		return nil, fmt.Errorf("%w %d", ErrUnknownKID, kid)
	}
	return k, nil
}

// Encrypt encrypts plaintext with the key of kid and the KID's next
// counter and appends the SFrame frame (header || ciphertext || tag) to
// dst. metadata is authenticated with the header but not sent (RFC 9605
// §4.4.3); the receiver must pass the same bytes to Decrypt.
//
// With cap(dst)-len(dst) ≥ len(plaintext) + len(metadata) + 64, the GCM
// suites do not allocate. dst must not overlap plaintext.
func (c *Context) Encrypt(dst []byte, kid uint64, metadata, plaintext []byte) ([]byte, error) {
	return c.encrypt(dst, nil, kid, metadata, plaintext)
}

// encrypt appends clear || header || ciphertext || tag to dst.
func (c *Context) encrypt(dst, clear []byte, kid uint64, metadata, plaintext []byte) ([]byte, error) {
	k, err := c.key(kid)
	if err != nil {
		return nil, err
	}
	ctr, err := k.nextCounter()
	if err != nil {
		return nil, err
	}
	return k.seal(dst, clear, ctr, metadata, plaintext), nil
}

// Decrypt checks and decrypts the SFrame frame (header || ciphertext ||
// tag) with the key its KID names and the metadata the sender gave, and
// appends the plaintext to dst. It returns the KID, so the caller knows
// who sent the frame. Errors: ErrMalformed, ErrUnknownKID, ErrAuth.
//
// With cap(dst)-len(dst) ≥ len(frame) + len(metadata) + 32, the GCM suites
// do not allocate. dst must not overlap frame.
func (c *Context) Decrypt(dst, metadata, frame []byte) (uint64, []byte, error) {
	return c.decrypt(dst, nil, metadata, frame)
}

// decrypt appends clear || plaintext to dst.
func (c *Context) decrypt(dst, clear, metadata, frame []byte) (uint64, []byte, error) {
	h, hl, err := DecodeHeader(frame)
	if err != nil {
		return 0, nil, err
	}
	k, err := c.key(h.KID)
	if err != nil {
		return h.KID, nil, err
	}
	out, err := k.open(dst, clear, h.CTR, metadata, frame[:hl], frame[hl:])
	return h.KID, out, err
}

// nextCounter hands out the KID's next counter. The last value of the
// 64-bit space is never used, so the counter cannot wrap to 0.
func (k *sframeKey) nextCounter() (uint64, error) {
	for {
		ctr := k.next.Load()
		if ctr == math.MaxUint64 {
			return 0, fmt.Errorf("%w for KID %d", ErrCounterExhausted, k.kid)
		}
		if k.next.CompareAndSwap(ctr, ctr+1) {
			return ctr, nil
		}
	}
}

// nonce writes the frame nonce for ctr to b. RFC 9605 §4.4.3: nonce =
// sframe_salt XOR CTR, CTR encoded big-endian in Nn bytes.
func (k *sframeKey) nonce(b []byte, ctr uint64) {
	copy(b, k.salt[:])
	for i := nonceSize - 1; ctr > 0; i-- {
		b[i] ^= byte(ctr)
		ctr >>= 8
	}
}

// seal appends clear || header || AEAD.Encrypt(pt, aad = header ||
// metadata) to dst (RFC 9605 §4.4.3). The AAD and nonce are assembled in
// dst's spare room past the output (cipher.AEAD takes them as slices, and
// a stack buffer passed through the interface would escape to the heap),
// so a large enough dst means no allocation.
func (k *sframeKey) seal(dst, clear []byte, ctr uint64, metadata, plaintext []byte) []byte {
	h := Header{KID: k.kid, CTR: ctr}
	hl := h.Len()
	n := len(clear) + hl + len(plaintext) + k.aead.Overhead()
	ret, out := growSlice(dst, n+hl+len(metadata)+nonceSize)
	aad := out[n : n+hl+len(metadata)]
	nonce := out[n+len(aad):]
	h.put(aad)
	copy(aad[hl:], metadata)
	k.nonce(nonce, ctr)

	copy(out, clear)
	copy(out[len(clear):], aad[:hl])
	body := len(clear) + hl
	k.aead.Seal(out[body:body], nonce, plaintext, aad)
	return ret[:len(dst)+n]
}

// open appends clear || AEAD.Decrypt(ct, aad = header || metadata) to dst,
// with the same use of dst's spare room as seal.
func (k *sframeKey) open(dst, clear []byte, ctr uint64, metadata, header, ct []byte) ([]byte, error) {
	if len(ct) < k.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes after the header, tag alone is %d", ErrMalformed, len(ct), k.aead.Overhead())
	}
	n := len(clear) + len(ct) - k.aead.Overhead()
	ret, out := growSlice(dst, n+len(header)+len(metadata)+nonceSize)
	aad := out[n : n+len(header)+len(metadata)]
	nonce := out[n+len(aad):]
	copy(aad, header)
	copy(aad[len(header):], metadata)
	k.nonce(nonce, ctr)

	copy(out, clear)
	if _, err := k.aead.Open(out[len(clear):len(clear)], nonce, ct, aad); err != nil {
		return nil, fmt.Errorf("%w (KID %d, CTR %d)", ErrAuth, k.kid, ctr)
	}
	return ret[:len(dst)+n], nil
}
