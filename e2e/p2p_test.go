package e2e_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// A consultation as its two users have it: both join by link, connect over
// 127.0.0.1, send each other video and audio for over two seconds, and
// chat both ways. A third person with a valid link to the same room is
// turned away as room_full while the call goes on undisturbed.
func TestConsultationMediaChatAndRoomFull(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest", "guest")
	hostMedia, guestMedia := newSynthetic(t, "host"), newSynthetic(t, "guest")

	host := dialParty(t, s, "host", room.Participants[0].Token, hostMedia.tracks()...)
	guest := dialParty(t, s, "guest", room.Participants[1].Token, guestMedia.tracks()...)
	host.waitConnected(t)
	guest.waitConnected(t)

	// 2.5 s at 50 frames/s: well over 100 packets of each kind each way.
	host.keepsReceiving(t, 2500*time.Millisecond, 100)
	guest.keepsReceiving(t, 2500*time.Millisecond, 100)

	host.chatsWith(t, guest, []byte("Guten Tag, wie geht es Ihnen? 🩺"))
	guest.chatsWith(t, host, []byte{0, 1, 2, 0xff, 'o', 'k'})

	_, err := tryDialParty(s, "third", room.Participants[2].Token)
	if !client.IsCode(err, "room_full") {
		t.Fatalf("third participant: err %v, want room_full", err)
	}
	host.keepsReceiving(t, time.Second, 30)
	guest.keepsReceiving(t, time.Second, 30)
	guest.chatsWith(t, host, []byte("still here"))

	hostMedia.close()
	guestMedia.close()
	host.Close()
	guest.Close()
	s.Stop(t)
}

// A guest whose connection drops reconnects with the same link: its old
// signaling session is replaced, ICE restarts over the new one, and media
// flows again on the same PeerConnection.
func TestReconnectRestartsICE(t *testing.T) {
	c := startConsultation(t)
	host, guest := c.host, c.guest
	host.waitConnected(t)
	guest.waitConnected(t)
	pc := guest.PeerConnection()

	ctx := t.Context()
	if err := guest.Reconnect(ctx); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	// The host saw the guest's first arrival, then its return.
	if e := host.waitEvent(t, client.EventPeerJoined); e.Peer.Reconnect {
		t.Errorf("first arrival %+v marked as reconnect", e.Peer)
	}
	if e := host.waitEvent(t, client.EventPeerJoined); !e.Peer.Reconnect {
		t.Errorf("host saw %+v, want a reconnect", e.Peer)
	}
	guest.waitConnected(t)
	if guest.PeerConnection() != pc {
		t.Error("reconnect built a new PeerConnection instead of restarting ICE")
	}
	host.keepsReceiving(t, time.Second, 30)
	guest.keepsReceiving(t, time.Second, 30)
	host.chatsWith(t, guest, []byte("wieder da"))
}

// Refusals reach the SDK as the codes the API documents.
func TestDialRefusals(t *testing.T) {
	s := testutil.StartServer(t)
	start := s.Clock.Now().Add(time.Hour)
	var later protocol.Room
	s.Do(t, "POST", "/api/v1/rooms", s.TenantKey, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host"}},
	}, &later)
	if _, err := tryDialParty(s, "early", later.Participants[0].Token); !client.IsCode(err, "room_not_open") {
		t.Errorf("early: %v", err)
	}
	if _, err := tryDialParty(s, "stranger", "AAAAAAAAAAAAAAAAAAAAAA"); !client.IsCode(err, "not_found") {
		t.Errorf("unknown link: %v", err)
	}
	conf := s.CreateRoom(t, 5, "host")
	if _, err := tryDialParty(s, "conference", conf.Participants[0].Token); err == nil {
		t.Error("a P2P call dialled into an SFU room")
	}
}
