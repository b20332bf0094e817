package sfu

import (
	"context"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/protocol"
)

// Simulcast: a browser publishes its camera as up to three encodings of
// one track, told apart by RID (RFC 8851): "q" at a quarter of the size,
// "h" at half, "f" full. Each is a layer of the Track, read by its own
// goroutine with its own packet cache and keyframe throttle. Every
// subscriber's DownTrack follows one layer at a time, chosen by its
// LayerSelector, and switches only at a keyframe of the layer it moves
// to, so the subscriber's decoder sees one stream that never needs a
// frame it did not get.

// maxLayers is how many layers a track has at most: q, h, f.
const maxLayers = 3

// Layer indices, smallest first. A non-simulcast stream (no RID) is
// layer 0: the only one there is.
const (
	layerQ = 0
	layerH = 1
	layerF = 2
	// layerNone: a DownTrack that forwards no layer (not yet, or paused).
	layerNone = -1
)

// layerIndex maps a RID to a layer: "q", "h", "f" as the protocol names
// them. Another RID (a client with other names) takes the first free
// slot, in the order its layers appear; taken says which are in use.
func layerIndex(rid string, taken [maxLayers]bool) int {
	switch rid {
	case "", "q":
		return layerQ
	case "h":
		return layerH
	case "f":
		return layerF
	}
	for i, t := range taken {
		if !t {
			return i
		}
	}
	return -1
}

// layerNeed is the largest layer worth sending to a tile of the given
// width: q up to 320 CSS pixels, h up to 640, f beyond. A subscriber
// that said nothing about a peer gets up to f.
func layerNeed(width int) int {
	switch {
	case width <= 320:
		return layerQ
	case width <= 640:
		return layerH
	default:
		return layerF
	}
}

// layer is one RTP stream of a published track: the single stream of an
// audio or non-simulcast video track, or one simulcast encoding. Its
// reader (Track.forwardLayer) owns limit and meter's window; the rest is
// set once or safe for concurrent use.
type layer struct {
	track  *Track
	index  int8
	rid    string
	remote *webrtc.TrackRemote
	ssrc   uint32
	// cache answers subscribers' NACKs; nil for audio, which is not
	// retransmitted (a late Opus frame is as good as lost). upstream
	// collects what the cache lacked, for a NACK to the publisher.
	cache    *packetCache
	upstream upstreamNacks
	// limit drops what goes over the track's bitrate cap.
	limit bitrateLimit
	meter rateMeter
	// keyframe and nack wake the loop that sends PLIs and NACKs to the
	// publisher for this layer.
	keyframe chan struct{}
	nack     chan struct{}
}

func newLayer(t *Track, index int, rid string, remote *webrtc.TrackRemote, bitrate int) *layer {
	l := &layer{
		track: t, index: int8(index), rid: rid, remote: remote,
		limit:    newBitrateLimit(bitrate),
		keyframe: make(chan struct{}, 1),
		nack:     make(chan struct{}, 1),
	}
	if remote != nil {
		l.ssrc = uint32(remote.SSRC())
	}
	if t.kind == webrtc.RTPCodecTypeVideo {
		l.cache = &packetCache{}
	}
	return l
}

// RequestKeyframe asks the publisher for a keyframe of this layer, soon:
// requests are merged and paced by requestKeyframes. It never blocks.
func (l *layer) RequestKeyframe() {
	if l.track.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	select {
	case l.keyframe <- struct{}{}:
	default:
	}
}

