package pake

import (
	"bytes"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/nistec"
)

// vectorsPath holds RFC 9382 Appendix B as JSON; the JavaScript tests read
// the same file.
var vectorsPath = filepath.Join("..", "..", "web", "test", "testdata", "spake2-rfc9382.json")

// rfcVector is one vector of Appendix B, hex as printed.
type rfcVector struct {
	A, B                           string
	W, X, Y, PA, PB, K, TT, HashTT string
	Ke, Ka, KcA, KcB, CA, CB       string
}

// rfcFile is the JSON file: M and N with their seeds, and the vectors.
type rfcFile struct {
	M, N    string
	MSeed   string `json:"M_seed"`
	NSeed   string `json:"N_seed"`
	Vectors []rfcVector
}

func (v *rfcVector) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*v = rfcVector{A: m["A"], B: m["B"], W: m["w"], X: m["x"], Y: m["y"], PA: m["pA"], PB: m["pB"], K: m["K"],
		TT: m["TT"], HashTT: m["hash_TT"], Ke: m["Ke"], Ka: m["Ka"], KcA: m["KcA"], KcB: m["KcB"], CA: m["cA"], CB: m["cB"]}
	return nil
}

func loadVectors(t *testing.T) rfcFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f rfcFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 4 {
		t.Fatalf("%s holds %d vectors, RFC 9382 has 4", vectorsPath, len(f.Vectors))
	}
	return f
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Both roles reproduce every value of RFC 9382 Appendix B: the messages,
// the confirmations each sends, and the key each gets once the other's
// confirmation checks out.
func TestRFC9382Vectors(t *testing.T) {
	for _, v := range loadVectors(t).Vectors {
		t.Run("A="+v.A+",B="+v.B, func(t *testing.T) {
			idA, idB, w := []byte(v.A), []byte(v.B), unhex(t, v.W)
			a, err := newWithScalar(RoleA, w, idA, idB, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := newWithScalar(RoleB, w, idA, idB, nil)
			if err != nil {
				t.Fatal(err)
			}
			pA, err := a.start(unhex(t, v.X))
			if err != nil {
				t.Fatal(err)
			}
			pB, err := b.start(unhex(t, v.Y))
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "pA", pA, v.PA)
			expectHex(t, "pB", pB, v.PB)
			cA, err := a.Finish(pB)
			if err != nil {
				t.Fatal(err)
			}
			cB, err := b.Finish(pA)
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "A conf", cA, v.CA)
			expectHex(t, "B conf", cB, v.CB)
			keyA, err := a.Verify(cB)
			if err != nil {
				t.Fatal(err)
			}
			keyB, err := b.Verify(cA)
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "Ke (A)", keyA, v.Ke)
			expectHex(t, "Ke (B)", keyB, v.Ke)
		})
	}
}

// The intermediate values of Appendix B: the transcript encoding and each
// step of the key schedule, so a mismatch names the step that is wrong.
func TestRFC9382KeySchedule(t *testing.T) {
	for _, v := range loadVectors(t).Vectors {
		tt := transcript([]byte(v.A), []byte(v.B), unhex(t, v.PA), unhex(t, v.PB), unhex(t, v.K), unhex(t, v.W))
		expectHex(t, "TT", tt, v.TT)
		s, err := schedule(tt, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(tt)
		expectHex(t, "Hash(TT)", h[:], v.HashTT)
		for _, c := range []struct {
			name string
			got  []byte
			want string
		}{{"Ke", s.ke, v.Ke}, {"Ka", s.ka, v.Ka}, {"KcA", s.kcA, v.KcA}, {"KcB", s.kcB, v.KcB}, {"A conf", s.confirmA, v.CA}, {"B conf", s.confirmB, v.CB}} {
			expectHex(t, c.name, c.got, c.want)
		}
	}
}

// M and N are not typed in by hand: they come out of RFC 9382 Appendix A's
// generation procedure from their published seeds, and equal the constants
// the package uses and the JSON file the JavaScript tests read.
func TestPointsMAndNFromSeeds(t *testing.T) {
	f := loadVectors(t)
	for _, c := range []struct{ name, seed, file, pkg string }{
		{"M", f.MSeed, f.M, pointM},
		{"N", f.NSeed, f.N, pointN},
	} {
		got := hex.EncodeToString(generatePoint(t, []byte(c.seed)))
		if got != c.file || got != c.pkg {
			t.Errorf("%s from seed %q = %s; file %s, package %s", c.name, c.seed, got, c.file, c.pkg)
		}
	}
}

// generatePoint is gen_point of RFC 9382 Appendix A for P-256: hash blocks
// SHA-256^i(seed), i = 1, 2, ..., taken two at a time and cut to a
// compressed point's 33 bytes, the first byte forced to 0x02 or 0x03 from
// its low bit; the first that decodes to a point is the answer (P-256 has
// cofactor 1, so every point but the identity has order n).
func generatePoint(t *testing.T, seed []byte) []byte {
	t.Helper()
	iterated := func(n int) []byte {
		h := seed
		for range n {
			s := sha256.Sum256(h)
			h = s[:]
		}
		return h
	}
	for i := 1; i < 1000; i++ {
		s := append(bytes.Clone(iterated(i)), iterated(i+1)...)[:33]
		s[0] = s[0]&1 | 2
		if p, err := nistec.NewP256Point().SetBytes(s); err == nil && p.IsInfinity() == 0 {
			return s
		}
	}
	t.Fatalf("no point for seed %q", seed)
	return nil
}

// The order constant is P-256's n, as the standard library knows it.
func TestOrderIsP256N(t *testing.T) {
	if got, want := new(big.Int).SetBytes(order[:]), elliptic.P256().Params().N; got.Cmp(want) != 0 {
		t.Fatalf("order = %x, want %x", got, want)
	}
}

func expectHex(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	if hex.EncodeToString(got) != want {
		t.Errorf("%s = %x\n want %s", name, got, want)
	}
}
