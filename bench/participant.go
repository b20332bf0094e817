package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// role is what a participant sends.
type role int

const (
	roleVideo      role = iota // camera (and microphone with PublisherAudio)
	roleAudio                  // microphone only
	roleSubscriber             // nothing
)

// joinTimes are the moments of one participant's join, since the run's
// epoch; zero when not reached.
type joinTimes struct {
	start, api, ws, ice, connected, firstFrame time.Duration
}

// participant is one SDK client of the run. mu guards times, streams
// and conn, which pion's goroutines and the report both touch.
type participant struct {
	room  int
	index int
	role  role
	token string

	src *source

	mu      sync.Mutex
	id      string
	times   joinTimes
	streams []*streamStats
	conn    io.Closer
	err     error
}

func (p *participant) mark(at *time.Duration, now time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *at == 0 {
		*at = now
	}
}

func (p *participant) addStream(s *streamStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams = append(p.streams, s)
}

func (p *participant) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// apiTimer notes when the join answer arrived: the SDK makes the REST
// join and the WebSocket dial in one call, and this is the seam between.
type apiTimer struct {
	base http.RoundTripper
	done func()
}

func (t apiTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		t.done()
	}
	return resp, err
}

// newSource builds p's synthetic tracks, wrapped with SFrame when sealed.
func (r *run) newSource(p *participant, sealed bool) (*source, []webrtc.TrackLocal, error) {
	if p.role == roleSubscriber {
		return nil, nil, nil
	}
	id := fmt.Sprintf("bench-%d-%d", p.room, p.index)
	src := &source{
		frameTime: time.Second / time.Duration(r.cfg.FrameRate),
		now:       r.now, measuring: &r.measuring, txBytes: &r.txBytes,
		ashape: newOpusShape(r.cfg.AudioBitrate),
		vshape: newVideoShape(r.cfg.VideoBitrate, r.cfg.FrameRate, r.cfg.KeyframeInterval, uint64(p.room)<<16|uint64(p.index)),
	}
	var tracks []webrtc.TrackLocal
	add := func(mime, kind string) (sampleWriter, error) {
		t, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, kind, id)
		if err != nil {
			return nil, err
		}
		if !sealed {
			tracks = append(tracks, t)
			return t, nil
		}
		st, err := client.NewSFrameTrack(t)
		if err != nil {
			return nil, err
		}
		tracks = append(tracks, st)
		return st, nil
	}
	var err error
	if p.role == roleVideo {
		if src.video, err = add(webrtc.MimeTypeVP8, "video"); err != nil {
			return nil, nil, err
		}
	}
	if p.role == roleAudio || (p.role == roleVideo && (r.cfg.PublisherAudio || r.cfg.Scenario == P2P)) {
		if src.audio, err = add(webrtc.MimeTypeOpus, "audio"); err != nil {
			return nil, nil, err
		}
	}
	return src, tracks, nil
}

// receive starts counting a remote track of publisher at p; it runs on
// the goroutine the SDK gives OnTrack and returns when the track ends.
func (r *run) receive(p *participant, track *webrtc.TrackRemote, publisher string, open opener) {
	codec, err := e2ee.ParseCodec(track.Codec().MimeType)
	if err != nil {
		return
	}
	st := newStreamStats(track.Kind().String(), publisher)
	p.addStream(st)
	rc := &receiver{
		codec: codec, open: open, stats: st, now: r.now, measuring: &r.measuring,
		rxPackets: &r.rxPackets, rxBytes: &r.rxBytes,
		onFrame: func(now time.Duration) { p.mark(&p.times.firstFrame, now) },
	}
	rc.run(track)
}

// watchICE records when ICE connects. The SDK uses the connection state
// callback; the ICE one is free.
func (r *run) watchICE(p *participant, pc *webrtc.PeerConnection) {
	connected := func(s webrtc.ICEConnectionState) bool {
		return s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted
	}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if connected(s) {
			p.mark(&p.times.ice, r.now())
		}
	})
	if connected(pc.ICEConnectionState()) {
		p.mark(&p.times.ice, r.now())
	}
}

func (r *run) httpClient(p *participant) *http.Client {
	return &http.Client{
		Transport: apiTimer{base: r.transport, done: func() { p.mark(&p.times.api, r.now()) }},
		Timeout:   r.cfg.JoinTimeout,
	}
}

// joinConference joins p to its SFU room and waits until media flows.
func (r *run) joinConference(ctx context.Context, p *participant, secret []byte, keys *roomKeys) error {
	src, tracks, err := r.newSource(p, secret != nil)
	if err != nil {
		return err
	}
	var open opener
	if keys != nil {
		open = keys.open
	}
	opts := client.ConferenceOptions{
		HTTPClient: r.httpClient(p), Tracks: tracks, LoopbackOnly: r.cfg.LoopbackOnly,
		Logger: r.log, RoomSecret: secret,
		OnTrack: func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver, publisher string) {
			r.receive(p, t, publisher, open)
		},
	}
	p.mark(&p.times.start, r.now())
	c, err := client.DialConference(ctx, r.cfg.URL, protocol.JoinRequest{Token: p.token}, opts)
	if err != nil {
		return err
	}
	p.mark(&p.times.ws, r.now())
	p.mu.Lock()
	p.id, p.conn = c.Self(), c
	p.mu.Unlock()
	r.watchICE(p, c.PeerConnection())
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	p.mark(&p.times.connected, r.now())
	r.startSource(p, src)
	return nil
}

// joinCall joins p to its peer-to-peer consultation and waits until the
// call is up (with E2EE: the fingerprints verified).
func (r *run) joinCall(ctx context.Context, p *participant, secret []byte) error {
	src, tracks, err := r.newSource(p, false)
	if err != nil {
		return err
	}
	var call atomic.Pointer[client.Call]
	opts := client.Options{
		HTTPClient: r.httpClient(p), Tracks: tracks, LoopbackOnly: r.cfg.LoopbackOnly,
		RelayOnly: r.cfg.Relay, Logger: r.log, RoomSecret: secret,
		OnTrack: func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			peer := "peer"
			if c := call.Load(); c != nil {
				peer = c.Peer()
			}
			r.receive(p, t, peer, nil)
		},
	}
	p.mark(&p.times.start, r.now())
	c, err := client.Dial(ctx, r.cfg.URL, protocol.JoinRequest{Token: p.token}, opts)
	if err != nil {
		return err
	}
	call.Store(c)
	p.mark(&p.times.ws, r.now())
	p.mu.Lock()
	p.id, p.conn = c.Self(), c
	p.mu.Unlock()
	r.watchICE(p, c.PeerConnection())
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	p.mark(&p.times.connected, r.now())
	r.startSource(p, src)
	return nil
}

func (r *run) startSource(p *participant, src *source) {
	if src == nil {
		return
	}
	p.mu.Lock()
	p.src = src
	p.mu.Unlock()
	r.sources.Add(1)
	go func() {
		defer r.sources.Done()
		src.run(r.stopMedia)
	}()
}
