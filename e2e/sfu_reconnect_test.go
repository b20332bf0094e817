package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// publish has a member publish p with secret: its microphone, and its
// camera as simulcast layers.
func (p *simulcastPublisher) publish(secret []byte) func(*client.ConferenceOptions) {
	return func(o *client.ConferenceOptions) {
		o.RoomSecret = secret
		o.Tracks = []webrtc.TrackLocal{p.audio}
		o.VideoLayers = p.tracks()
	}
}

// A conference of three holds the room secret; radiology publishes its
// microphone and its camera as three simulcast layers, the others
// microphone and camera, all encrypted with SFrame. Radiology has hidden
// cardiology's tile (0×0) and calls Reconnect, as after a network
// change. Afterwards it is on a new PeerConnection and a new KID, the
// others saw it come back (peer-joined, reconnect), and:
//   - each of them decrypts radiology's audio and video made after the
//     Reconnect (its frames name the phase), and no frame fails once
//     those flow;
//   - radiology receives chair's audio and video and cardiology's audio
//     on its new PeerConnection, but no video of cardiology until it
//     shows the tile again: the SFU of the new session got its views;
//   - chat sent after the Reconnect arrives intact both ways;
//   - radiology's Events goes on (chair leaving is reported) and never
//     reported the loss of its replaced session.
func TestConferenceReconnect(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 3, "host", "guest", "guest")
	secret := roomSecret(t)
	chair := dialMemberWith(t, s, "chair", room.Participants[0].Token, withSecret(secret), newSealedSynthetic(t, "chair").tracks()...)
	cardio := dialMemberWith(t, s, "cardiology", room.Participants[1].Token, withSecret(secret), newSealedSynthetic(t, "cardiology").tracks()...)
	src := newSimulcastPublisher(t, "radiology")
	radio := dialMemberWith(t, s, "radiology", room.Participants[2].Token, src.publish(secret))
	all, others := []*member{chair, cardio, radio}, []*member{chair, cardio}
	defer func() {
		if t.Failed() {
			t.Log(counts(all...))
		}
	}()
	receiveFromEachOther(t, all, all, 30)
	for _, m := range others {
		// Radiology's first arrival, so that the next is its return.
		waitConferenceEvent(t, m, client.EventPeerJoined, radio.Self())
	}
	if err := radio.SetViews([]protocol.View{{Peer: cardio.Self(), Width: 0, Height: 0}}); err != nil {
		t.Fatal(err)
	}

	oldPC, oldKID := radio.PeerConnection(), radio.KID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := radio.Reconnect(ctx); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	src.setPhase("after")
	after := []byte(src.phaseMark("after"))
	for _, m := range others {
		m.mark.Store(&after)
	}
	if radio.PeerConnection() == oldPC {
		t.Fatal("Reconnect kept the old PeerConnection")
	}
	eventually(t, "the old PeerConnection is closed", func() bool {
		return oldPC.ConnectionState() == webrtc.PeerConnectionStateClosed
	})
	if radio.KID() == 0 || radio.KID() == oldKID {
		t.Errorf("KID %d after Reconnect, %d before: want a new one", radio.KID(), oldKID)
	}
	for _, m := range others {
		e := waitConferenceEvent(t, m, client.EventPeerJoined, radio.Self())
		if !e.Peer.Reconnect || e.Peer.KID != radio.KID() {
			t.Errorf("%s saw radiology come back as %+v, want reconnect with KID %d", m.name, e.Peer, radio.KID())
		}
	}
	if got := radio.Peers(); len(got) != 2 {
		t.Errorf("radiology sees peers %v after Reconnect, want chair and cardiology", got)
	}
	waitConferenceConnected(t, radio)

	const min = 25
	eventually(t, "everyone decrypts radiology's frames made after the Reconnect"+counts(others...), func() bool {
		for _, m := range others {
			r := m.from(radio.Self())
			if r.markedVideo.Load() < min || r.markedAudio.Load() < min {
				return false
			}
		}
		return true
	})
	// Frames of the old session in flight at the switch may fail (their
	// KID is gone); from here on none may.
	failed := func() (n int64) {
		for _, m := range all {
			for _, p := range all {
				if p != m {
					n += m.from(p.Self()).authFailed.Load() + m.from(p.Self()).otherFailed.Load()
				}
			}
		}
		return n
	}
	failedAtSwitch := failed()

	eventually(t, "radiology's tracks of the old PeerConnection end"+counts(radio), func() bool {
		return radio.from(chair.Self()).ended.Load() >= 2 && radio.from(cardio.Self()).ended.Load() >= 2
	})
	fromChair, fromCardio := radio.from(chair.Self()), radio.from(cardio.Self())
	chairV, chairA, cardioV, cardioA := fromChair.video.Load(), fromChair.audio.Load(), fromCardio.video.Load(), fromCardio.audio.Load()
	eventually(t, "radiology receives chair's audio and video and cardiology's audio on its new PeerConnection"+counts(radio), func() bool {
		return fromChair.video.Load() >= chairV+min && fromChair.audio.Load() >= chairA+min && fromCardio.audio.Load() >= cardioA+min
	})

	// Chat, all three at once: the SFU holds what it relays to radiology
	// until its end of radiology's new channel is open (sfu/chat.go).
	sent := map[string][]byte{}
	say := func(m *member, text string) {
		t.Helper()
		msg := []byte(text + " von " + m.name + ": ✓ \x00 ok")
		if err := m.SendChat(msg); err != nil {
			t.Fatalf("%s: send chat: %v", m.name, err)
		}
		sent[m.Self()] = msg
	}
	arrived := func(to *member, from *member) bool {
		got := to.chatsFrom(from.Self())
		return len(got) > 0 && bytes.Equal(got[len(got)-1], sent[from.Self()])
	}
	say(chair, "Danke")
	say(cardio, "Gesehen")
	say(radio, "Befund nach dem Netzwechsel")
	eventually(t, "chair and cardiology receive radiology's chat intact", func() bool {
		return arrived(chair, radio) && arrived(cardio, radio)
	})
	eventually(t, "radiology receives chair's and cardiology's chat intact", func() bool {
		return arrived(radio, chair) && arrived(radio, cardio)
	})

	// By now radiology has received cardiology's audio for a while: its
	// video, on a tile at 0×0, never came.
	if n := fromCardio.video.Load() - cardioV; n != 0 {
		t.Errorf("radiology received %d video frames of cardiology's hidden tile: the new session lacks its views", n)
	}
	if err := radio.SetViews([]protocol.View{{Peer: cardio.Self(), Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "radiology receives cardiology's video once its tile shows"+counts(radio), func() bool {
		return fromCardio.video.Load() >= cardioV+min
	})
	if n := failed(); n != failedAtSwitch {
		t.Errorf("%d frames failed to decrypt after the switch", n-failedAtSwitch)
	}

	// Radiology's Events goes on: chair leaving reaches it.
	chairID := chair.Self()
	chair.leave()
	waitConferenceEvent(t, radio, client.EventPeerLeft, chairID)
	for drained := false; !drained; {
		select {
		case e := <-radio.Events():
			if e.Type == client.EventSignalLost || e.Type == client.EventError {
				t.Errorf("radiology reported %s (%v) of its replaced session", e.Type, e.Err)
			}
		default:
			drained = true
		}
	}
}

// A Reconnect that fails leaves the conference as it was: the join is
// refused (here: its context is already cancelled), and the publisher
// keeps its PeerConnection, its media reaches the subscriber, its chat
// works and its Events reports a participant who joins later. After
// Close, Reconnect returns ErrClosed.
func TestConferenceReconnectFailsInPlace(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 3, "host", "guest", "guest")
	pub := dialMember(t, s, "chair", room.Participants[0].Token, newSynthetic(t, "chair").tracks()...)
	sub := dialMember(t, s, "cardiology", room.Participants[1].Token)
	receiveFromEachOther(t, []*member{sub}, []*member{pub}, 25)
	waitConferenceConnected(t, pub)
	pc := pub.PeerConnection()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := pub.Reconnect(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "reconnect: ") {
		t.Fatalf("Reconnect with a cancelled context: %v, want a wrapped context.Canceled", err)
	}
	if pub.PeerConnection() != pc {
		t.Fatal("a failed Reconnect replaced the PeerConnection")
	}
	v := sub.from(pub.Self()).video.Load()
	eventually(t, "the subscriber still receives the publisher"+counts(sub), func() bool {
		return sub.from(pub.Self()).video.Load() >= v+25
	})
	if err := pub.SendChat([]byte("noch da")); err != nil {
		t.Fatalf("chat after a failed Reconnect: %v", err)
	}
	eventually(t, "the subscriber receives the chat", func() bool { return len(sub.chatsFrom(pub.Self())) == 1 })
	late := dialMember(t, s, "radiology", room.Participants[2].Token)
	waitConferenceEvent(t, pub, client.EventPeerJoined, late.Self())

	pub.leave()
	if err := pub.Reconnect(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Reconnect after Close: %v, want ErrClosed", err)
	}
}

