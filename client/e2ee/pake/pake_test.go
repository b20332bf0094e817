package pake

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

var (
	clinician = []byte("konsil host")
	patient   = []byte("konsil guest")
	roomAAD   = []byte("room R7 attempt 1")
)

// party is one side's exchange and what it has sent so far.
type party struct {
	ex      *Exchange
	msg     []byte
	confirm []byte
}

func newParty(t *testing.T, role Role, pin string) *party {
	t.Helper()
	newSide := NewA
	if role == RoleB {
		newSide = NewB
	}
	ex, err := newSide([]byte(pin), clinician, patient, roomAAD)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ex.Start()
	if err != nil {
		t.Fatal(err)
	}
	return &party{ex: ex, msg: msg}
}

// scalars remembers w per PIN within one test, so tests about the protocol
// rather than the password hash do not run Argon2id (slow under -race) for
// every party.
type scalars map[string][]byte

// party is newParty with w from the book: the same exchange NewA or NewB
// would start.
func (book scalars) party(t *testing.T, role Role, pin string) *party {
	t.Helper()
	w, ok := book[pin]
	if !ok {
		var err error
		if w, err = Scalar([]byte(pin), clinician, patient, roomAAD); err != nil {
			t.Fatal(err)
		}
		book[pin] = w
	}
	ex, err := newWithScalar(role, w, clinician, patient, roomAAD)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ex.Start()
	if err != nil {
		t.Fatal(err)
	}
	return &party{ex: ex, msg: msg}
}

// finish hands p the peer's message and records p's confirmation.
func (p *party) finish(t *testing.T, peerMsg []byte) {
	t.Helper()
	c, err := p.ex.Finish(peerMsg)
	if err != nil {
		t.Fatalf("%s: Finish: %v", p.ex.Role(), err)
	}
	p.confirm = c
}

// The story: the clinician (A) and the patient (B) type the same PIN; the
// messages cross on the relay; both confirmations check out and both end
// with the same 16-byte key, which a second exchange with the same PIN does
// not repeat.
func TestSamePINAgreesOnKey(t *testing.T) {
	run := func() []byte {
		a, b := newParty(t, RoleA, "482173"), newParty(t, RoleB, "482173")
		if len(a.msg) != MessageSize || len(b.msg) != MessageSize {
			t.Fatalf("message sizes %d, %d; want %d", len(a.msg), len(b.msg), MessageSize)
		}
		b.finish(t, a.msg)
		a.finish(t, b.msg)
		keyA, err := a.ex.Verify(b.confirm)
		if err != nil {
			t.Fatalf("A: %v", err)
		}
		keyB, err := b.ex.Verify(a.confirm)
		if err != nil {
			t.Fatalf("B: %v", err)
		}
		if len(keyA) != KeySize || !bytes.Equal(keyA, keyB) {
			t.Fatalf("keys differ: A %x, B %x", keyA, keyB)
		}
		return keyA
	}
	if k1, k2 := run(), run(); bytes.Equal(k1, k2) {
		t.Fatalf("two exchanges with the same PIN gave the same key %x", k1)
	}
}

// A patient who mistypes the PIN: both sides see the confirmation fail and
// neither gets a key.
func TestWrongPINFailsConfirmation(t *testing.T) {
	a, b := newParty(t, RoleA, "482173"), newParty(t, RoleB, "482174")
	a.finish(t, b.msg)
	b.finish(t, a.msg)
	if key, err := a.ex.Verify(b.confirm); !errors.Is(err, ErrConfirmation) || key != nil {
		t.Errorf("A: key %x, err %v; want ErrConfirmation", key, err)
	}
	if key, err := b.ex.Verify(a.confirm); !errors.Is(err, ErrConfirmation) || key != nil {
		t.Errorf("B: key %x, err %v; want ErrConfirmation", key, err)
	}
}

// Both sides must agree on who they are and on the context; an exchange
// moved to another room (other AAD) or with the roles' names swapped fails.
func TestContextMustMatch(t *testing.T) {
	for name, ctx := range map[string][3][]byte{
		"other aad":          {clinician, patient, []byte("room R8 attempt 1")},
		"identities swapped": {patient, clinician, roomAAD},
	} {
		t.Run(name, func(t *testing.T) {
			a := newParty(t, RoleA, "482173")
			exB, err := NewB([]byte("482173"), ctx[0], ctx[1], ctx[2])
			if err != nil {
				t.Fatal(err)
			}
			msgB, _ := exB.Start()
			b := &party{ex: exB, msg: msgB}
			a.finish(t, b.msg)
			b.finish(t, a.msg)
			if _, err := a.ex.Verify(b.confirm); !errors.Is(err, ErrConfirmation) {
				t.Errorf("A: %v; want ErrConfirmation", err)
			}
		})
	}
}

