// Package pake is SPAKE2 (RFC 9382) over P-256 with the ciphersuite
// P256-SHA256-HKDF-HMAC: two parties who share a short password (the PIN
// an appointment letter carries) agree on a strong key over a channel
// someone else runs (Konsil's signaling server), and each learns whether
// the other knew the same password. Whoever relays the messages learns
// nothing that lets it test a password offline: each exchange it takes
// part in tests at most one guess.
//
// The package owns the protocol and its encodings only. It does not send
// anything, count failed attempts, or decide what the agreed key protects;
// signaling carries the messages, the server's guessing limit counts
// attempts, and the caller derives its own keys from the one returned here.
// The browser app implements the same exchange in
// client/web/static/js/e2ee/pake.js; an interop test runs one against the
// other. docs/SECURITY.md describes the construction.
//
// The curve arithmetic is filippo.io/nistec, the constant-time P-256 that
// Go's own crypto/ecdh and crypto/ecdsa are built on.
package pake

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"filippo.io/nistec"
)

// Sizes of what the exchange sends and returns.
const (
	// MessageSize is the size of pA and pB: an uncompressed SEC1 P-256 point.
	MessageSize = 65
	// ConfirmSize is the size of a key confirmation (HMAC-SHA256).
	ConfirmSize = sha256.Size
	// KeySize is the size of the shared key Ke: half of SHA-256 (RFC 9382 §4).
	KeySize = sha256.Size / 2
	// MaxContextSize bounds each identity and the AAD, so a caller cannot
	// feed the transcript unbounded input.
	MaxContextSize = 1024
)

// Errors the caller branches on.
var (
	// ErrBadMessage: the peer's message is not an uncompressed P-256 point,
	// is the identity, or cancels the password mask. A well-behaved peer
	// never sends one; treat it like a failed exchange.
	ErrBadMessage = errors.New("pake: invalid peer message")
	// ErrConfirmation: the peer's key confirmation does not match. The peer
	// used another password, or someone in the middle changed a message.
	ErrConfirmation = errors.New("pake: key confirmation failed")
	// ErrBadInput: an empty password, or an identity or AAD over
	// MaxContextSize.
	ErrBadInput = errors.New("pake: invalid input")
	// ErrState: a method called out of order (Start, Finish, Verify, each
	// once), or after the exchange failed.
	ErrState = errors.New("pake: method called out of order")
)

// Role says which side of the exchange a party is: A masks its message with
// M, B with N (RFC 9382 §3.2). The two parties must take different roles;
// which is which is the caller's protocol.
type Role int

// The two roles.
const (
	RoleA Role = iota
	RoleB
)

// String names the role as the RFC does: "A" or "B".
func (r Role) String() string {
	if r == RoleA {
		return "A"
	}
	return "B"
}

// The fixed points M and N for P-256 (RFC 9382 §6), compressed SEC1. The
// vector test regenerates both from their published seeds.
const (
	pointM = "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f"
	pointN = "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49"
)

// confirmationInfo is the KDF label of RFC 9382 §4.
const confirmationInfo = "ConfirmationKeys"

type step int

const (
	stepNew step = iota
	stepStarted
	stepFinished
	stepDone
	stepFailed
)

// Exchange is one party's side of one SPAKE2 run. It is single-use and not
// safe for concurrent use: one goroutine owns it and calls Start, Finish
// and Verify once each, in that order. Any error ends it; a new attempt
// needs a new Exchange (and counts as a new guess).
type Exchange struct {
	role          Role
	w             []byte // 32 bytes big-endian, 0 < w < n
	idA, idB, aad []byte

	step        step
	x           []byte // our ephemeral scalar, 0 < x < n
	own         []byte // pA (role A) or pB (role B)
	key         []byte // Ke, handed out only by Verify
	peerConfirm []byte // the confirmation we expect from the peer
}

// NewA returns the A side of an exchange. The password is taken as bytes:
// both sides must normalise it the same way (for a PIN: digits only). idA
// and idB name the two parties and aad binds the exchange to its context
// (say, room and attempt); both sides must pass the same three. The
// password is stretched with Argon2id into the scalar w (see Scalar), which
// takes about 20 MiB and a few tens of milliseconds.
func NewA(password, idA, idB, aad []byte) (*Exchange, error) {
	return newFromPassword(RoleA, password, idA, idB, aad)
}

// NewB returns the B side of an exchange; see NewA.
func NewB(password, idA, idB, aad []byte) (*Exchange, error) {
	return newFromPassword(RoleB, password, idA, idB, aad)
}

