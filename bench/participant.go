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

	// views: the video publishers p has been sent, which it tells the
	// SFU it shows at the configured tile size; viewMu orders the view
	// messages. conf is set once the join returned.
	viewMu sync.Mutex
	views  []protocol.View
	conf   atomic.Pointer[client.Conference]

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

// published is what a participant sends: tracks, and the video layers
// when it publishes simulcast.
type published struct {
	tracks, layers []webrtc.TrackLocal
}

// newSource builds p's synthetic tracks, wrapped with SFrame when sealed:
// with simulcast (conferences and webinars) three video layers, else one.
func (r *run) newSource(p *participant, sealed bool) (*source, published, error) {
	var out published
	if p.role == roleSubscriber {
		return nil, out, nil
	}
	id := fmt.Sprintf("bench-%d-%d", p.room, p.index)
	src := &source{
		frameTime: time.Second / time.Duration(r.cfg.FrameRate),
		now:       r.now, measuring: &r.measuring, txBytes: &r.txBytes,
		ashape: newOpusShape(r.cfg.AudioBitrate),
	}
	add := func(mime, kind, rid string) (webrtc.TrackLocal, sampleWriter, error) {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		t, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, kind, id, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("%s track: %w", kind, err)
		}
		if !sealed {
			return t, t, nil
		}
		st, err := client.NewSFrameTrack(t)
		if err != nil {
			return nil, nil, fmt.Errorf("%s track: %w", kind, err)
		}
		return st, st, nil
	}
	if p.role == roleVideo {
		if err := r.addVideo(p, src, &out, add); err != nil {
			return nil, out, err
		}
	}
	if p.role == roleAudio || (p.role == roleVideo && (r.cfg.PublisherAudio || r.cfg.Scenario == P2P)) {
		t, w, err := add(webrtc.MimeTypeOpus, "audio", "")
		if err != nil {
			return nil, out, err
		}
		src.audio = w
		out.tracks = append(out.tracks, t)
	}
	return src, out, nil
}

// trackMaker makes one local track of the participant, sealed or not;
// rid names its simulcast layer ("" for none).
type trackMaker func(mime, kind, rid string) (webrtc.TrackLocal, sampleWriter, error)

// addVideo adds p's camera to src and out: one layer of VideoBitrate, or
// with simulcast (not in P2P calls) the three layers of simulcastLayers.
func (r *run) addVideo(p *participant, src *source, out *published, add trackMaker) error {
	seed := uint64(p.room)<<16 | uint64(p.index)<<4
	if !r.cfg.Simulcast || r.cfg.Scenario == P2P {
		t, w, err := add(webrtc.MimeTypeVP8, "video", "")
		if err != nil {
			return err
		}
		src.layers = []*videoLayer{{w: w, shape: newVideoShape(r.cfg.VideoBitrate, r.cfg.FrameRate, r.cfg.KeyframeInterval, seed)}}
		out.tracks = append(out.tracks, t)
		return nil
	}
	specs := simulcastLayers()
	for i, l := range specs {
		t, w, err := add(webrtc.MimeTypeVP8, "video", l.rid)
		if err != nil {
			return err
		}
		shape := newLayerShape(layerBitrate(r.cfg.VideoBitrate, i, len(specs)), r.cfg.FrameRate, r.cfg.KeyframeInterval,
			frameWidth/l.scale, frameHeight/l.scale, seed|uint64(i))
		src.layers = append(src.layers, &videoLayer{rid: l.rid, index: uint8(i), w: w, shape: shape})
		out.layers = append(out.layers, t)
	}
	return nil
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
	if track.Kind() == webrtc.RTPCodecTypeVideo && r.cfg.Scenario != P2P {
		r.showVideo(p, publisher)
	}
	rc := &receiver{
		codec: codec, open: open, stats: st, now: r.now, measuring: &r.measuring,
		rxPackets: &r.rxPackets, rxBytes: &r.rxBytes,
		onFrame: func(now time.Duration) { p.mark(&p.times.firstFrame, now) },
	}
	rc.run(track)
}

// showVideo tells the SFU that p shows publisher's video at the
// configured tile size, with every video publisher p was sent before: a
// view message replaces the last. Before the join returned the views
// are only noted; sendViews sends them then.
func (r *run) showVideo(p *participant, publisher string) {
	p.viewMu.Lock()
	defer p.viewMu.Unlock()
	for _, v := range p.views {
		if v.Peer == publisher {
			return
		}
	}
	if len(p.views) >= maxRoomSize {
		return
	}
	p.views = append(p.views, protocol.View{Peer: publisher, Width: r.cfg.ViewWidth, Height: r.cfg.ViewHeight})
	r.sendViewsLocked(p)
}

func (r *run) sendViews(p *participant) {
	p.viewMu.Lock()
	defer p.viewMu.Unlock()
	r.sendViewsLocked(p)
}

// sendViewsLocked sends p's views; p.viewMu is held.
func (r *run) sendViewsLocked(p *participant) {
	c := p.conf.Load()
	if c == nil || len(p.views) == 0 {
		return
	}
	if err := c.SetViews(p.views); err != nil {
		r.log.Warn("send views", "room", p.room, "index", p.index, "err", err)
	}
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
	src, pub, err := r.newSource(p, secret != nil)
	if err != nil {
		return err
	}
	var open opener
	if keys != nil {
		open = keys.open
	}
	opts := client.ConferenceOptions{
		HTTPClient: r.httpClient(p), Tracks: pub.tracks, VideoLayers: pub.layers,
		LoopbackOnly: r.cfg.LoopbackOnly, Logger: r.log, RoomSecret: secret,
		OnTrack: func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver, publisher string) {
			r.receive(p, t, publisher, open)
		},
	}
	if src != nil {
		// A real encoder answers the SFU's PLI within a frame; without
		// this a new subscriber waits for the next interval's keyframe.
		opts.OnKeyframeRequest = func(t webrtc.TrackLocal, rid string) { src.requestKeyframe(t.Kind().String(), rid) }
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
	p.conf.Store(c)
	r.sendViews(p)
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
	src, pub, err := r.newSource(p, false)
	if err != nil {
		return err
	}
	var call atomic.Pointer[client.Call]
	opts := client.Options{
		HTTPClient: r.httpClient(p), Tracks: pub.tracks, LoopbackOnly: r.cfg.LoopbackOnly,
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