// A relay in the middle that does not know the PIN: whatever it does with
// the messages, the honest side's confirmation fails. It runs a full
// exchange with each side itself (one guess each), replays a message from
// an earlier exchange, swaps the two messages, or forwards the peer's
// confirmation back.
func TestRelayInTheMiddleFails(t *testing.T) {
	const pin = "482173"
	book := scalars{}
	earlier := book.party(t, RoleB, pin)

	t.Run("runs its own exchange with a guessed PIN", func(t *testing.T) {
		a, b := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		eveB, eveA := book.party(t, RoleB, "000000"), book.party(t, RoleA, "000000")
		a.finish(t, eveB.msg)
		eveB.finish(t, a.msg)
		b.finish(t, eveA.msg)
		eveA.finish(t, b.msg)
		if _, err := a.ex.Verify(eveB.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("A accepted the relay: %v", err)
		}
		if _, err := b.ex.Verify(eveA.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("B accepted the relay: %v", err)
		}
	})
	t.Run("replays B's message from an earlier exchange", func(t *testing.T) {
		a, b := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		a.finish(t, earlier.msg)
		b.finish(t, a.msg)
		if _, err := a.ex.Verify(b.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("A: %v; want ErrConfirmation", err)
		}
	})
	t.Run("swaps the messages of two concurrent exchanges", func(t *testing.T) {
		// Same PIN, same context: only the ephemeral scalars tell the two
		// exchanges apart, and they are enough.
		a1, b1 := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		a2, b2 := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		a1.finish(t, b2.msg)
		a2.finish(t, b1.msg)
		b1.finish(t, a1.msg)
		b2.finish(t, a2.msg)
		if _, err := a1.ex.Verify(b1.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("a1: %v; want ErrConfirmation", err)
		}
		if _, err := b2.ex.Verify(a2.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("b2: %v; want ErrConfirmation", err)
		}
	})
	t.Run("reflects A's own message", func(t *testing.T) {
		a := book.party(t, RoleA, pin)
		if _, err := a.ex.Finish(a.msg); !errors.Is(err, ErrBadMessage) {
			t.Errorf("A given its own message: %v; want ErrBadMessage", err)
		}
	})
	t.Run("flips one bit of pB", func(t *testing.T) {
		a, b := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		b.finish(t, a.msg)
		altered := bytes.Clone(b.msg)
		altered[40] ^= 1 // almost surely off the curve
		if _, err := a.ex.Finish(altered); !errors.Is(err, ErrBadMessage) {
			t.Errorf("A given an altered pB: %v; want ErrBadMessage", err)
		}
	})
	t.Run("reflects a confirmation", func(t *testing.T) {
		a, b := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		a.finish(t, b.msg)
		b.finish(t, a.msg)
		if _, err := a.ex.Verify(a.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("A accepted its own confirmation: %v", err)
		}
	})
	t.Run("changes one bit of a confirmation", func(t *testing.T) {
		a, b := book.party(t, RoleA, pin), book.party(t, RoleB, pin)
		a.finish(t, b.msg)
		b.finish(t, a.msg)
		b.confirm[7] ^= 1
		if _, err := a.ex.Verify(b.confirm); !errors.Is(err, ErrConfirmation) {
			t.Errorf("A: %v; want ErrConfirmation", err)
		}
	})
}

