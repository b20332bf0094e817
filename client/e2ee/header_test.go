package e2ee

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestHeaderEncoding(t *testing.T) {
	for _, c := range []struct {
		kid, ctr uint64
		want     []byte
	}{
		{0, 0, []byte{0x00}},
		{7, 7, []byte{0x77}},
		{8, 0, []byte{0x80, 0x08}},
		{0, 8, []byte{0x08, 0x08}},
		{0x123, 0x4567, []byte{0x99, 0x01, 0x23, 0x45, 0x67}},
		{255, 256, []byte{0x89, 0xff, 0x01, 0x00}},
		{math.MaxUint64, math.MaxUint64, append([]byte{0xff}, bytes.Repeat([]byte{0xff}, 16)...)},
	} {
		h := Header{KID: c.kid, CTR: c.ctr}
		got := h.Append([]byte{0xaa})
		if !bytes.Equal(got[1:], c.want) || got[0] != 0xaa {
			t.Errorf("Append(KID %d, CTR %d) = %x, want aa%x", c.kid, c.ctr, got, c.want)
		}
		back, n, err := DecodeHeader(c.want)
		if err != nil || back != h || n != len(c.want) {
			t.Errorf("DecodeHeader(%x) = %+v, %d, %v", c.want, back, n, err)
		}
	}
}

func TestHeaderDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":                 nil,
		"KID truncated":         {0x90, 0x01},
		"CTR truncated":         {0x09, 0x01},
		"KID 5 in one byte":     {0x80, 0x05},
		"KID 0x12 in two bytes": {0x90, 0x00, 0x12},
		"CTR 0 in one byte":     {0x08, 0x00},
		"CTR with leading zero": {0x0f, 0, 1, 2, 3, 4, 5, 6, 7},
	} {
		if h, n, err := DecodeHeader(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeHeader(%x) = %+v, %d, %v; want ErrMalformed", name, b, h, n, err)
		}
	}
}

// FuzzDecodeHeader: any input either fails with ErrMalformed or decodes to
// a header whose encoding is exactly the bytes read. Seeds are in
// testdata/fuzz/FuzzDecodeHeader; `go test -fuzz FuzzDecodeHeader` finds more.
func FuzzDecodeHeader(f *testing.F) {
	f.Add([]byte{0x99, 0x01, 0x23, 0x45, 0x67})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeHeader(%x): %v, not ErrMalformed", b, err)
			}
			return
		}
		if n < 1 || n > MaxHeaderLen || n > len(b) || n != h.Len() {
			t.Fatalf("DecodeHeader(%x) read %d bytes of %d, header %+v has Len %d", b, n, len(b), h, h.Len())
		}
		if enc := h.Append(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("DecodeHeader(%x) = %+v, which encodes as %x", b, h, enc)
		}
	})
}
