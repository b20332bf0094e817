package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// The Call's life on the real server beyond a plain consultation: opaque
// metadata, leaving, a reloaded tab and ICE restarts. What needs a server
// that misbehaves (lost messages, silent drops) is in client/call_test.go.

// Both participants exchange opaque metadata over signaling (their
// encrypted names, the HMAC of their DTLS fingerprints); then the guest
// hangs up: the host hears "bye", and the guest's chat is closed.
func TestMetaRelayAndLeave(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	hostID, guestID := room.Participants[0].ID, room.Participants[1].ID

	host := dialParty(t, s, "host", room.Participants[0].Token)
	guest := dialParty(t, s, "guest", room.Participants[1].Token)
	if host.Self() != hostID || guest.Self() != guestID || guest.Peer() != hostID {
		t.Errorf("ids: host self %q, guest self %q, guest's peer %q; room has host %q, guest %q",
			host.Self(), guest.Self(), guest.Peer(), hostID, guestID)
	}
	if e := host.waitEvent(t, client.EventPeerJoined); e.Peer.ID != guestID || e.Peer.Reconnect {
		t.Errorf("host saw peer-joined %+v, want the guest's first arrival", e.Peer)
	}
	host.waitConnected(t)
	guest.waitConnected(t)

	if err := guest.SendMeta("hmac:3q2+7w=="); err != nil {
		t.Fatalf("guest SendMeta: %v", err)
	}
	if e := host.waitEvent(t, client.EventMeta); e.Data != "hmac:3q2+7w==" || e.Peer.ID != guestID {
		t.Errorf("host got meta %+v", e)
	}
	if err := host.SendMeta(`{"name":"Dr. Müller"}`); err != nil {
		t.Fatalf("host SendMeta: %v", err)
	}
	if e := guest.waitEvent(t, client.EventMeta); e.Data != `{"name":"Dr. Müller"}` || e.Peer.ID != hostID {
		t.Errorf("guest got meta %+v", e)
	}
	guest.chatsWith(t, host, []byte("Auf Wiedersehen"))

	if err := guest.Close(); err != nil {
		t.Errorf("guest Close: %v", err)
	}
	if e := host.waitEvent(t, client.EventPeerLeft); e.Peer.ID != guestID || e.Reason != "bye" {
		t.Errorf("host saw peer-left %+v reason %q, want the guest with bye", e.Peer, e.Reason)
	}
	if err := guest.SendChat([]byte("x")); err == nil {
		t.Error("SendChat after Close succeeded")
	}
}

// A participant reloads the page: its Call closes and a new one joins
// with the same link, with a new PeerConnection and DTLS certificate. The
// one who stayed starts over with a new PeerConnection of its own, and
// media and chat flow again. Either side may reload: the offerer (the
// smaller participant id) or the answerer.
func TestPeerComesBackWithNewPeerConnection(t *testing.T) {
	for _, reloader := range []string{"offerer", "answerer"} {
		t.Run(reloader+" reloads", func(t *testing.T) {
			verifyNoLeaks(t)
			s := testutil.StartServer(t)
			room := s.CreateRoom(t, 2, "host", "guest")
			hostMedia, guestMedia := newSynthetic(t, "host"), newSynthetic(t, "guest")
			host := dialParty(t, s, "host", room.Participants[0].Token, hostMedia.tracks()...)
			guest := dialParty(t, s, "guest", room.Participants[1].Token, guestMedia.tracks()...)
			host.waitConnected(t)
			guest.waitConnected(t)

			leaver, stayer, token, media := host, guest, room.Participants[0].Token, hostMedia
			if offerer, _ := byRole(host, guest); (offerer == guest) == (reloader == "offerer") {
				leaver, stayer, token, media = guest, host, room.Participants[1].Token, guestMedia
			}
			old := stayer.PeerConnection()
			leaver.Close()
			// The stayer may start over as soon as the leaver's DTLS says
			// goodbye, before or after it hears peer-left.
			seen := stayer.waitEventNoting(t, client.EventPeerLeft)

			// Same participant and camera, new tab.
			back := dialParty(t, s, leaver.name+" reloaded", token, media.tracks()...)
			if !slices.Contains(seen, client.EventPeerConnectionReplaced) {
				stayer.waitEvent(t, client.EventPeerConnectionReplaced)
			}
			stayer.waitConnected(t)
			back.waitConnected(t)
			if stayer.PeerConnection() == old {
				t.Errorf("%s still has the PeerConnection of the old tab", stayer.name)
			}
			back.chatsWith(t, stayer, []byte("neu geladen"))
			stayer.chatsWith(t, back, []byte("willkommen zurück"))
			keepReceiving(t, 30, stayer, back)
		})
	}
}

