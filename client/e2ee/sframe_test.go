package e2ee

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

var allSuites = []Suite{
	AES_128_CTR_HMAC_SHA256_80, AES_128_CTR_HMAC_SHA256_64, AES_128_CTR_HMAC_SHA256_32,
	AES_128_GCM_SHA256_128, AES_256_GCM_SHA512_128,
}

// sframeTestKey is a fixed 16-byte base key, different per seed.
func sframeTestKey(seed byte) []byte {
	k := make([]byte, 16)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func newSFrameContext(t testing.TB, s Suite, keys map[uint64][]byte) *Context {
	t.Helper()
	ctx, err := NewContext(s)
	if err != nil {
		t.Fatal(err)
	}
	for kid, k := range keys {
		if err := ctx.AddKey(kid, k); err != nil {
			t.Fatal(err)
		}
	}
	return ctx
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			keys := map[uint64][]byte{3: sframeTestKey(1), 0x1234: sframeTestKey(2), math.MaxUint64: sframeTestKey(3)}
			sender := newSFrameContext(t, s, keys)
			receiver := newSFrameContext(t, s, keys)
			for kid := range keys {
				for i, pt := range [][]byte{nil, {0}, bytes.Repeat([]byte("frame "), 200)} {
					md := []byte(fmt.Sprintf("metadata %d", i))
					dst := []byte("keep")
					frame, err := sender.Encrypt(dst, kid, md, pt)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(frame, []byte("keep")) {
						t.Fatalf("Encrypt dropped dst: %q", frame[:4])
					}
					frame = frame[4:]
					h, hl, err := DecodeHeader(frame)
					if err != nil || h.KID != kid || h.CTR != uint64(i) {
						t.Fatalf("header %+v, %v; want KID %d CTR %d", h, err, kid, i)
					}
					if want := hl + len(pt) + s.TagLen(); len(frame) != want {
						t.Errorf("frame is %d bytes, want header %d + plaintext %d + tag %d", len(frame), hl, len(pt), s.TagLen())
					}
					gotKID, got, err := receiver.Decrypt([]byte("x"), md, frame)
					if err != nil || gotKID != kid || !bytes.Equal(got, append([]byte("x"), pt...)) {
						t.Fatalf("Decrypt = %d, %q, %v", gotKID, got, err)
					}
				}
			}
		})
	}
}

func TestWrongKeyFailsEveryFrame(t *testing.T) {
	for _, s := range allSuites {
		sender := newSFrameContext(t, s, map[uint64][]byte{7: sframeTestKey(1)})
		receiver := newSFrameContext(t, s, map[uint64][]byte{7: sframeTestKey(2)})
		for i := range 200 {
			frame, err := sender.Encrypt(nil, 7, nil, []byte(fmt.Sprintf("frame %d", i)))
			if err != nil {
				t.Fatal(err)
			}
			if kid, pt, err := receiver.Decrypt(nil, nil, frame); !errors.Is(err, ErrAuth) || pt != nil || kid != 7 {
				t.Fatalf("%v frame %d with the wrong key: %d, %q, %v; want ErrAuth", s, i, kid, pt, err)
			}
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	ctx := newSFrameContext(t, DefaultSuite, map[uint64][]byte{1: sframeTestKey(1)})
	frame, err := ctx.Encrypt(nil, 1, []byte("md"), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.Encrypt(nil, 2, nil, []byte("x")); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("Encrypt with an unknown KID: %v", err)
	}
	other := Header{KID: 9, CTR: 0}.Append(nil)
	if _, _, err := ctx.Decrypt(nil, []byte("md"), append(other, frame[1:]...)); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("Decrypt of KID 9: %v, want ErrUnknownKID", err)
	}
	for n := range len(frame) - 1 {
		if _, _, err := ctx.Decrypt(nil, []byte("md"), frame[:n]); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuth) {
			t.Errorf("Decrypt of %d of %d bytes: %v", n, len(frame), err)
		}
	}
	for i := range frame {
		bad := bytes.Clone(frame)
		bad[i] ^= 0x01
		_, _, err := ctx.Decrypt(nil, []byte("md"), bad)
		if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKID) {
			t.Errorf("Decrypt with byte %d flipped: %v", i, err)
		}
	}
	if _, _, err := ctx.Decrypt(nil, []byte("mD"), frame); !errors.Is(err, ErrAuth) {
		t.Errorf("Decrypt with other metadata: %v, want ErrAuth", err)
	}
	ctx.RemoveKey(1)
	if _, _, err := ctx.Decrypt(nil, []byte("md"), frame); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("Decrypt after RemoveKey: %v, want ErrUnknownKID", err)
	}
}

