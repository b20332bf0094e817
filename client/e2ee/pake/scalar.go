package pake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"

	"golang.org/x/crypto/argon2"
)

// scalarSize is the size of a P-256 scalar, big-endian.
const scalarSize = 32

// order is n, the order of the P-256 group (SEC 2 §2.4.2), big-endian.
var order = [scalarSize]byte{
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
}

// Argon2id parameters for w. RFC 9382 §3.2 leaves the password hash to
// the application and asks for a memory-hard one. These are OWASP's
// smallest recommended Argon2id setting (19 MiB, 2 passes, 1 lane): the
// browser runs it once per exchange in pure JavaScript, on phones too.
// Changing any of them, or the salt label, changes w: both sides must
// agree, so the label carries a version.
const (
	kdfTime      = 2
	kdfMemoryKiB = 19 * 1024
	kdfThreads   = 1
	// kdfOutput is 64 bits longer than n, so reducing it mod n leaves a
	// bias below 2^-64 (RFC 9382 §3.2, NIST SP 800-56A).
	kdfOutput = scalarSize + 8
	saltLabel = "konsil/pake/v1 w"
)

// Scalar derives SPAKE2's w from the password: Argon2id(password, salt)
// reduced mod n, with salt = SHA-256(label || len(idA) || idA || len(idB)
// || idB || len(aad) || aad) and len as in the transcript (8 bytes,
// little-endian). The salt ties w to the parties and the context, so a
// table of PIN -> w computed for one room is worthless for another.
//
// With a PIN of a few digits the memory-hard hash buys little against
// someone who already has w (an offline search over 10^8 PINs stays
// cheap); what protects the PIN is that SPAKE2 never exposes w to a
// passive observer and an active one gets one guess per exchange. The
// reduction mod n uses math/big, which is not constant-time; it runs once
// per exchange on a value the caller already holds.
func Scalar(password, idA, idB, aad []byte) ([]byte, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("%w: empty password", ErrBadInput)
	}
	if err := checkContext(idA, idB, aad); err != nil {
		return nil, err
	}
	salt := sha256.New()
	salt.Write([]byte(saltLabel))
	for _, part := range [][]byte{idA, idB, aad} {
		salt.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(part))))
		salt.Write(part)
	}
	stretched := argon2.IDKey(password, salt.Sum(nil), kdfTime, kdfMemoryKiB, kdfThreads, kdfOutput)
	n := new(big.Int).SetBytes(order[:])
	w := new(big.Int).Mod(new(big.Int).SetBytes(stretched), n)
	out := w.FillBytes(make([]byte, scalarSize))
	if !scalarInRange(out) { // w = 0: probability 2^-256
		return nil, fmt.Errorf("%w: password hashes to zero", ErrBadInput)
	}
	return out, nil
}

// randomScalar returns x uniform in [1, n), by rejection sampling (RFC 9382
// §7 recommends it over reducing a wider value). n is 2^256 less about
// 2^224, so about one draw in 2^32 is retried.
func randomScalar() []byte {
	x := make([]byte, scalarSize)
	for {
		// crypto/rand.Read never fails; on a broken system it crashes the program.
		_, _ = rand.Read(x)
		if scalarInRange(x) {
			return x
		}
	}
}

// scalarInRange reports whether 0 < s < n for a 32-byte big-endian s, in
// time independent of s's value.
func scalarInRange(s []byte) bool {
	if len(s) != scalarSize {
		return false
	}
	var borrow, nonzero uint64
	for i := scalarSize - 8; i >= 0; i -= 8 {
		limb := binary.BigEndian.Uint64(s[i:])
		_, borrow = bits.Sub64(limb, binary.BigEndian.Uint64(order[i:]), borrow)
		nonzero |= limb
	}
	return borrow == 1 && nonzero != 0
}
