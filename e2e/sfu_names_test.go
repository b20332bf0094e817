package e2e_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/testutil"
)

// Three members of a conference who hold the link's room secret learn
// each other's display names, and each other's microphone and camera
// state, as the browser app shows them on the tiles: sealed, through the
// server, which relays them without reading them. A state set before
// anyone else is there reaches those who join later. A fourth member
// who joined with another room secret learns no name and no state: what
// it receives does not open, and it hears nothing about it.
func TestConferenceNamesAndMute(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 4, "host", "guest", "guest", "guest")
	secret := roomSecret(t)
	named := func(secret []byte, name string) func(*client.ConferenceOptions) {
		return func(o *client.ConferenceOptions) { o.RoomSecret, o.Name = secret, name }
	}

	chair := heed(dialMemberWith(t, s, "chair", room.Participants[0].Token, named(secret, "Dr. Anna Berg")))
	if err := chair.SetMute(true, false); err != nil {
		t.Fatalf("chair: set mute: %v", err)
	}
	intruder := heed(dialMemberWith(t, s, "intruder", room.Participants[3].Token, named(roomSecret(t), "Mallory")))
	cardio := heed(dialMemberWith(t, s, "cardiology", room.Participants[1].Token, named(secret, "Dr. Jonas Weber")))
	cardio.waitName(t, chair, "Dr. Anna Berg")
	cardio.waitMute(t, chair, e2ee.MuteState{MicOff: true})
	chair.waitName(t, cardio, "Dr. Jonas Weber")

	radio := heed(dialMemberWith(t, s, "radiology", room.Participants[2].Token, named(secret, "Dr. Lea Wolf")))
	radio.waitName(t, chair, "Dr. Anna Berg")
	radio.waitName(t, cardio, "Dr. Jonas Weber")
	radio.waitMute(t, chair, e2ee.MuteState{MicOff: true})
	chair.waitName(t, radio, "Dr. Lea Wolf")
	cardio.waitName(t, radio, "Dr. Lea Wolf")

	if err := cardio.SetMute(false, true); err != nil {
		t.Fatalf("cardiology: set mute: %v", err)
	}
	if err := chair.SetMute(false, false); err != nil {
		t.Fatalf("chair: set mute: %v", err)
	}
	for _, m := range []*heeding{chair, radio} {
		m.waitMute(t, cardio, e2ee.MuteState{CameraOff: true})
	}
	for _, m := range []*heeding{cardio, radio} {
		m.waitMute(t, chair, e2ee.MuteState{})
	}

	// The chair sealed its name and state to the intruder before it did
	// to cardiology, who has them; the server relays one sender's
	// messages in order and radiology's arrival after them, so by the
	// time the intruder hears of radiology it has had them.
	intruder.waitFor(t, "radiology joined", func(e client.Event) bool {
		return e.Type == client.EventPeerJoined && e.Peer.ID == radio.Self()
	})
	for _, e := range intruder.seen() {
		switch e.Type {
		case client.EventPeerName, client.EventPeerMute, client.EventMeta:
			t.Errorf("intruder with another room secret got %s from %s: %q %+v", e.Type, e.Peer.ID, e.Data, e.Mute)
		}
	}
	for _, m := range []*heeding{chair, cardio, radio} {
		for _, e := range m.seen() {
			if e.Peer.ID == intruder.Self() && (e.Type == client.EventPeerName || e.Type == client.EventPeerMute) {
				t.Errorf("%s opened the intruder's %s: %q", m.name, e.Type, e.Data)
			}
		}
	}
}

// heeding is a member whose events are collected as they come.
type heeding struct {
	*member
	mu     sync.Mutex
	events []client.Event
	more   chan struct{} // closed and replaced on every event
}

// heed collects m's events until its conference closes.
func heed(m *member) *heeding {
	h := &heeding{member: m, more: make(chan struct{})}
	go func() {
		for e := range m.Events() {
			h.mu.Lock()
			h.events = append(h.events, e)
			close(h.more)
			h.more = make(chan struct{})
			h.mu.Unlock()
		}
	}()
	return h
}

func (h *heeding) seen() []client.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]client.Event(nil), h.events...)
}

// waitFor waits until an event matches, failing with what came instead.
func (h *heeding) waitFor(t *testing.T, what string, match func(client.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		events, more := h.events, h.more
		h.mu.Unlock()
		for _, e := range events {
			if match(e) {
				return
			}
		}
		select {
		case <-more:
		case <-deadline:
			var saw []string
			for _, e := range events {
				saw = append(saw, fmt.Sprintf("%s %s %q %+v", e.Type, e.Peer.ID, e.Data, e.Mute))
			}
			t.Fatalf("%s: no %s within 10 s; saw %v", h.name, what, saw)
		}
	}
}

func (h *heeding) waitName(t *testing.T, from *heeding, name string) {
	t.Helper()
	h.waitFor(t, fmt.Sprintf("name %q of %s", name, from.name), func(e client.Event) bool {
		return e.Type == client.EventPeerName && e.Peer.ID == from.Self() && e.Data == name
	})
}

// waitMute waits until h got a mute state of from with want's flags.
func (h *heeding) waitMute(t *testing.T, from *heeding, want e2ee.MuteState) {
	t.Helper()
	h.waitFor(t, fmt.Sprintf("mute state %+v of %s", want, from.name), func(e client.Event) bool {
		return e.Type == client.EventPeerMute && e.Peer.ID == from.Self() &&
			e.Mute.MicOff == want.MicOff && e.Mute.CameraOff == want.CameraOff
	})
}
