package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeRefusals(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want error
	}{
		{"not json", `{"type":`, ErrMalformed},
		{"array", `[1,2]`, ErrMalformed},
		{"wrong field type", `{"type":"offer","to":5}`, ErrMalformed},
		{"no type", `{"to":"x"}`, ErrInvalid},
		{"unknown type", `{"type":"launch"}`, ErrUnknownType},
		{"hello without token", `{"type":"hello","v":1}`, ErrInvalid},
		{"hello wrong version", `{"type":"hello","v":2,"token":"t"}`, ErrVersion},
		{"offer without to", `{"type":"offer","sdp":"v=0"}`, ErrInvalid},
		{"offer without sdp", `{"type":"offer","to":"p"}`, ErrInvalid},
		{"candidate without candidate", `{"type":"candidate","to":"p"}`, ErrInvalid},
		{"long candidate", `{"type":"candidate","to":"p","candidate":{"candidate":"` + strings.Repeat("a", 2000) + `"}}`, ErrInvalid},
		{"meta without data", `{"type":"meta","to":"p"}`, ErrInvalid},
		{"long to", `{"type":"meta","to":"` + strings.Repeat("p", 65) + `","data":"x"}`, ErrInvalid},
		{"view without to", `{"type":"view","views":[{"peer":"p","width":1,"height":1}]}`, ErrInvalid},
		{"view without peer", `{"type":"view","to":"sfu","views":[{"width":1,"height":1}]}`, ErrInvalid},
		{"view too wide", `{"type":"view","to":"sfu","views":[{"peer":"p","width":16385,"height":1}]}`, ErrInvalid},
		{"view negative", `{"type":"view","to":"sfu","views":[{"peer":"p","width":320,"height":-1}]}`, ErrInvalid},
		{"view too many", `{"type":"view","to":"sfu","views":[` + strings.Repeat(`{"peer":"p","width":1,"height":1},`, MaxViews) + `{"peer":"p","width":1,"height":1}]}`, ErrInvalid},
		{"view wrong shape", `{"type":"view","to":"sfu","views":{"peer":"p"}}`, ErrMalformed},
		{"too large", `{"type":"offer","to":"p","sdp":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, ErrTooLarge},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.raw))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDecodeAccepts(t *testing.T) {
	mid, idx := "0", uint16(0)
	msgs := []Message{
		{Type: TypeHello, V: Version, Token: "abc"},
		{Type: TypeOffer, To: "p", SDP: "v=0\r\n"},
		{Type: TypeAnswer, To: "p", SDP: "v=0\r\n"},
		{Type: TypeCandidate, To: "p", Candidate: &Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx}},
		{Type: TypeCandidate, To: "p", Candidate: &Candidate{}},
		{Type: TypeMeta, To: "p", Data: "aGk"},
		{Type: TypeView, To: "sfu", Views: []View{{Peer: "p", Width: 640, Height: 360}, {Peer: "q"}}},
		{Type: TypeView, To: "sfu"},
		{Type: TypePing},
		{Type: TypeBye},
	}
	for _, m := range msgs {
		raw, _ := json.Marshal(m)
		got, err := Decode(raw)
		if err != nil {
			t.Errorf("%s refused: %v", m.Type, err)
			continue
		}
		again, _ := json.Marshal(got)
		if string(again) != string(raw) {
			t.Errorf("%s changed in decoding: %s -> %s", m.Type, raw, again)
		}
	}
}

func TestPoliteIsAntisymmetric(t *testing.T) {
	if Polite("a", "b") == Polite("b", "a") {
		t.Error("both sides got the same role")
	}
}

// FuzzDecode: no input panics, every refusal is a named error, and every
// accepted message survives a round trip through encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","v":1,"token":"x.y"}`,
		`{"type":"offer","to":"p","sdp":"v=0"}`,
		`{"type":"candidate","to":"p","candidate":{"candidate":"","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"meta","to":"p","data":"AAAA"}`,
		`{"type":"view","to":"sfu","views":[{"peer":"p","width":320,"height":180},{"peer":"q","width":0,"height":0}]}`,
		`{"type":"ping"}`, `{"type":"bye","reason":"done"}`,
		`{"type":"nope"}`, `null`, `"str"`, `{"type":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) &&
				!errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unnamed error: %v", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("accepted message refused after round trip: %v", err)
		}
	})
}