// rateMeter measures a layer's incoming bitrate, which is what a
// subscriber's estimate must cover to receive the layer. The reader adds
// every packet; at the end of each window of rateWindow it folds the
// window's rate into an average, which anyone may read. Keyframes make
// single windows jumpy, so each new window counts 1/rateWeight (the
// first rateWeight alike). With a quarter per window, keyframes forced
// by subscribers' PLIs (up to two a second on a layer) raised the
// average by a third within two seconds, which moved every subscriber
// of that source down at once (debug log of a 4 × 20 room) and, through
// their PLIs at the next up-switch, started it over.
type rateMeter struct {
	// Owned by the reader. windows counts the windows folded in, up to
	// rateWeight: the first ones are averaged alike, so that the first
	// window of a layer, which starts with a keyframe, does not stand for
	// the layer's rate for long.
	bytes   int
	since   time.Time
	windows int
	// bps is the average; last the end of the newest window, in Unix
	// nanoseconds: a layer the publisher stopped sending goes stale.
	bps  atomic.Int64
	last atomic.Int64
}

const (
	rateWindow = 500 * time.Millisecond
	// rateWeight: each new window counts 1/rateWeight in the average
	// once the meter has seen that many.
	rateWeight = 8
	// rateStale: a layer without a packet for this long is gone (the
	// browser stopped sending it for its own bandwidth or CPU).
	rateStale = 2 * time.Second
)

func (m *rateMeter) add(n int, at time.Time) {
	if m.since.IsZero() {
		m.since = at
		m.last.Store(at.UnixNano())
	}
	m.bytes += n
	el := at.Sub(m.since)
	if el < rateWindow {
		return
	}
	rate := int64(float64(m.bytes*8) / el.Seconds())
	m.windows = min(m.windows+1, rateWeight)
	w := int64(m.windows)
	rate = ((w-1)*m.bps.Load() + rate) / w
	m.bps.Store(rate)
	m.last.Store(at.UnixNano())
	m.bytes, m.since = 0, at
}

// rate returns the layer's bitrate at now and whether it is live. A
// layer that just started is live with a bitrate not yet known (0).
func (m *rateMeter) rate(now time.Time) (int, bool) {
	last := m.last.Load()
	if last == 0 || now.UnixNano()-last > int64(rateStale+rateWindow) {
		return 0, false
	}
	return int(m.bps.Load()), true
}

// layerInput is what the selector knows of one video source a
// subscriber receives.
type layerInput struct {
	// rates are the layers' bitrates; live says which layers arrive.
	rates [maxLayers]int
	live  [maxLayers]bool
	// width and height are the subscriber's tile; viewed is false when
	// the subscriber never said (it gets up to f).
	width, height int
	viewed        bool
	// current is the layer forwarded now (layerNone: none).
	current int
	// squeeze is this source's hold: Choose updates it, the caller
	// keeps it for the next call (see LayerSelector).
	squeeze squeeze
}

// squeeze records that layer, the next layer up, did not fit the budget
// of one source at a moment: the source may not go up to it, or beyond,
// until it has fitted for hold. raised is when the source last went up,
// kept across squeezes: a squeeze soon after it (a relapse) doubles the
// hold.
type squeeze struct {
	at     time.Time
	layer  int
	hold   time.Duration
	raised time.Time
}

// LayerSelector picks, for one subscriber, the layer of every video
// source it receives from its bandwidth estimate and the size at which it
// shows each source. It is plain state owned by the subscriber's
// negotiation loop; time is passed in.
//
// GCC's estimate swings by a fifth and more around a steady link (it
// probes upwards by sending more, and every keyframe burst reads as
// delay growth), so three rules keep the layers from following every
// swing:
//
//   - A band: a source goes up only while the layers fit the up budget,
//     and comes down only when they no longer fit the larger keep budget.
//   - Down-switches take effect at once (at the next keyframe of the
//     lower layer); an up-switch to a layer that did not fit waits until
//     that layer has fitted for the source's hold, upHold at first. The
//     hold is per source and per layer, so a source squeezed at f may
//     still go up to h, and a source that fits is not held back because
//     another one does not.
//   - A relapse, a squeeze within relapseWithin of the source's last
//     up-switch, doubles its hold, up to maxUpHold: an up-switch that
//     did not last is tried again ever more rarely. A squeeze later
//     than that starts again at upHold.
type LayerSelector struct {
	upHold time.Duration
	order  []int
}

