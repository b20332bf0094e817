package e2ee

import "fmt"

// Header is the SFrame header of one frame (RFC 9605 §4.3): the key ID
// that names the sender's key, and the counter that makes the nonce unique.
// It travels in clear and is authenticated as part of the AAD.
type Header struct {
	KID uint64
	CTR uint64
}

// MaxHeaderLen is the longest encoded header: the config byte, an 8-byte
// KID and an 8-byte CTR.
const MaxHeaderLen = 1 + 8 + 8

// RFC 9605 §4.3: the config byte is X|K(3)|Y|C(3). A value 0–7 sits in K
// (or C) itself with X (or Y) clear; a larger value follows the config byte
// in the fewest big-endian bytes, X (or Y) set and K (or C) = length − 1.
const (
	headerExtendedKID = 0x80
	headerExtendedCTR = 0x08
)

// Len is the encoded size of h in bytes.
func (h Header) Len() int { return 1 + fieldLen(h.KID) + fieldLen(h.CTR) }

// Append appends the encoding of h to dst and returns the extended slice.
func (h Header) Append(dst []byte) []byte {
	n := h.Len()
	dst, out := growSlice(dst, n)
	h.put(out)
	return dst
}

// put writes the encoding of h to b, which must hold h.Len() bytes.
func (h Header) put(b []byte) {
	kl, cl := fieldLen(h.KID), fieldLen(h.CTR)
	var config byte
	if kl == 0 {
		config |= byte(h.KID) << 4
	} else {
		config |= headerExtendedKID | byte(kl-1)<<4
	}
	if cl == 0 {
		config |= byte(h.CTR)
	} else {
		config |= headerExtendedCTR | byte(cl-1)
	}
	b[0] = config
	putBigEndian(b[1:1+kl], h.KID)
	putBigEndian(b[1+kl:1+kl+cl], h.CTR)
}

// DecodeHeader reads the SFrame header at the start of b and returns it
// with its length in bytes. A truncated header, or one that is not in the
// shortest form RFC 9605 §4.3 requires of encoders, is ErrMalformed:
// accepting only the one encoding of each (KID, CTR) keeps every header
// byte-for-byte what the sender authenticated.
func DecodeHeader(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, fmt.Errorf("%w: empty header", ErrMalformed)
	}
	config := b[0]
	n := 1
	var h Header
	var err error
	if h.KID, n, err = decodeField(b, n, config&headerExtendedKID != 0, config>>4&7); err != nil {
		return Header{}, 0, fmt.Errorf("%w: KID: %v", ErrMalformed, err)
	}
	if h.CTR, n, err = decodeField(b, n, config&headerExtendedCTR != 0, config&7); err != nil {
		return Header{}, 0, fmt.Errorf("%w: CTR: %v", ErrMalformed, err)
	}
	return h, n, nil
}

// decodeField reads one header field whose config bits are bits; if
// extended, the value is the bits+1 bytes at b[off:]. It returns the value
// and the offset after it.
func decodeField(b []byte, off int, extended bool, bits byte) (uint64, int, error) {
	if !extended {
		return uint64(bits), off, nil
	}
	n := int(bits) + 1
	if len(b) < off+n {
		return 0, 0, fmt.Errorf("truncated: need %d bytes, have %d", n, len(b)-off)
	}
	var v uint64
	for _, c := range b[off : off+n] {
		v = v<<8 | uint64(c)
	}
	if fieldLen(v) != n {
		return 0, 0, fmt.Errorf("value %d not in shortest form (%d bytes)", v, n)
	}
	return v, off + n, nil
}

// fieldLen is the number of bytes a header field takes after the config
// byte: 0 for values 0–7, otherwise the fewest bytes that hold v.
func fieldLen(v uint64) int {
	if v < 8 {
		return 0
	}
	n := 0
	for ; v > 0; v >>= 8 {
		n++
	}
	return n
}

func putBigEndian(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// growSlice extends b by n bytes, reallocating at most once, and returns
// the whole slice and the n new bytes (like the helper in crypto/cipher).
func growSlice(b []byte, n int) (whole, tail []byte) {
	if total := len(b) + n; cap(b) >= total {
		whole = b[:total]
	} else {
		whole = make([]byte, total, total+total/4)
		copy(whole, b)
	}
	return whole, whole[len(b):]
}
