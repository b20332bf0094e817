package e2e_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
)

func roomSecret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func withSecret(secret []byte) func(*client.ConferenceOptions) {
	return func(o *client.ConferenceOptions) { o.RoomSecret = secret }
}

// Five participants of a conference hold the link's room secret: each
// publishes camera and microphone encrypted with SFrame under the KID
// the server gave its session, and decrypts every other's frames (video
// keyframes span several packets and arrive whole). A sixth joined with
// another secret: every frame it receives fails to authenticate, none
// decrypts.
func TestConferenceSFrame(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 6, "host", "guest", "guest", "guest", "guest", "guest")
	secret := roomSecret(t)
	var ms []*member
	kids := map[uint64]string{}
	for i, name := range []string{"chair", "cardiology", "radiology", "surgery", "oncology"} {
		m := dialMemberWith(t, s, name, room.Participants[i].Token, withSecret(secret), newSealedSynthetic(t, name).tracks()...)
		if m.KID() == 0 || kids[m.KID()] != "" {
			t.Fatalf("%s got KID %d, already %q's", name, m.KID(), kids[m.KID()])
		}
		kids[m.KID()] = name
		ms = append(ms, m)
	}
	intruder := dialMemberWith(t, s, "intruder", room.Participants[5].Token, withSecret(roomSecret(t)))

	const min = 30
	defer func() {
		if t.Failed() {
			t.Log(counts(ms...))
		}
	}()
	eventuallyShowing(t, "every member decrypts every other's audio and video", func() string { return counts(ms...) }, func() bool {
		for _, m := range ms {
			for _, p := range ms {
				if p == m {
					continue
				}
				r := m.from(p.Self())
				if r.video.Load() < min || r.audio.Load() < min {
					return false
				}
			}
		}
		return true
	})
	eventuallyShowing(t, "the intruder fails on every publisher's frames", func() string { return counts(intruder) }, func() bool {
		for _, p := range ms {
			if intruder.from(p.Self()).authFailed.Load() < 2*min {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		for _, p := range ms {
			if p == m {
				continue
			}
			r := m.from(p.Self())
			if got, want := r.decrypted.Load(), r.video.Load()+r.audio.Load(); got < want-2 {
				t.Errorf("%s from %s: %d frames decrypted, %d carry the plaintext", m.name, p.name, want, got)
			}
			if r.authFailed.Load() != 0 || r.otherFailed.Load() != 0 {
				t.Errorf("%s from %s: frames failed:%s", m.name, p.name, counts(m))
			}
		}
	}
	for _, p := range ms {
		r := intruder.from(p.Self())
		if r.video.Load() != 0 || r.audio.Load() != 0 || r.decrypted.Load() != 0 {
			t.Errorf("intruder decrypted frames of %s:%s", p.name, counts(intruder))
		}
	}
}

// Chat in a conference of four: every message reaches every other
// participant byte for byte, with its sender named, sealed end to end.
// A participant with another secret receives nothing it can open.
func TestConferenceChat(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 5, "host", "guest", "guest", "guest", "guest")
	secret := roomSecret(t)
	var ms []*member
	for i, name := range []string{"chair", "cardiology", "radiology", "surgery"} {
		ms = append(ms, dialMemberWith(t, s, name, room.Participants[i].Token, withSecret(secret)))
	}
	intruder := dialMemberWith(t, s, "intruder", room.Participants[4].Token, withSecret(roomSecret(t)))
	all := append([]*member{intruder}, ms...)
	for _, m := range all {
		waitConferenceConnected(t, m)
	}
	// Everyone writes as soon as its own end of the channel is open; the
	// SFU holds what it relays to a channel not yet open at its end.
	sent := map[string][]byte{}
	for i, m := range ms {
		msg := []byte(fmt.Sprintf("Befund %d von %s: ✓ \x00 binary ok", i, m.name))
		if err := m.SendChat(msg); err != nil {
			t.Fatalf("%s: send chat: %v", m.name, err)
		}
		sent[m.Self()] = msg
	}
	big := bytes.Repeat([]byte("x"), 16<<10)
	if err := ms[0].SendChat(big); err != nil {
		t.Fatalf("send a 16 KiB message: %v", err)
	}
	eventually(t, "every member receives every other's messages", func() bool {
		for _, m := range ms {
			for _, p := range ms {
				if p == m {
					continue
				}
				want := 1
				if p == ms[0] {
					want = 2
				}
				if len(m.chatsFrom(p.Self())) < want {
					return false
				}
			}
		}
		return true
	})
	for _, m := range ms {
		for _, p := range ms {
			if p == m {
				continue
			}
			got := m.chatsFrom(p.Self())
			if !bytes.Equal(got[0], sent[p.Self()]) {
				t.Errorf("%s got %q from %s, want %q", m.name, got[0], p.name, sent[p.Self()])
			}
			if p == ms[0] && !bytes.Equal(got[1], big) {
				t.Errorf("%s: the 16 KiB message from %s arrived as %d bytes", m.name, p.name, len(got[1]))
			}
		}
		if n := len(m.chatsFrom(m.Self())); n != 0 {
			t.Errorf("%s received %d of its own messages back", m.name, n)
		}
	}
	intruder.mu.Lock()
	defer intruder.mu.Unlock()
	if len(intruder.chats) != 0 {
		t.Errorf("the intruder opened %d messages", len(intruder.chats))
	}
}