// Hold times: how long the estimate must cover a bigger layer before a
// subscriber gets it, at first and at most; and how soon after an
// up-switch a squeeze counts as a relapse.
const (
	defaultUpHold = 3 * time.Second
	maxUpHold     = 30 * time.Second
	relapseWithin = 10 * time.Second
)

// upShare and keepShare are the parts of the estimate video may use to
// go up and to stay: GCC's estimate is the rate at which the path starts
// to queue, so go up only well below it, and come down once above it.
const (
	upShare   = 0.85
	keepShare = 1.0
)

// Choose fills out with the layer for each source: layerNone for a
// source not shown (0×0) or with no live layer. up and keep are what
// video may use, in bits per second, to go up to a layer and to stay at
// one (the estimate's upShare and keepShare less audio). Every shown
// source gets at least its lowest layer, whatever the budget: a small
// picture is better than a frozen one, and the estimate starts low and
// rises only with traffic. Then the sources, biggest tile first, move up
// as far as their tiles need and the budgets allow: a layer at or below
// the current one must fit keep, a layer above it up.
func (s *LayerSelector) Choose(up, keep int, now time.Time, in []layerInput, out []int) {
	s.order = s.order[:0]
	for i := range in {
		s.order = append(s.order, i)
	}
	sort.SliceStable(s.order, func(a, b int) bool { return area(in[s.order[a]]) > area(in[s.order[b]]) })
	used := 0
	for _, i := range s.order {
		out[i] = layerNone
		src := &in[i]
		if src.viewed && (src.width == 0 || src.height == 0) {
			continue
		}
		if lo := lowestLive(src); lo != layerNone {
			out[i] = lo
			used += src.rates[lo]
		}
	}
	for _, i := range s.order {
		src := &in[i]
		if out[i] == layerNone {
			continue
		}
		top := topLayer(src)
		for l := out[i] + 1; l <= top; l++ {
			if !src.live[l] {
				continue
			}
			limit := up
			if src.current != layerNone && l <= src.current && src.live[src.current] {
				limit = keep
			}
			extra := src.rates[l] - src.rates[out[i]]
			if used+extra > limit {
				s.squeezed(src, l, now)
				break
			}
			used += extra
			out[i] = l
		}
	}
	for i := range in {
		src := &in[i]
		cur := src.current
		if cur == layerNone || out[i] <= cur || !src.live[cur] {
			continue
		}
		if s.holding(src.squeeze, now) {
			// Up, but not to the layer that did not fit, nor beyond it.
			out[i] = max(cur, min(out[i], src.squeeze.layer-1))
		}
		if out[i] > cur {
			src.squeeze.raised = now
		}
	}
}

// holding tells whether a squeeze still holds its source back.
func (s *LayerSelector) holding(sq squeeze, now time.Time) bool {
	return !sq.at.IsZero() && now.Sub(sq.at) < sq.hold
}

// squeezed records that layer did not fit src's budget at now. A hold
// on a lower layer still running is kept as it is: that layer has not
// fitted for its hold yet. A squeeze soon after the source went up
// doubles the hold.
func (s *LayerSelector) squeezed(src *layerInput, layer int, now time.Time) {
	sq := src.squeeze
	if s.holding(sq, now) && sq.layer <= layer {
		return
	}
	hold := s.upHold
	if !sq.raised.IsZero() && now.Sub(sq.raised) < relapseWithin {
		hold = min(2*max(sq.hold, s.upHold), maxUpHold)
	}
	src.squeeze = squeeze{at: now, layer: layer, hold: hold, raised: sq.raised}
}

func area(src layerInput) int {
	if !src.viewed {
		return 1 << 30 // unknown: as big as can be
	}
	return src.width * src.height
}

func lowestLive(src *layerInput) int {
	for l, live := range src.live {
		if live {
			return l
		}
	}
	return layerNone
}