// Counters come from the Context, never from the caller: under concurrent
// senders, across key replacement and across remove/add, no (KID, CTR)
// repeats.
func TestCounterNeverRepeats(t *testing.T) {
	ctx := newSFrameContext(t, DefaultSuite, map[uint64][]byte{5: sframeTestKey(1)})
	seen := make(map[uint64]bool)
	var mu sync.Mutex
	record := func(frame []byte) {
		h, _, err := DecodeHeader(frame)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[h.CTR] {
			t.Errorf("CTR %d used twice", h.CTR)
		}
		seen[h.CTR] = true
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 250 {
				frame, err := ctx.Encrypt(nil, 5, nil, []byte{byte(g)})
				if err != nil {
					t.Error(err)
					return
				}
				record(frame)
			}
		})
	}
	wg.Wait()

	// Same key again, then remove and add: the counter carries on.
	for _, step := range []func() error{
		func() error { return ctx.AddKey(5, sframeTestKey(1)) },
		func() error { ctx.RemoveKey(5); return ctx.AddKey(5, sframeTestKey(1)) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		frame, err := ctx.Encrypt(nil, 5, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		record(frame)
	}
	if len(seen) != 8*250+2 {
		t.Errorf("%d distinct counters, want %d", len(seen), 8*250+2)
	}
}

func TestCounterExhausted(t *testing.T) {
	ctx := newSFrameContext(t, DefaultSuite, map[uint64][]byte{5: sframeTestKey(1)})
	ctx.counters[5].Store(math.MaxUint64 - 1)
	frame, err := ctx.Encrypt(nil, 5, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _ := DecodeHeader(frame); h.CTR != math.MaxUint64-1 {
		t.Errorf("CTR %d, want %d", h.CTR, uint64(math.MaxUint64-1))
	}
	for range 2 {
		if _, err := ctx.Encrypt(nil, 5, nil, nil); !errors.Is(err, ErrCounterExhausted) {
			t.Fatalf("Encrypt past the last counter: %v, want ErrCounterExhausted", err)
		}
	}
}

func TestContextRejectsBadInput(t *testing.T) {
	for _, s := range []Suite{0, 6, 0xffff} {
		if _, err := NewContext(s); err == nil {
			t.Errorf("NewContext(%v) accepted", s)
		}
	}
	ctx := newSFrameContext(t, DefaultSuite, nil)
	if err := ctx.AddKey(1, nil); err == nil {
		t.Error("AddKey with an empty base key accepted")
	}
}

// The media path reuses one buffer per direction: with the spare room the
// docs promise, the GCM suites allocate nothing per frame, at the largest
// KID and counter.
func TestEncryptDecryptNoAllocs(t *testing.T) {
	for _, s := range []Suite{AES_128_GCM_SHA256_128, AES_256_GCM_SHA512_128} {
		ctx := newSFrameContext(t, s, map[uint64][]byte{math.MaxUint64: sframeTestKey(1)})
		ctx.counters[math.MaxUint64].Store(math.MaxUint64 - 1e6)
		pt, md := make([]byte, 1200), []byte("0123456789")
		key := vp8Keyframe(1200)
		enc := make([]byte, 0, len(pt)+len(md)+64)
		dec := make([]byte, 0, len(pt)+MaxHeaderLen+s.TagLen()+len(md)+32)
		encF := make([]byte, 0, len(key)+80)
		decF := make([]byte, 0, len(key)+MaxHeaderLen+s.TagLen()+10+32)
		allocs := testing.AllocsPerRun(100, func() {
			frame, err := ctx.Encrypt(enc[:0], math.MaxUint64, md, pt)
			if err != nil || &frame[0] != &enc[:1][0] {
				t.Fatalf("Encrypt: %v, or it reallocated", err)
			}
			if _, out, err := ctx.Decrypt(dec[:0], md, frame); err != nil || &out[0] != &dec[:1][0] {
				t.Fatalf("Decrypt: %v, or it reallocated", err)
			}
			frame, err = ctx.EncryptFrame(encF[:0], math.MaxUint64, CodecVP8, key)
			if err != nil || &frame[0] != &encF[:1][0] {
				t.Fatalf("EncryptFrame: %v, or it reallocated", err)
			}
			if _, out, err := ctx.DecryptFrame(decF[:0], CodecVP8, frame); err != nil || &out[0] != &decF[:1][0] {
				t.Fatalf("DecryptFrame: %v, or it reallocated", err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per frame, want 0", s, allocs)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			ctx := newSFrameContext(b, s, map[uint64][]byte{1: sframeTestKey(1)})
			pt := make([]byte, 1200)
			dst := make([]byte, 0, 2048)
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ctx.Encrypt(dst[:0], 1, nil, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			ctx := newSFrameContext(b, s, map[uint64][]byte{1: sframeTestKey(1)})
			frame, err := ctx.Encrypt(nil, 1, nil, make([]byte, 1200))
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, 2048)
			b.SetBytes(1200)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ctx.Decrypt(dst[:0], nil, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
