package access

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/protocol"
)

var fuzzNow = time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)

func TestValidateRoom(t *testing.T) {
	start := fuzzNow.Add(time.Hour)
	ok := protocol.RoomRequest{
		Window:       protocol.WindowRequest{Start: &start},
		Capacity:     2,
		Participants: []protocol.ParticipantRequest{{Role: "host", Label: "Praxis Dr. Beispiel"}, {Role: "guest"}},
	}
	if _, err := ValidateRoom(ok, fuzzNow); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	cases := map[string]func(r *protocol.RoomRequest){
		"capacity 1":       func(r *protocol.RoomRequest) { r.Capacity = 1 },
		"capacity 51":      func(r *protocol.RoomRequest) { r.Capacity = 51 },
		"no participants":  func(r *protocol.RoomRequest) { r.Participants = nil },
		"unknown role":     func(r *protocol.RoomRequest) { r.Participants[1].Role = "admin" },
		"long label":       func(r *protocol.RoomRequest) { r.Participants[0].Label = strings.Repeat("x", 65) },
		"control in label": func(r *protocol.RoomRequest) { r.Participants[0].Label = "a\x00b" },
		"bad utf8 label":   func(r *protocol.RoomRequest) { r.Participants[0].Label = "\xff" },
		"too many":         func(r *protocol.RoomRequest) { r.Participants = make([]protocol.ParticipantRequest, 101) },
	}
	for name, mutate := range cases {
		r := ok
		r.Participants = append([]protocol.ParticipantRequest(nil), ok.Participants...)
		mutate(&r)
		if _, err := ValidateRoom(r, fuzzNow); !errors.Is(err, ErrInvalidRoom) {
			t.Errorf("%s: err %v, want ErrInvalidRoom", name, err)
		}
	}
}

// FuzzValidateRoom feeds arbitrary JSON bodies through decoding and
// validation: neither may panic, and an accepted request must yield a
// window that is open for a positive time.
func FuzzValidateRoom(f *testing.F) {
	f.Add([]byte(`{"window":{"start":"2026-05-04T09:00:00Z","hours":24},"capacity":2,"participants":[{"role":"host"},{"role":"guest"}]}`))
	f.Add([]byte(`{"window":{"day":"2026-05-05","time_zone":"Europe/Berlin"},"capacity":5,"participants":[{"role":"host","label":"A"}]}`))
	f.Add([]byte(`{"window":{"day":"2026-05-05","time_zone":"../../etc/passwd"},"capacity":2,"participants":[{"role":"host"}]}`))
	f.Add([]byte(`{"capacity":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req protocol.RoomRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		w, err := ValidateRoom(req, fuzzNow)
		if err != nil {
			if !errors.Is(err, ErrInvalidRoom) && !errors.Is(err, ErrInvalidWindow) {
				t.Fatalf("unnamed error %v", err)
			}
			return
		}
		if !w.End.After(w.Start) || !w.End.After(fuzzNow) {
			t.Fatalf("accepted an empty or past window %+v", w)
		}
	})
}