// topLayer is the largest live layer the tile needs: the largest live
// one at or below layerNeed, or the lowest live one when none is.
func topLayer(src *layerInput) int {
	need := layerF
	if src.viewed {
		need = layerNeed(max(src.width, src.height*16/9))
	}
	top := lowestLive(src)
	for l := top; l <= need && l < maxLayers; l++ {
		if src.live[l] {
			top = l
		}
	}
	return top
}

// requestKeyframe passes a subscriber's PLI or FIR on to the publisher,
// for the layer the subscriber receives (or is about to).
func (d *DownTrack) requestKeyframe() {
	l := int8(d.current.Load())
	if l == layerNone {
		l = int8(d.target.Load())
	}
	d.track.RequestKeyframe(l)
}

// onView takes the client's tile sizes; each view message replaces the
// last. The layers are chosen again at once, so that a tile made bigger
// gets its bigger layer without waiting for the tick.
func (p *Participant) onView(views []protocol.View) {
	p.views = make(map[string]protocol.View, len(views))
	for _, v := range views {
		p.views[v.Peer] = v
	}
	p.selectLayers()
}

// selectLayers chooses the layer of every video the participant
// receives, from its bandwidth estimate and its tiles. Audio always
// goes, and what it takes comes off the budget first.
func (p *Participant) selectLayers() {
	if len(p.subs) == 0 {
		return
	}
	now := p.sfu.cfg.Now()
	estimate := initialEstimate
	if p.bwe != nil {
		estimate = p.bwe.GetTargetBitrate()
	}
	p.sfu.estimates.observe(estimate)
	audio := 0
	p.selIn, p.selDTs = p.selIn[:0], p.selDTs[:0]
	for t, sub := range p.subs {
		if t.kind != webrtc.RTPCodecTypeVideo {
			if l := t.layer(0); l != nil {
				rate, _ := l.meter.rate(now)
				audio += rate
			}
			continue
		}
		p.selDTs = append(p.selDTs, sub.dt)
	}
	// A stable order: sources whose tiles are alike are served in the
	// same order every time, so the budget does not flap between them.
	sort.Slice(p.selDTs, func(a, b int) bool { return p.selDTs[a].track.id < p.selDTs[b].track.id })
	for _, dt := range p.selDTs {
		in := layerInput{current: int(dt.current.Load()), squeeze: dt.squeeze}
		for i := range dt.track.layers {
			if l := dt.track.layers[i].Load(); l != nil {
				in.rates[i], in.live[i] = l.meter.rate(now)
			}
		}
		if v, ok := p.views[dt.track.publisher.id]; ok {
			in.width, in.height, in.viewed = v.Width, v.Height, true
		}
		p.selIn = append(p.selIn, in)
	}
	if cap(p.selOut) < len(p.selIn) {
		p.selOut = make([]int, len(p.selIn))
	}
	out := p.selOut[:len(p.selIn)]
	up := int(float64(estimate)*upShare) - audio
	keep := int(float64(estimate)*keepShare) - audio
	p.selector.Choose(up, keep, now, p.selIn, out)
	for i, dt := range p.selDTs {
		dt.squeeze = p.selIn[i].squeeze
		if dt.setTarget(out[i]) && p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.logTarget(dt, out[i], p.selIn[i].current, estimate)
		}
	}
}

// logTarget logs a new layer target at debug level, with what GCC made
// of the subscriber's link when the layer goes down: the why of a switch,
// for tuning.
func (p *Participant) logTarget(dt *DownTrack, layer, current, estimate int) {
	attrs := []any{"track", dt.track.id, "layer", layer, "from", current, "estimate", estimate}
	if layer < current && p.bwe != nil {
		st := p.bwe.GetStats()
		attrs = append(attrs, "gcc_state", st["state"], "gcc_usage", st["usage"],
			"loss_target", st["lossTargetBitrate"], "delay_target", st["delayTargetBitrate"],
			"average_loss", st["averageLoss"], "delay_ms", st["delayEstimate"], "threshold_ms", st["delayThreshold"])
	}
	p.log.Debug("layer target", attrs...)
}