func newFromPassword(role Role, password, idA, idB, aad []byte) (*Exchange, error) {
	if err := checkContext(idA, idB, aad); err != nil {
		return nil, err
	}
	w, err := Scalar(password, idA, idB, aad)
	if err != nil {
		return nil, err
	}
	return newWithScalar(role, w, idA, idB, aad)
}

// newWithScalar starts an exchange from w directly: the RFC's vectors give
// w, not a password.
func newWithScalar(role Role, w, idA, idB, aad []byte) (*Exchange, error) {
	if err := checkContext(idA, idB, aad); err != nil {
		return nil, err
	}
	if len(w) != scalarSize || !scalarInRange(w) {
		return nil, fmt.Errorf("%w: w is not a nonzero scalar below the group order", ErrBadInput)
	}
	return &Exchange{
		role: role,
		w:    bytes.Clone(w),
		idA:  bytes.Clone(idA),
		idB:  bytes.Clone(idB),
		aad:  bytes.Clone(aad),
	}, nil
}

func checkContext(idA, idB, aad []byte) error {
	for _, c := range []struct {
		name string
		b    []byte
	}{{"idA", idA}, {"idB", idB}, {"aad", aad}} {
		if len(c.b) > MaxContextSize {
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrBadInput, c.name, len(c.b), MaxContextSize)
		}
	}
	return nil
}

// Role reports which side this is.
func (e *Exchange) Role() Role { return e.role }

// Start picks the ephemeral scalar and returns this side's message, pA for
// A and pB for B (MessageSize bytes), to send to the peer. The two
// messages can cross: neither side needs the other's before Start.
func (e *Exchange) Start() ([]byte, error) {
	return e.start(randomScalar())
}

// start is Start with a given x (or y), for the RFC's vectors.
func (e *Exchange) start(x []byte) ([]byte, error) {
	if e.step != stepNew {
		return nil, fmt.Errorf("%w: Start on a %s exchange", ErrState, e.step)
	}
	// RFC 9382 §3.3: pA = w*M + x*P, pB = w*N + y*P.
	mask, err := scalarMult(e.ownPoint(), e.w)
	if err != nil {
		return nil, e.fail(err)
	}
	X, err := nistec.NewP256Point().ScalarBaseMult(x)
	if err != nil {
		return nil, e.fail(fmt.Errorf("pake: x*P: %w", err))
	}
	e.x = bytes.Clone(x)
	e.own = nistec.NewP256Point().Add(mask, X).Bytes()
	e.step = stepStarted
	return bytes.Clone(e.own), nil
}

// Finish takes the peer's message and returns this side's key confirmation
// (ConfirmSize bytes) to send to the peer. The shared key comes only from
// Verify, once the peer's confirmation proves it used the same password:
// a key from an unconfirmed exchange is never handed out.
func (e *Exchange) Finish(peerMsg []byte) ([]byte, error) {
	if e.step != stepStarted {
		return nil, fmt.Errorf("%w: Finish on a %s exchange", ErrState, e.step)
	}
	peer, err := ParseMessage(peerMsg)
	if err != nil {
		return nil, e.fail(err)
	}
	if bytes.Equal(peerMsg, e.own) {
		// Our own message reflected back: no honest peer sends it.
		return nil, e.fail(fmt.Errorf("%w: it is our own message", ErrBadMessage))
	}
	// RFC 9382 §3.3: K = h*x*(pB - w*N) for A, h*y*(pA - w*M) for B; h = 1
	// on P-256.
	unmask, err := scalarMult(e.peerPoint(), e.w)
	if err != nil {
		return nil, e.fail(err)
	}
	unmask.Negate(unmask)
	T := nistec.NewP256Point().Add(peer, unmask)
	if T.IsInfinity() == 1 {
		return nil, e.fail(fmt.Errorf("%w: it cancels the password mask", ErrBadMessage))
	}
	K, err := nistec.NewP256Point().ScalarMult(T, e.x)
	if err != nil {
		return nil, e.fail(fmt.Errorf("pake: x*T: %w", err))
	}
	if K.IsInfinity() == 1 { // cannot happen with 0 < x < n in a prime-order group
		return nil, e.fail(fmt.Errorf("%w: shared point is the identity", ErrBadMessage))
	}
	pA, pB := e.own, peerMsg
	if e.role == RoleB {
		pA, pB = peerMsg, e.own
	}
	s, err := schedule(transcript(e.idA, e.idB, pA, pB, K.Bytes(), e.w), e.aad)
	if err != nil {
		return nil, e.fail(err)
	}
	e.key = s.ke
	e.x = nil // used up: K is computed
	mine, theirs := s.confirmA, s.confirmB
	if e.role == RoleB {
		mine, theirs = s.confirmB, s.confirmA
	}
	e.peerConfirm = theirs
	e.step = stepFinished
	return mine, nil
}

