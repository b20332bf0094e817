package pake

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// fuzzVector is RFC 9382's first vector: w, x, pB, for fixed fuzz inputs.
const (
	fuzzW  = "2ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f"
	fuzzX  = "43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729"
	fuzzPB = "0406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b7"
)

// FuzzFinish feeds arbitrary bytes to Finish as the peer's message, the
// one place the exchange parses what the network sends. It never panics;
// it either refuses with ErrBadMessage or accepts exactly the one encoding
// of a point and returns a confirmation. `go test -fuzz FuzzFinish
// ./client/e2ee/pake` finds more; seeds in testdata/fuzz/FuzzFinish.
func FuzzFinish(f *testing.F) {
	pB, _ := hex.DecodeString(fuzzPB)
	compressed, _ := hex.DecodeString(pointN)
	f.Add(pB)
	f.Add([]byte{0})
	f.Add(compressed)
	f.Add(append([]byte{4}, bytes.Repeat([]byte{0xff}, 64)...))
	f.Add(append([]byte{6}, pB[1:]...))
	w, _ := hex.DecodeString(fuzzW)
	x, _ := hex.DecodeString(fuzzX)
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := newWithScalar(RoleA, w, []byte("server"), []byte("client"), nil)
		if err != nil {
			t.Fatal(err)
		}
		pA, err := a.start(x)
		if err != nil {
			t.Fatal(err)
		}
		confirm, err := a.Finish(msg)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Finish(%x): %v; want ErrBadMessage", msg, err)
			}
			return
		}
		if len(msg) != MessageSize || msg[0] != 4 || bytes.Equal(msg, pA) {
			t.Fatalf("Finish accepted %x", msg)
		}
		if len(confirm) != ConfirmSize {
			t.Fatalf("confirmation of %d bytes", len(confirm))
		}
	})
}

// FuzzParseMessage: a message that parses re-encodes to the same bytes,
// so both sides hash one transcript.
func FuzzParseMessage(f *testing.F) {
	pB, _ := hex.DecodeString(fuzzPB)
	f.Add(pB)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		p, err := ParseMessage(msg)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("ParseMessage(%x): %v", msg, err)
			}
			return
		}
		if !bytes.Equal(p.Bytes(), msg) {
			t.Fatalf("ParseMessage(%x) re-encodes as %x", msg, p.Bytes())
		}
	})
}
