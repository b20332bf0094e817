package turn_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/turn"
)

// Two participants connect to one "SFU" peer whose ICE runs only on the
// two media ports: over the UDP mux, and over ICE-TCP when the client
// has no UDP at all. Every selected pair ends on the configured port.
func TestMediaPortsUDPMuxAndICETCP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	mux, err := turn.ListenMedia(turn.MediaConfig{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	se, err := mux.SettingEngine()
	if err != nil {
		t.Fatal(err)
	}
	sfu := webrtc.NewAPI(webrtc.WithSettingEngine(se))

	for _, tc := range []struct {
		name    string
		network webrtc.NetworkType
		proto   webrtc.ICEProtocol
		port    int
	}{
		{"udp mux, first participant", webrtc.NetworkTypeUDP4, webrtc.ICEProtocolUDP, mux.UDPAddr().(*net.UDPAddr).Port},
		{"udp mux, second participant", webrtc.NetworkTypeUDP4, webrtc.ICEProtocolUDP, mux.UDPAddr().(*net.UDPAddr).Port},
		{"ice-tcp", webrtc.NetworkTypeTCP4, webrtc.ICEProtocolTCP, mux.TCPAddr().(*net.TCPAddr).Port},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cse webrtc.SettingEngine
			cse.SetNetworkTypes([]webrtc.NetworkType{tc.network})
			cse.SetIncludeLoopbackCandidate(true)
			cse.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
			cse.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
			pair := connectPeers(t, sfu, webrtc.NewAPI(webrtc.WithSettingEngine(cse)))
			if int(pair.Local.Port) != tc.port || pair.Local.Protocol != tc.proto {
				t.Errorf("SFU side of the selected pair %s:%d/%s, want %s port %d", pair.Local.Address, pair.Local.Port, pair.Local.Protocol, tc.proto, tc.port)
			}
		})
	}
}

// connectPeers connects a (the SFU) and b over a data channel, checks a
// message arrives, and returns a's selected candidate pair.
func connectPeers(t *testing.T, a, b *webrtc.API) *webrtc.ICECandidatePair {
	t.Helper()
	pa, err := a.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := b.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	got := make(chan string, 1)
	pa.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
	})
	dc, err := pb.CreateDataChannel("media", nil)
	if err != nil {
		t.Fatal(err)
	}
	dc.OnOpen(func() { dc.SendText("frame") })

	offer, err := pb.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gatherB := webrtc.GatheringCompletePromise(pb)
	pb.SetLocalDescription(offer)
	<-gatherB
	if err := pa.SetRemoteDescription(*pb.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := pa.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gatherA := webrtc.GatheringCompletePromise(pa)
	pa.SetLocalDescription(answer)
	<-gatherA
	if err := pb.SetRemoteDescription(*pa.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case m := <-got:
		if m != "frame" {
			t.Fatalf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatalf("no message; SFU state %s, participant state %s", pa.ConnectionState(), pb.ConnectionState())
	}
	p, err := pa.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || p == nil {
		t.Fatalf("selected pair: %v", err)
	}
	return p
}