// Verify checks the peer's key confirmation and, if it matches, returns the
// shared key Ke (KeySize bytes). ErrConfirmation means the passwords
// differed or a message was changed on the way; the exchange is then
// over and the caller should count it as a failed attempt.
func (e *Exchange) Verify(peerConfirm []byte) ([]byte, error) {
	if e.step != stepFinished {
		return nil, fmt.Errorf("%w: Verify on a %s exchange", ErrState, e.step)
	}
	if !hmac.Equal(peerConfirm, e.peerConfirm) {
		return nil, e.fail(ErrConfirmation)
	}
	e.step = stepDone
	return bytes.Clone(e.key), nil
}

// fail ends the exchange: nothing derived from it can be taken afterwards.
func (e *Exchange) fail(err error) error {
	e.step = stepFailed
	e.x, e.key, e.peerConfirm = nil, nil, nil
	return err
}

func (e *Exchange) ownPoint() string {
	if e.role == RoleA {
		return pointM
	}
	return pointN
}

func (e *Exchange) peerPoint() string {
	if e.role == RoleA {
		return pointN
	}
	return pointM
}

func (s step) String() string {
	return [...]string{"new", "started", "finished", "verified", "failed"}[s]
}

// ParseMessage decodes a peer's pA or pB: exactly MessageSize bytes, an
// uncompressed SEC1 point on P-256. The compressed form and the identity
// are refused, so there is one encoding per message and the transcript
// both sides hash is the same.
func ParseMessage(b []byte) (*nistec.P256Point, error) {
	if len(b) != MessageSize || b[0] != 4 {
		return nil, fmt.Errorf("%w: want %d bytes starting 0x04, got %d", ErrBadMessage, MessageSize, len(b))
	}
	p, err := nistec.NewP256Point().SetBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if p.IsInfinity() == 1 {
		return nil, fmt.Errorf("%w: the identity", ErrBadMessage)
	}
	return p, nil
}

// scalarMult returns w times the compressed fixed point hexPoint.
func scalarMult(hexPoint string, w []byte) (*nistec.P256Point, error) {
	raw, err := hex.DecodeString(hexPoint)
	if err != nil {
		return nil, fmt.Errorf("pake: fixed point: %w", err)
	}
	p, err := nistec.NewP256Point().SetBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("pake: fixed point: %w", err)
	}
	return p.ScalarMult(p, w)
}

// keySchedule is what RFC 9382 §4 derives from the transcript.
type keySchedule struct {
	tt, ke, ka, kcA, kcB, confirmA, confirmB []byte
}

// transcript is TT of RFC 9382 §3.3: each part prefixed by its length as
// an 8-byte little-endian number; an absent identity is empty.
func transcript(idA, idB, pA, pB, K, w []byte) []byte {
	var tt []byte
	for _, part := range [][]byte{idA, idB, pA, pB, K, w} {
		tt = binary.LittleEndian.AppendUint64(tt, uint64(len(part)))
		tt = append(tt, part...)
	}
	return tt
}

// schedule is RFC 9382 §4: Ke || Ka = Hash(TT);
// KcA || KcB = KDF(Ka, nil, "ConfirmationKeys" || AAD, 32);
// cA = MAC(KcA, TT), cB = MAC(KcB, TT).
func schedule(tt, aad []byte) (keySchedule, error) {
	h := sha256.Sum256(tt)
	s := keySchedule{tt: tt, ke: bytes.Clone(h[:KeySize]), ka: bytes.Clone(h[KeySize:])}
	kc, err := hkdf.Key(sha256.New, s.ka, nil, confirmationInfo+string(aad), 2*KeySize)
	if err != nil {
		return keySchedule{}, fmt.Errorf("pake: confirmation keys: %w", err)
	}
	s.kcA, s.kcB = kc[:KeySize], kc[KeySize:]
	s.confirmA = mac(s.kcA, tt)
	s.confirmB = mac(s.kcB, tt)
	return s, nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
