package e2ee

import (
	"bytes"
	"testing"
)

// FuzzHeaderRoundTrip is FuzzDecodeHeader's other direction: every
// (KID, CTR) encodes in Len bytes after whatever the buffer held, and
// decodes back to itself from exactly those bytes, with any frame data
// after them left unread.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), []byte{0xaa})
	f.Add(uint64(7), uint64(8), []byte(nil))
	f.Add(uint64(0x123), uint64(0x4567), []byte{1, 2, 3})
	f.Add(^uint64(0), ^uint64(0), []byte{0xff})
	f.Fuzz(func(t *testing.T, kid, ctr uint64, prefix []byte) {
		h := Header{KID: kid, CTR: ctr}
		enc := h.Append(append([]byte(nil), prefix...))
		if len(enc) != len(prefix)+h.Len() || h.Len() > MaxHeaderLen || !bytes.Equal(enc[:len(prefix)], prefix) {
			t.Fatalf("Append(%+v) after %x = %x (Len %d)", h, prefix, enc, h.Len())
		}
		frame := append(enc[len(prefix):len(enc):len(enc)], 0x42, 0x43)
		back, n, err := DecodeHeader(frame)
		if err != nil || back != h || n != h.Len() {
			t.Fatalf("DecodeHeader(%x) = %+v, %d, %v; want %+v, %d", frame, back, n, err, h, h.Len())
		}
	})
}