// Chair asks in the chat for a reconnect, and radiology's chat callback
// calls Reconnect: it runs on the chat channel of the PeerConnection
// Reconnect replaces, whose closing waits for it. Reconnect returns, the
// old PeerConnection closes once the callback is done, and chat goes on
// over the new one both ways.
func TestConferenceReconnectFromChat(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	// Three places: a room for two is a peer-to-peer consultation.
	room := s.CreateRoom(t, 3, "host", "guest")
	chair := dialMember(t, s, "chair", room.Participants[0].Token)
	var self atomic.Pointer[member]
	reconnected := make(chan error, 1)
	radio := dialMemberWith(t, s, "radiology", room.Participants[1].Token, func(o *client.ConferenceOptions) {
		o.OnChat = func(from string, text []byte) {
			m := self.Load()
			m.onChat(from, text)
			if string(text) == "bitte neu verbinden" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				reconnected <- m.Reconnect(ctx)
			}
		}
	})
	self.Store(radio)
	defer func() {
		if t.Failed() {
			t.Logf("radiology has %q from chair, chair %q from radiology", radio.chatsFrom(chair.Self()), chair.chatsFrom(radio.Self()))
		}
	}()
	waitConferenceConnected(t, chair)
	waitConferenceConnected(t, radio)
	oldPC := radio.PeerConnection()
	// Chair writes as soon as its own end of the channel is open, as a
	// user would: the SFU holds what it relays to radiology until its end
	// of radiology's channel is open too (sfu/chat.go).
	if err := chair.SendChat([]byte("bitte neu verbinden")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "radiology receives chair's request", func() bool { return len(radio.chatsFrom(chair.Self())) == 1 })
	select {
	case err := <-reconnected:
		if err != nil {
			t.Fatalf("Reconnect from OnChat: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Reconnect called from OnChat has not returned after 15 s")
	}
	if radio.PeerConnection() == oldPC {
		t.Fatal("Reconnect kept the old PeerConnection")
	}
	eventually(t, "the old PeerConnection is closed", func() bool {
		return oldPC.ConnectionState() == webrtc.PeerConnectionStateClosed
	})
	// Both write as soon as radiology's new channel is open at its end.
	waitConferenceConnected(t, radio)
	if err := chair.SendChat([]byte("gut")); err != nil {
		t.Fatal(err)
	}
	if err := radio.SendChat([]byte("wieder da")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "chat goes both ways over radiology's new PeerConnection", func() bool {
		toRadio, toChair := radio.chatsFrom(chair.Self()), chair.chatsFrom(radio.Self())
		return len(toRadio) == 2 && string(toRadio[1]) == "gut" && len(toChair) == 1 && string(toChair[0]) == "wieder da"
	})
}

