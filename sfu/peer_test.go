package sfu

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/protocol"
)

// testPeer is a minimal conference client for the SFU's own tests and
// benchmarks: a pion PeerConnection on loopback that answers the SFU's
// offers, trickles candidates, publishes its tracks on the sections the
// SFU offers for them and counts what it receives per publisher. The Go
// SDK (client.Conference) does the same over real signaling; here the
// messages go straight to the SFU, or through a pipe to another process.
type testPeer struct {
	name   string
	pc     *webrtc.PeerConnection
	toSFU  func(protocol.Message) // set before the first message arrives
	inbox  chan protocol.Message
	done   chan struct{}
	wg     sync.WaitGroup
	logf   func(format string, args ...any)
	plis   atomic.Int64 // keyframe requests received for our tracks
	stopRd atomic.Bool  // stop reading received tracks (a stalled subscriber)

	// chat is the client's end of its chat channel; chats what arrived
	// on it (under mu).
	chat  *webrtc.DataChannel
	chats [][]byte

	mu      sync.Mutex
	counts  map[string]*atomic.Int64 // "<publisher>/<kind>" -> packets
	ended   map[string]int           // "<publisher>/<kind>" -> tracks that ended
	pending []webrtc.ICECandidateInit
}

func newTestPeer(tb testing.TB, name string, tracks ...webrtc.TrackLocal) *testPeer {
	tb.Helper()
	return newTestPeerWith(tb, name, nil, tracks...)
}

// newTestPeerWith is newTestPeer with an interceptor in front of pion's
// default ones: nearest the network, so they see what it lets through.
func newTestPeerWith(tb testing.TB, name string, first interceptor.Factory, tracks ...webrtc.TrackLocal) *testPeer {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if first != nil {
		ir.Add(first)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		tb.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(LoopbackSettingEngine()))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &testPeer{
		name: name, pc: pc,
		inbox:  make(chan protocol.Message, 1024),
		done:   make(chan struct{}),
		logf:   tb.Logf,
		counts: map[string]*atomic.Int64{},
		ended:  map[string]int{},
	}
	for _, t := range tracks {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			tb.Fatal(err)
		}
		p.wg.Add(1)
		go p.readRTCP(tr.Sender())
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		pc := toProtocolCandidate(c.ToJSON())
		p.toSFU(protocol.Message{Type: protocol.TypeCandidate, Candidate: &pc})
	})
	pc.OnTrack(p.onTrack)
	yes, id := true, uint16(0)
	dc, err := pc.CreateDataChannel("chat", &webrtc.DataChannelInit{Negotiated: &yes, ID: &id, Ordered: &yes})
	if err != nil {
		tb.Fatal(err)
	}
	p.chat = dc
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		p.mu.Lock()
		p.chats = append(p.chats, msg.Data)
		p.mu.Unlock()
	})
	return p
}

// offerFirst makes the client's first offer (docs/PROTOCOL.md): our
// tracks and the chat channel. The SFU's answer comes to handle.
func (p *testPeer) offerFirst(tb testing.TB) {
	tb.Helper()
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	p.toSFU(protocol.Message{Type: protocol.TypeOffer, SDP: p.pc.LocalDescription().SDP})
}

// run handles the SFU's messages until close.
func (p *testPeer) run() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case m := <-p.inbox:
				p.handle(m)
			}
		}
	}()
}

// deliver is the send func the SFU gets for this peer.
func (p *testPeer) deliver(m protocol.Message) {
	select {
	case p.inbox <- m:
	default:
		p.logf("%s: inbox full, dropped %s", p.name, m.Type)
	}
}