// Both participants reconnect at the same moment (say, both networks
// changed): neither is stuck waiting for an answer, both ICE agents
// restart, and chat works both ways again.
func TestBothReconnectAtOnce(t *testing.T) {
	verifyNoLeaks(t)
	c := startConsultation(t)
	host, guest := c.host, c.guest
	host.waitConnected(t)
	guest.waitConnected(t)
	hostUfrag, guestUfrag := remoteUfrag(host.Call), remoteUfrag(guest.Call)

	var wg sync.WaitGroup
	for _, p := range []*party{host, guest} {
		wg.Go(func() {
			if err := p.Reconnect(t.Context()); err != nil {
				t.Errorf("%s: Reconnect: %v", p.name, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	eventually(t, "both stable with the other's new ICE credentials", func() bool {
		return stable(host) && stable(guest) &&
			remoteUfrag(host.Call) != hostUfrag && remoteUfrag(guest.Call) != guestUfrag
	})
	host.waitConnected(t)
	guest.waitConnected(t)
	guest.chatsWith(t, host, []byte("beide neu"))
	host.chatsWith(t, guest, []byte("ok"))
	keepReceiving(t, 30, host, guest)
}

// Reconnect, again and again, from either side, while the old session
// still runs: each time the server replaces the session, the peer sees a
// reconnect, ICE restarts on the same PeerConnection, and media and chat
// go on. The replaced sessions are not reported as lost.
func TestRepeatedReconnectRestartsICEEachTime(t *testing.T) {
	verifyNoLeaks(t)
	c := startConsultation(t)
	host, guest := c.host, c.guest
	host.waitEvent(t, client.EventPeerJoined) // the guest's first arrival
	host.waitConnected(t)
	guest.waitConnected(t)
	offerer, answerer := byRole(host, guest)
	pcs := map[*party]*webrtc.PeerConnection{host: host.PeerConnection(), guest: guest.PeerConnection()}

	// The offerer twice in a row, then the answerer.
	for i, p := range []*party{offerer, offerer, answerer} {
		other := offerer
		if p == offerer {
			other = answerer
		}
		pUfrag, otherUfrag := remoteUfrag(p.Call), remoteUfrag(other.Call)
		if err := p.Reconnect(t.Context()); err != nil {
			t.Fatalf("reconnect %d (%s): %v", i+1, p.name, err)
		}
		if e := other.waitEvent(t, client.EventPeerJoined); e.Peer.ID != p.Self() || !e.Peer.Reconnect {
			t.Errorf("reconnect %d: %s saw peer-joined %+v, want %s reconnecting", i+1, other.name, e.Peer, p.name)
		}
		eventually(t, "ICE restart: both see new credentials", func() bool {
			return stable(p) && stable(other) &&
				remoteUfrag(p.Call) != pUfrag && remoteUfrag(other.Call) != otherUfrag
		})
		p.waitConnected(t)
		other.waitConnected(t)
		p.chatsWith(t, other, []byte("wieder da"))
		other.chatsWith(t, p, []byte("noch da?"))
		keepReceiving(t, 30, p, other)
		for len(p.Events()) > 0 {
			if e := <-p.Events(); e.Type == client.EventSignalLost || e.Type == client.EventError {
				t.Errorf("reconnect %d: %s reported %s: %v", i+1, p.name, e.Type, e.Err)
			}
		}
	}
	for _, p := range []*party{host, guest} {
		if p.PeerConnection() != pcs[p] {
			t.Errorf("%s: Reconnect replaced the PeerConnection", p.name)
		}
	}
}

// waitEventNoting reads p's events until one of type typ arrives, and
// returns the types of all it read.
func (p *party) waitEventNoting(t *testing.T, typ client.EventType) []client.EventType {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var seen []client.EventType
	for {
		select {
		case e := <-p.Events():
			seen = append(seen, e.Type)
			if e.Type == typ {
				return seen
			}
		case <-deadline:
			t.Fatalf("%s: no %s event; saw %v", p.name, typ, seen)
		}
	}
}

// keepReceiving checks that each party's video and audio both grow by at
// least min packets, watching all parties at once (keepsReceiving, one
// after the other, would take twice as long).
func keepReceiving(t *testing.T, min int64, parties ...*party) {
	t.Helper()
	type count struct{ video, audio int64 }
	start := make([]count, len(parties))
	for i, p := range parties {
		start[i] = count{p.video.Load(), p.audio.Load()}
	}
	grown := func(i int) count {
		return count{parties[i].video.Load() - start[i].video, parties[i].audio.Load() - start[i].audio}
	}
	// 50 frames/s: min packets take min×20 ms; allow 5 s more.
	deadline := time.Now().Add(time.Duration(min)*20*time.Millisecond + 5*time.Second)
	for {
		var behind []string
		for i, p := range parties {
			if g := grown(i); g.video < min || g.audio < min {
				behind = append(behind, fmt.Sprintf("%s got %d video and %d audio", p.name, g.video, g.audio))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want >= %d packets of each kind: %s", min, strings.Join(behind, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifyNoLeaks checks, once everything the test started has stopped,
// that no goroutine outlives it. As a cleanup registered first it runs
// last: after the parties closed, the media stopped and the server shut
// down, even when the test fails half-way.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// byRole tells which of two connected parties makes the offers: the one
// with the smaller participant id (protocol.Polite).
func byRole(a, b *party) (offerer, answerer *party) {
	if protocol.Polite(a.Self(), b.Self()) {
		return b, a
	}
	return a, b
}

// remoteUfrag is the ICE username fragment the peer gave c last; it
// changes with every ICE restart.
func remoteUfrag(c *client.Call) string {
	d := c.PeerConnection().CurrentRemoteDescription()
	if d == nil {
		return ""
	}
	for line := range strings.Lines(d.SDP) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// stable tells whether p has no offer waiting for an answer.
func stable(p *party) bool {
	return p.PeerConnection().SignalingState() == webrtc.SignalingStateStable
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyShowing(t, what, nil, cond)
}

// eventuallyShowing is eventually, and on failure also prints what show
// returns then (counters read at the end, not when the wait began). The
// bound is generous: on a loaded 2-core machine four joins and their
// first keyframes can take well over 10 s, and a slow pass is no failure.
func eventuallyShowing(t *testing.T, what string, show func() string, cond func() bool) {
	t.Helper()
	const bound = 30 * time.Second
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			if show != nil {
				what += show()
			}
			t.Fatalf("not within %v: %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