// joinGate holds the first join made after it is armed until released:
// the moment a Reconnect no longer reads its old session and has no new
// one yet.
type joinGate struct {
	armed            atomic.Bool
	reached, release chan struct{}
}

func newJoinGate() *joinGate {
	return &joinGate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *joinGate) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.reached)
		select {
		case <-g.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Radiology reconnects; while it no longer reads its old session and has
// no new one, chair leaves and pathology joins. Neither news reaches it
// on a session: its Events reports both once the Reconnect is done, and
// nothing about cardiology, who stayed.
func TestConferenceReconnectReportsWhoCameAndWent(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts())
	room := s.CreateRoom(t, 4, "host", "guest", "guest", "guest")
	chair := dialMember(t, s, "chair", room.Participants[0].Token)
	cardio := dialMember(t, s, "cardiology", room.Participants[1].Token)
	gate := newJoinGate()
	radio := dialMemberWith(t, s, "radiology", room.Participants[2].Token, func(o *client.ConferenceOptions) {
		o.HTTPClient = &http.Client{Transport: gate}
	})
	waitConferenceConnected(t, radio)

	gate.armed.Store(true)
	reconnected := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		reconnected <- radio.Reconnect(ctx)
	}()
	select {
	case <-gate.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("Reconnect did not join again")
	}
	chairID := chair.Self()
	chair.leave()
	waitConferenceEvent(t, cardio, client.EventPeerLeft, chairID)
	patho := dialMember(t, s, "pathology", room.Participants[3].Token)
	waitConferenceEvent(t, cardio, client.EventPeerJoined, patho.Self())
	close(gate.release)
	if err := <-reconnected; err != nil {
		t.Fatalf("Reconnect: %v", err)
	}

	var got []string
	for drained := false; !drained; {
		select {
		case e := <-radio.Events():
			got = append(got, string(e.Type)+" "+e.Peer.ID)
		default:
			drained = true
		}
	}
	want := []string{string(client.EventPeerLeft) + " " + chairID, string(client.EventPeerJoined) + " " + patho.Self()}
	if !slices.Equal(got, want) {
		t.Errorf("radiology's events after the Reconnect: %q, want %q", got, want)
	}
	if ps := radio.Peers(); len(ps) != 2 || !slices.ContainsFunc(ps, func(p protocol.Peer) bool { return p.ID == patho.Self() }) {
		t.Errorf("radiology sees peers %v, want cardiology and pathology", ps)
	}
}