func (p *testPeer) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypeAnswer:
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			p.logf("%s: set answer: %v", p.name, err)
			return
		}
		for _, c := range p.pending {
			_ = p.pc.AddICECandidate(c)
		}
		p.pending = nil
	case protocol.TypeOffer:
		err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
		if err != nil {
			p.logf("%s: set offer: %v", p.name, err)
			return
		}
		for _, c := range p.pending {
			_ = p.pc.AddICECandidate(c)
		}
		p.pending = nil
		answer, err := p.pc.CreateAnswer(nil)
		if err == nil {
			err = p.pc.SetLocalDescription(answer)
		}
		if err != nil {
			p.logf("%s: answer: %v", p.name, err)
			return
		}
		p.toSFU(protocol.Message{Type: protocol.TypeAnswer, SDP: p.pc.LocalDescription().SDP})
	case protocol.TypeCandidate:
		c := fromProtocolCandidate(*m.Candidate)
		if p.pc.RemoteDescription() == nil {
			p.pending = append(p.pending, c)
			return
		}
		_ = p.pc.AddICECandidate(c)
	}
}

func (p *testPeer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	key := tr.StreamID() + "/" + tr.Kind().String()
	p.mu.Lock()
	n := p.counts[key]
	if n == nil {
		n = new(atomic.Int64)
		p.counts[key] = n
	}
	p.mu.Unlock()
	buf := make([]byte, 1500)
	for {
		if p.stopRd.Load() {
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		if _, _, err := tr.Read(buf); err != nil {
			break
		}
		n.Add(1)
	}
	p.mu.Lock()
	p.ended[key]++
	p.mu.Unlock()
}

func (p *testPeer) readRTCP(s *webrtc.RTPSender) {
	defer p.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				p.plis.Add(1)
			}
		}
	}
}

// count returns the packets received from publisher of kind.
func (p *testPeer) count(publisher string, kind webrtc.RTPCodecType) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.counts[publisher+"/"+kind.String()]; n != nil {
		return n.Load()
	}
	return 0
}

// received returns the chat messages that arrived, as the SFU framed
// them.
func (p *testPeer) received() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.chats)
}

func (p *testPeer) endedTracks(publisher string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended[publisher+"/audio"] + p.ended[publisher+"/video"]
}

func (p *testPeer) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	_ = p.pc.GracefulClose()
	p.wg.Wait()
}

// source sends VP8- and Opus-shaped samples every 20 ms until stopped: a
// 1,200-byte video frame and a 60-byte audio frame. Nothing decodes them.
type source struct {
	video, audio *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	wg           sync.WaitGroup
}

func newSource(tb testing.TB, name string) *source {
	tb.Helper()
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", name)
	if err != nil {
		tb.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", name)
	if err != nil {
		tb.Fatal(err)
	}
	s := &source{video: video, audio: audio, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		frame := make([]byte, 1200)
		frame[0] = 0x10 // VP8 payload descriptor: start of partition
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				_ = video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
				_ = audio.WriteSample(media.Sample{Data: frame[:60], Duration: 20 * time.Millisecond})
			}
		}
	}()
	tb.Cleanup(s.close)
	return s
}

func (s *source) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		s.wg.Wait()
	}
}

func (s *source) tracks() []webrtc.TrackLocal { return []webrtc.TrackLocal{s.video, s.audio} }

// joinPeer joins a test peer to a room of s, wired directly.
func joinPeer(tb testing.TB, s *SFU, room, id string, tracks ...webrtc.TrackLocal) (*testPeer, *Participant) {
	tb.Helper()
	return joinPeerWith(tb, s, room, id, nil, tracks...)
}

// joinPeerWith is joinPeer with an interceptor nearest the network.
func joinPeerWith(tb testing.TB, s *SFU, room, id string, first interceptor.Factory, tracks ...webrtc.TrackLocal) (*testPeer, *Participant) {
	tb.Helper()
	peer := newTestPeerWith(tb, id, first, tracks...)
	part, err := s.Join(room, id, peer.deliver)
	if err != nil {
		tb.Fatal(err)
	}
	peer.toSFU = part.Signal
	peer.run()
	tb.Cleanup(peer.close)
	peer.offerFirst(tb)
	return peer, part
}

// waitFor polls cond until it holds or d has passed.
func waitFor(tb testing.TB, d time.Duration, what func() string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describeCounts(peers []*testPeer) string {
	s := ""
	for _, p := range peers {
		p.mu.Lock()
		s += fmt.Sprintf("\n  %s:", p.name)
		for k, n := range p.counts {
			s += fmt.Sprintf(" %s=%d", k, n.Load())
		}
		p.mu.Unlock()
	}
	return s
}
