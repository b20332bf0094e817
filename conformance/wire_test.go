package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// docPeer is the peer-to-peer side of a call written from PROTOCOL.md and
// SECURITY.md: JSON as the docs show it, no protocol package, no SDK.
type docPeer struct {
	t    *testing.T
	s    spec
	keys docKeys
	ws   *websocket.Conn
	wmu  sync.Mutex
	self string
	pc   *webrtc.PeerConnection
	chat *webrtc.DataChannel

	mu           sync.Mutex
	peerFP       string // fingerprint of the peer's latest SDP
	fpVerified   bool
	peerName     string
	chatReceived []string
}

func (d *docPeer) send(m map[string]any) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if err := d.ws.WriteJSON(m); err != nil {
		d.t.Errorf("send %v: %v", m["type"], err)
	}
}

// join follows PROTOCOL.md, "Connecting": /join, the WebSocket, hello,
// welcome.
func (d *docPeer) join(base, token string) (peers []string) {
	t := d.t
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := http.Post(base+d.s.joinPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var joined map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&joined); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("join: HTTP %d, %v", resp.StatusCode, err)
	}
	wsURL, _ := joined["ws_url"].(string)
	if !strings.HasSuffix(wsURL, d.s.wsPath) {
		t.Fatalf("ws_url %q does not end in %s as PROTOCOL.md says", wsURL, d.s.wsPath)
	}
	d.ws, _, err = websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.send(map[string]any{"type": "hello", "v": d.s.helloVersion, "token": joined["session_token"]})
	var welcome struct {
		Type string `json:"type"`
		Self struct {
			ID string `json:"id"`
		} `json:"self"`
		Peers []struct {
			ID string `json:"id"`
		} `json:"peers"`
	}
	if err := d.ws.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" {
		t.Fatalf("after hello: %+v, %v", welcome, err)
	}
	d.self = welcome.Self.ID
	for _, p := range welcome.Peers {
		peers = append(peers, p.ID)
	}
	return peers
}

// newPC makes a PeerConnection on 127.0.0.1 with the chat channel
// PROTOCOL.md describes.
func (d *docPeer) newPC(peer string) {
	var se webrtc.SettingEngine
	lo := net.IPv4(127, 0, 0, 1)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(lo) })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		d.t.Fatal(err)
	}
	yes, id := true, uint16(d.s.chatID)
	d.chat, err = pc.CreateDataChannel(d.s.chatLabel, &webrtc.DataChannelInit{Negotiated: &yes, ID: &id, Ordered: &yes})
	if err != nil {
		d.t.Fatal(err)
	}
	d.chat.OnMessage(func(m webrtc.DataChannelMessage) {
		text, err := d.s.open(d.t, d.keys.chat, d.s.sealLabels["chat"], peer, m.Data)
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			d.chatReceived = append(d.chatReceived, "(does not open)")
			return
		}
		d.chatReceived = append(d.chatReceived, string(text))
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // the end-of-candidates marker is optional (PROTOCOL.md)
		}
		j := c.ToJSON()
		d.send(map[string]any{"type": "candidate", "to": peer, "candidate": map[string]any{
			"candidate": j.Candidate, "sdpMid": j.SDPMid, "sdpMLineIndex": j.SDPMLineIndex}})
	})
	d.pc = pc
}

var fpLine = regexp.MustCompile(`(?mi)^a=fingerprint:(sha-256) ([0-9A-F:]+)\r?$`)

// fingerprint is SECURITY.md's fingerprint of an SDP.
func (d *docPeer) fingerprint(sdp string) string {
	m := fpLine.FindStringSubmatch(sdp)
	if m == nil {
		d.t.Fatalf("no sha-256 fingerprint in SDP")
	}
	return d.s.fpPrefix + strings.ToUpper(m[2])
}

// afterDescription sends, as SECURITY.md's fingerprint check says, the
// MAC of our own SDP's fingerprint and our sealed name.
func (d *docPeer) afterDescription(peer, sdp, name string) {
	d.send(map[string]any{"type": "meta", "to": peer, "data": d.s.encodeMeta("fp", d.s.fingerprintMAC(d.keys.fingerprint, d.fingerprint(sdp)))})
	sealed := d.s.seal(d.t, d.keys.names, d.s.sealLabels["display"], d.self, []byte(name))
	d.send(map[string]any{"type": "meta", "to": peer, "data": d.s.encodeMeta("name", sealed)})
}