// Peer messages that are not a valid point in the one encoding allowed are
// refused with ErrBadMessage, and the exchange is over afterwards.
func TestRefusesBadPeerMessages(t *testing.T) {
	v := loadVectors(t).Vectors[0]
	w := unhex(t, v.W)
	valid := unhex(t, v.PB)
	wN, err := scalarMult(pointN, w)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := bytes.Clone(valid)
	offCurve[64] ^= 1
	xTooBig := append([]byte{4}, bytes.Repeat([]byte{0xff}, 64)...)
	compressed, _ := hex.DecodeString(pointN)
	cases := map[string][]byte{
		"empty":                 nil,
		"identity":              {0},
		"one byte short":        valid[:64],
		"one byte long":         append(bytes.Clone(valid), 0),
		"compressed form":       compressed,
		"hybrid prefix 0x06":    append([]byte{6}, valid[1:]...),
		"not on the curve":      offCurve,
		"coordinates over p":    xTooBig,
		"w*N: cancels the mask": wN.Bytes(),
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			a, err := newWithScalar(RoleA, w, []byte(v.A), []byte(v.B), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.start(unhex(t, v.X)); err != nil {
				t.Fatal(err)
			}
			if c, err := a.Finish(msg); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Finish(%x) = %x, %v; want ErrBadMessage", msg, c, err)
			}
			if _, err := a.Verify(make([]byte, ConfirmSize)); !errors.Is(err, ErrState) {
				t.Errorf("Verify after a refused message: %v; want ErrState", err)
			}
		})
	}
}

// Each step once and in order; a misuse is a named error, not a panic or
// a second key.
func TestStepsInOrder(t *testing.T) {
	book := scalars{}
	a, b := book.party(t, RoleA, "482173"), book.party(t, RoleB, "482173")
	if _, err := a.ex.Start(); !errors.Is(err, ErrState) {
		t.Errorf("second Start: %v", err)
	}
	if _, err := a.ex.Verify(make([]byte, ConfirmSize)); !errors.Is(err, ErrState) {
		t.Errorf("Verify before Finish: %v", err)
	}
	fresh, _ := newWithScalar(RoleA, book["482173"], clinician, patient, roomAAD)
	if _, err := fresh.Finish(b.msg); !errors.Is(err, ErrState) {
		t.Errorf("Finish before Start: %v", err)
	}
	a.finish(t, b.msg)
	b.finish(t, a.msg)
	if _, err := a.ex.Finish(b.msg); !errors.Is(err, ErrState) {
		t.Errorf("second Finish: %v", err)
	}
	if _, err := a.ex.Verify(b.confirm); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ex.Verify(b.confirm); !errors.Is(err, ErrState) {
		t.Errorf("second Verify: %v", err)
	}
}

func TestRefusesBadInput(t *testing.T) {
	long := make([]byte, MaxContextSize+1)
	for name, args := range map[string][4][]byte{
		"empty password": {nil, clinician, patient, roomAAD},
		"long idA":       {[]byte("1"), long, patient, roomAAD},
		"long idB":       {[]byte("1"), clinician, long, roomAAD},
		"long aad":       {[]byte("1"), clinician, patient, long},
	} {
		if _, err := NewA(args[0], args[1], args[2], args[3]); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v; want ErrBadInput", name, err)
		}
	}
	for name, w := range map[string][]byte{
		"zero": make([]byte, 32), "n": order[:], "short": {1},
	} {
		if _, err := newWithScalar(RoleA, w, nil, nil, nil); !errors.Is(err, ErrBadInput) {
			t.Errorf("w %s: %v; want ErrBadInput", name, err)
		}
	}
}

func TestScalarInRange(t *testing.T) {
	nMinus1 := bytes.Clone(order[:])
	nMinus1[31]--
	nPlus1 := bytes.Clone(order[:])
	nPlus1[31]++
	one := make([]byte, 32)
	one[31] = 1
	for _, c := range []struct {
		name string
		s    []byte
		want bool
	}{
		{"0", make([]byte, 32), false},
		{"1", one, true},
		{"n-1", nMinus1, true},
		{"n", order[:], false},
		{"n+1", nPlus1, false},
		{"2^256-1", bytes.Repeat([]byte{0xff}, 32), false},
	} {
		if got := scalarInRange(c.s); got != c.want {
			t.Errorf("scalarInRange(%s) = %v", c.name, got)
		}
	}
}

// w for a fixed PIN and context; pake.test.js holds the JavaScript
// derivation to the same value, so the two agree on Argon2id's parameters,
// the salt encoding and the reduction mod n.
func TestScalarKnownAnswer(t *testing.T) {
	w, err := Scalar([]byte("482173"), clinician, patient, roomAAD)
	if err != nil {
		t.Fatal(err)
	}
	expectHex(t, "w", w, "0872f7f97d6146a6a21d48d9c0b2f544b9b6457835210ab4fe4dc9cf6886071a")
	other, err := Scalar([]byte("482173"), clinician, patient, []byte("room R8 attempt 1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(w, other) {
		t.Error("the same PIN in another context gave the same w")
	}
}