// run reads signaling until ctx ends, answering, adding candidates and
// checking the peer's MAC and name.
func (d *docPeer) run(ctx context.Context, peer, name string) {
	go func() { <-ctx.Done(); d.ws.Close() }()
	for {
		var m struct {
			Type      string                   `json:"type"`
			From      string                   `json:"from"`
			SDP       string                   `json:"sdp"`
			Data      string                   `json:"data"`
			Candidate *webrtc.ICECandidateInit `json:"candidate"`
		}
		if err := d.ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "offer", "answer":
			d.mu.Lock()
			d.peerFP = d.fingerprint(m.SDP)
			d.mu.Unlock()
			typ := webrtc.SDPTypeOffer
			if m.Type == "answer" {
				typ = webrtc.SDPTypeAnswer
			}
			if err := d.pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: m.SDP}); err != nil {
				d.t.Errorf("apply %s: %v", m.Type, err)
				return
			}
			if typ == webrtc.SDPTypeOffer {
				ans, err := d.pc.CreateAnswer(nil)
				if err == nil {
					err = d.pc.SetLocalDescription(ans)
				}
				if err != nil {
					d.t.Errorf("answer: %v", err)
					return
				}
				d.send(map[string]any{"type": "answer", "to": peer, "sdp": ans.SDP})
				d.afterDescription(peer, ans.SDP, name)
			}
		case "candidate":
			if m.Candidate != nil && m.Candidate.Candidate != "" {
				if err := d.pc.AddICECandidate(*m.Candidate); err != nil {
					d.t.Errorf("add candidate: %v", err)
				}
			}
		case "meta":
			kind, v, err := d.s.decodeMeta(m.Data)
			if err != nil {
				d.t.Errorf("meta from the SDK is not SECURITY.md's payload: %v", err)
				continue
			}
			d.mu.Lock()
			switch kind {
			case "fp":
				d.fpVerified = d.peerFP != "" && bytes.Equal(v, d.s.fingerprintMAC(d.keys.fingerprint, d.peerFP))
			case "name":
				if n, err := d.s.open(d.t, d.keys.names, d.s.sealLabels["display"], m.From, v); err == nil {
					d.peerName = string(n)
				}
			}
			d.mu.Unlock()
		}
	}
}

// TestDocClientCallsSDK: a peer-to-peer call between the doc client and
// the Go SDK. The SDK's WaitConnected returns only when the doc client's
// fingerprint MAC matched; names and chat cross both ways sealed.
func TestDocClientCallsSDK(t *testing.T) {
	s := readSpec(t)
	srv := testutil.StartServer(t)
	room := srv.CreateRoom(t, 2, "host", "guest")
	secret := make([]byte, 32)
	copy(secret, "conformance-room-secret-32-bytes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var sdkChat []string
	var chatMu sync.Mutex
	sdk, err := client.Dial(ctx, srv.URL, protocol.JoinRequest{Token: room.Participants[0].Token}, client.Options{
		LoopbackOnly: true, RoomSecret: secret, Name: "Dr. Anna Berg",
		OnChat: func(b []byte) { chatMu.Lock(); sdkChat = append(sdkChat, string(b)); chatMu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()

	d := &docPeer{t: t, s: s, keys: s.deriveKeys(t, secret)}
	peers := d.join(srv.URL, room.Participants[1].Token)
	if len(peers) != 1 || peers[0] != sdk.Self() {
		t.Fatalf("welcome.peers = %v, want the SDK's %s", peers, sdk.Self())
	}
	peer := peers[0]
	d.newPC(peer)
	defer d.pc.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.run(runCtx, peer, "Max Muster") }()
	defer func() { stop(); <-done }()
	// PROTOCOL.md, "Who offers": the smaller id.
	if d.self < peer {
		offer, err := d.pc.CreateOffer(nil)
		if err == nil {
			err = d.pc.SetLocalDescription(offer)
		}
		if err != nil {
			t.Fatal(err)
		}
		d.send(map[string]any{"type": "offer", "to": peer, "sdp": offer.SDP})
		d.afterDescription(peer, offer.SDP, "Max Muster")
	}

	if err := sdk.WaitConnected(ctx); err != nil {
		t.Fatalf("the SDK did not accept the doc client (fingerprint MAC, SDP or ICE): %v", err)
	}
	waitFor(t, ctx, "the SDK's MAC and name at the doc client", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.fpVerified && d.peerName == "Dr. Anna Berg"
	})
	waitFor(t, ctx, "the doc client's name at the SDK", func() bool {
		for {
			select {
			case e := <-sdk.Events():
				if e.Type == client.EventPeerName && e.Data == "Max Muster" {
					return true
				}
			default:
				return false
			}
		}
	})

	waitFor(t, ctx, "the chat channel", func() bool { return d.chat.ReadyState() == webrtc.DataChannelStateOpen })
	if err := d.chat.Send(s.seal(t, d.keys.chat, s.sealLabels["chat"], d.self, []byte("Hallo, ich bin da."))); err != nil {
		t.Fatal(err)
	}
	if err := sdk.SendChat([]byte("Willkommen!")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "chat both ways", func() bool {
		chatMu.Lock()
		defer chatMu.Unlock()
		d.mu.Lock()
		defer d.mu.Unlock()
		return fmt.Sprint(sdkChat) == "[Hallo, ich bin da.]" && fmt.Sprint(d.chatReceived) == "[Willkommen!]"
	})
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
