package sfu

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func TestLayerIndex(t *testing.T) {
	none := [maxLayers]bool{}
	for _, tc := range []struct {
		rid   string
		taken [maxLayers]bool
		want  int
	}{
		{"", none, layerQ}, {"q", none, layerQ}, {"h", none, layerH}, {"f", none, layerF},
		{"low", none, 0}, {"mid", [maxLayers]bool{true}, 1}, {"x", [maxLayers]bool{true, true, true}, -1},
	} {
		if got := layerIndex(tc.rid, tc.taken); got != tc.want {
			t.Errorf("layerIndex(%q, %v) = %d, want %d", tc.rid, tc.taken, got, tc.want)
		}
	}
}

// The meter averages whole windows and goes stale when a layer stops.
func TestRateMeter(t *testing.T) {
	var m rateMeter
	t0 := time.Unix(1000, 0)
	if _, live := m.rate(t0); live {
		t.Fatal("live before any packet")
	}
	// 1,250 bytes every 10 ms: 1 Mbit/s.
	for i := range 300 {
		m.add(1250, t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	now := t0.Add(3 * time.Second)
	rate, live := m.rate(now)
	if !live || rate < 950_000 || rate > 1_050_000 {
		t.Errorf("rate %d live %v, want about 1 Mbit/s", rate, live)
	}
	if _, live := m.rate(now.Add(rateStale + rateWindow + time.Second)); live {
		t.Error("still live long after the last packet")
	}
}

// A new layer's first window starts with a keyframe: it does not stand
// for the layer's rate for long. Four windows in, the meter is within a
// fifth of the rate (an eighth-weighted average from the first window on
// was a third over).
func TestRateMeterWarmsUp(t *testing.T) {
	var m rateMeter
	at := time.Unix(1000, 0)
	const frame = 33 * time.Millisecond
	delta := 650_000 / 8 / 30
	for i := range 4*16 + 1 { // four windows of 16 frames, and one to close the last
		n := delta
		if i == 0 {
			n = 10 * delta
		}
		m.add(n, at)
		at = at.Add(frame)
	}
	if r, _ := m.rate(at); r > 650_000*6/5 {
		t.Errorf("four windows after a layer's first keyframe: %d bit/s, want within 20 %% of 650 kbit/s", r)
	}
}

// Forced keyframes, two a second for two seconds on a 650 kbit/s layer
// (each five times a 2.7 KB delta frame), raise the meter by less than
// the 15 % band between going up and coming down.
func TestRateMeterDampsKeyframeBursts(t *testing.T) {
	var m rateMeter
	at := time.Unix(1000, 0)
	const frame = 33 * time.Millisecond
	delta := 650_000 / 8 / 30 // bytes per frame at 30 fps
	for range 30 * 20 {       // 20 s steady
		m.add(delta, at)
		at = at.Add(frame)
	}
	steady, _ := m.rate(at)
	peak := steady
	for i := range 30 * 2 {
		n := delta
		if i%15 == 0 {
			n = 5 * delta // a forced keyframe every 500 ms
		}
		m.add(n, at)
		at = at.Add(frame)
		r, _ := m.rate(at)
		peak = max(peak, r)
	}
	if rise := float64(peak-steady) / float64(steady); rise > 0.15 {
		t.Errorf("keyframe bursts raised the rate %.0f %% (%d → %d bit/s), want under 15 %%", rise*100, steady, peak)
	}
	if steady < 600_000 || steady > 700_000 {
		t.Errorf("steady rate %d, want about 650 kbit/s", steady)
	}
}

// Layer choice: tile size caps the layer, the budget is spent biggest
// tile first, every shown source gets at least its lowest layer, a
// source at 0×0 gets none, and an up-switch waits for the budget to have
// held for upHold.
func TestLayerSelectorChoose(t *testing.T) {
	all := [maxLayers]bool{true, true, true}
	rates := [maxLayers]int{100_000, 300_000, 900_000}
	src := func(w, h, cur int) layerInput {
		return layerInput{rates: rates, live: all, width: w, height: h, viewed: true, current: cur}
	}
	unseen := layerInput{rates: rates, live: all, current: layerNone}
	t0 := time.Unix(0, 0)
	for _, tc := range []struct {
		name   string
		budget int
		in     []layerInput
		want   []int
	}{
		{"big tile, room to spare", 5_000_000, []layerInput{src(1280, 720, layerNone)}, []int{layerF}},
		{"no view said: up to f", 5_000_000, []layerInput{unseen}, []int{layerF}},
		{"small tile needs q", 5_000_000, []layerInput{src(240, 135, layerNone)}, []int{layerQ}},
		{"mid tile needs h", 5_000_000, []layerInput{src(480, 270, layerNone)}, []int{layerH}},
		{"tall tile needs more than its width", 5_000_000, []layerInput{src(300, 400, layerNone)}, []int{layerF}},
		{"hidden tile paused", 5_000_000, []layerInput{src(0, 0, layerF)}, []int{layerNone}},
		{"tight budget: q", 250_000, []layerInput{src(1280, 720, layerNone)}, []int{layerQ}},
		{"no budget still gets q", 0, []layerInput{src(1280, 720, layerNone)}, []int{layerQ}},
		{"bigger tile served first", 1_100_000, []layerInput{src(320, 180, layerNone), src(1280, 720, layerNone)}, []int{layerQ, layerF}},
		{"second tile gets what is left", 1_400_000, []layerInput{src(640, 360, layerNone), src(1280, 720, layerNone)}, []int{layerH, layerF}},
		{"missing layer skipped", 5_000_000, []layerInput{{rates: rates, live: [maxLayers]bool{true, true, false}, current: layerNone}}, []int{layerH}},
		{"only a top layer: it, whatever the tile", 5_000_000, []layerInput{{rates: rates, live: [maxLayers]bool{false, false, true}, width: 100, height: 60, viewed: true, current: layerNone}}, []int{layerF}},
		{"no live layer", 5_000_000, []layerInput{{current: layerNone}}, []int{layerNone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := LayerSelector{upHold: 3 * time.Second}
			out := make([]int, len(tc.in))
			s.Choose(tc.budget, tc.budget, t0, tc.in, out)
			if fmt.Sprint(out) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", out, tc.want)
			}
		})
	}
}

// Down at once, up only after the budget has covered the bigger layer
// for upHold: the clock is moved, nothing sleeps.
func TestLayerSelectorHysteresis(t *testing.T) {
	r := newSelectorRig(1, layerF)
	step := func(budget int, d time.Duration) int { return r.step(d, budget, budget)[0] }
	if got := step(2_000_000, 0); got != layerF {
		t.Fatalf("wide: %d", got)
	}
	if got := step(200_000, 500*time.Millisecond); got != layerQ {
		t.Fatalf("narrow: got %d, want q at once", got)
	}
	// Wide again: held at q for 3 s after the last squeeze.
	for i := range 5 {
		if got := step(2_000_000, 500*time.Millisecond); got != layerQ {
			t.Fatalf("%d ms after the squeeze: up to %d already", (i+1)*500, got)
		}
	}
	if got := step(2_000_000, 500*time.Millisecond); got != layerF {
		t.Fatalf("3 s after the squeeze: %d, want f", got)
	}
	// A hidden tile, shown again, gets its layer at once.
	r.in[0].width, r.in[0].height = 0, 0
	if got := step(2_000_000, 500*time.Millisecond); got != layerNone {
		t.Fatalf("hidden: %d", got)
	}
	r.in[0].width, r.in[0].height = 1280, 720
	if got := step(2_000_000, 500*time.Millisecond); got != layerF {
		t.Fatalf("shown again: %d, want f", got)
	}
}

// selectorRig drives a LayerSelector over sources of 100/300/900 kbit/s
// layers shown at 1280×720, on a clock moved by hand: nothing sleeps.
type selectorRig struct {
	s   LayerSelector
	in  []layerInput
	out []int
	at  time.Time
}

func newSelectorRig(sources, current int) *selectorRig {
	r := &selectorRig{s: LayerSelector{upHold: 3 * time.Second}, out: make([]int, sources), at: time.Unix(100, 0)}
	for range sources {
		r.in = append(r.in, layerInput{rates: [maxLayers]int{100_000, 300_000, 900_000}, live: [maxLayers]bool{true, true, true},
			width: 1280, height: 720, viewed: true, current: current})
	}
	return r
}

// step moves the clock on by d, chooses with the up and keep budgets and
// makes the choice the sources' current layers.
func (r *selectorRig) step(d time.Duration, up, keep int) []int {
	r.at = r.at.Add(d)
	r.s.Choose(up, keep, r.at, r.in, r.out)
	for i := range r.in {
		r.in[i].current = r.out[i]
	}
	return r.out
}

// A source map of the layer before a switch keeps answering NACKs for
// its last packets; the current one refuses packets from before its
// first.
func TestRewriterPreviousAndStale(t *testing.T) {
	var r rewriter
	now := time.Unix(0, 0)
	for seq := uint16(100); seq < 110; seq++ {
		r.rewrite(1, seq, uint32(seq)*10, now, 90000)
	}
	// Switch to source 2 at its seq 5000: out 110 ↔ 5000.
	r.rewrite(2, 5000, 77, now, 90000)
	r.rewrite(2, 5001, 78, now, 90000)
	if seq, ok := r.previous(109); !ok || seq != 109 {
		t.Errorf("previous(109) = %d, %v; want 109", seq, ok)
	}
	if _, ok := r.previous(110); ok {
		t.Error("previous maps a number of the current source")
	}
	if seq, ok := r.source(111); !ok || seq != 5001 {
		t.Errorf("source(111) = %d, %v; want 5001", seq, ok)
	}
	if !r.stale(2, 4999) {
		t.Error("a packet of source 2 before the switch is not stale")
	}
	if r.stale(2, 5002) || r.stale(1, 50) {
		t.Error("stale for a new packet, or for another source")
	}
}

// simulcastRig is one video track with three layers fanned out to one
// subscriber that records what it is sent: the forwarding path alone.
type simulcastRig struct {
	*fanOutRig
	layers [maxLayers]*layer
	dt     *DownTrack
	st     *fakeStream
	seq    [maxLayers]uint16
}

func newSimulcastRig(tb testing.TB, queue int) *simulcastRig {
	r := &simulcastRig{fanOutRig: newFanOutRig(tb, 1, queue, webrtc.RTPCodecTypeVideo)}
	r.layers[0] = r.layer
	for i := 1; i < maxLayers; i++ {
		r.layers[i] = newLayer(r.track, i, "", nil, 0)
		r.track.layers[i].Store(r.layers[i])
	}
	for i := range r.layers {
		r.layers[i].ssrc = uint32(100 * (i + 1))
		r.seq[i] = uint16(1000 * (i + 1))
	}
	r.dt = (*r.track.subs.Load())[0]
	r.st = r.streams[0]
	r.st.record = true
	// Nothing followed yet, as a new video subscription.
	r.dt.target.Store(layerNone)
	r.dt.current.Store(layerNone)
	r.dt.wlayer = layerNone
	return r
}

// frame sends one frame of every layer: two packets each, a keyframe
// when key; the payload names the layer in its third byte.
func (r *simulcastRig) frame(tb testing.TB, n int, key bool) {
	for i, l := range r.layers {
		for p := range 2 {
			pkt := r.track.pool.get()
			h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: r.seq[i], Timestamp: uint32(n)*3000 + uint32(i)*7777, SSRC: l.ssrc, Marker: p == 1}
			r.seq[i]++
			hn, err := h.MarshalTo(pkt.buf[:])
			if err != nil {
				tb.Fatal(err)
			}
			tag := byte(0x01) // VP8 frame tag, delta
			if key {
				tag = 0x00
			}
			d := byte(0x10) // VP8 descriptor: start of partition 0
			if p == 1 {
				d = 0x00
			}
			hn += copy(pkt.buf[hn:], []byte{d, tag, byte(i), 9, 9, 9, 9, 9, 9, 9, 9, 9})
			if !pkt.parse(hn) {
				tb.Fatal("parse failed")
			}
			pkt.at = time.Unix(0, 0).Add(time.Duration(n) * 33 * time.Millisecond)
			pkt.layer = l.index
			pkt.keyframe = vp8Keyframe(pkt.payload)
			r.track.fanOut(l, pkt)
		}
	}
}

// layersSent returns, in order, the layer of every packet sent and
// checks that sequence numbers run on by one and timestamps never go
// back.
func (r *simulcastRig) layersSent(t *testing.T, want int) []int {
	t.Helper()
	waitFor(t, 5*time.Second, func() string { return fmt.Sprint(r.st.packets.Load()) }, func() bool { return r.st.packets.Load() == int64(want) })
	log := r.st.written()
	out := make([]int, len(log))
	for i, w := range log {
		out[i] = int(w.first[2])
		if i == 0 {
			continue
		}
		if d := w.seq - log[i-1].seq; d != 1 {
			t.Errorf("packet %d: sequence number %d after %d", i, w.seq, log[i-1].seq)
		}
		if int32(w.ts-log[i-1].ts) < 0 {
			t.Errorf("packet %d: timestamp %d after %d", i, w.ts, log[i-1].ts)
		}
	}
	return out
}

// A down track starts, switches and pauses only at keyframes of the
// layer it goes to, drops every packet of the layer it left, and its
// subscriber sees one stream: sequence numbers +1 across every switch,
// timestamps never going back. A NACK for the last packets before a
// switch is answered from the old layer's cache.
func TestDownTrackSwitchesLayersAtKeyframes(t *testing.T) {
	r := newSimulcastRig(t, 1024)
	n := 0
	frames := func(count int, keyAt int) {
		for range count {
			r.frame(t, n, n%10 == keyAt)
			n++
		}
	}
	r.dt.setTarget(layerH)
	frames(3, 5)  // no keyframe yet: nothing
	frames(10, 5) // keyframe at frame 5: h from there
	got := r.layersSent(t, 2*8)
	for i, l := range got {
		if l != layerH {
			t.Fatalf("packet %d from layer %d, want h only: %v", i, l, got)
		}
	}
	r.dt.setTarget(layerF)
	frames(10, 5) // f's keyframe at frame 15
	// h's frames 13, 14 and 15 (sent before f's keyframe of frame 15),
	// then f from its keyframe on.
	got = r.layersSent(t, 2*8+2*3+2*8)
	if fmt.Sprint(got[16:]) != fmt.Sprint([]int{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}) {
		t.Fatalf("after the switch to f: %v", got[16:])
	}
	// The NACK for the last two h packets: out seqs before the switch.
	last := r.st.written()[21].seq
	r.subs[0].writer.enqueueNack(r.dt, nackPair{pid: last - 1, blp: 0b1})
	waitFor(t, 5*time.Second, func() string { return "" }, func() bool { return r.subs[0].writer.retransmitted.Load() == 2 })
	log := r.st.written()
	if re := log[len(log)-1]; re.seq != last || re.first[2] != layerH {
		t.Errorf("retransmission: seq %d layer %d, want %d from h", re.seq, re.first[2], last)
	}
	if r.layers[layerH].upstream.pending != nil {
		t.Error("asked the publisher for what the cache held")
	}
	sent := len(log)
	// Pause: nothing more, keyframe or not.
	r.dt.setTarget(layerNone)
	frames(10, 5)
	time.Sleep(50 * time.Millisecond)
	if got := len(r.st.written()); got != sent {
		t.Errorf("paused, yet %d packets sent", got-sent)
	}
	// Down to q at its next keyframe.
	r.dt.setTarget(layerQ)
	frames(10, 5)
	waitFor(t, 5*time.Second, func() string { return "" }, func() bool { return len(r.st.written()) == sent+2*8 })
	log = r.st.written()
	for i, w := range log[sent:] {
		if w.first[2] != layerQ {
			t.Errorf("after resuming, packet %d from layer %d", i, w.first[2])
		}
	}
	// The last two written before the pause were the retransmissions.
	if newest := log[sent-3].seq; log[sent].seq-newest != 1 {
		t.Errorf("resumed at sequence %d after %d", log[sent].seq, newest)
	}
	// Paused and resumed on the same layer: the packets skipped in
	// between leave no gap either.
	sent = len(log)
	r.dt.setTarget(layerNone)
	frames(10, 5)
	r.dt.setTarget(layerQ)
	frames(10, 5)
	waitFor(t, 5*time.Second, func() string { return "" }, func() bool { return len(r.st.written()) == sent+2*8 })
	log = r.st.written()
	if d := log[sent].seq - log[sent-1].seq; d != 1 {
		t.Errorf("resumed on the same layer at sequence %d after %d", log[sent].seq, log[sent-1].seq)
	}
	if int32(log[sent].ts-log[sent-1].ts) <= 0 {
		t.Errorf("resumed at timestamp %d after %d", log[sent].ts, log[sent-1].ts)
	}
}

// Switching layers allocates nothing either.
func TestLayerSwitchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops packets at random under the race detector")
	}
	r := newSimulcastRig(t, 4096)
	r.st.record = false
	r.dt.setTarget(layerQ)
	n := 0
	// Fill the layers' packet caches (1.5 s of frames 33 ms apart).
	for range 300 {
		r.frame(t, n, n%2 == 0)
		n++
	}
	// drained waits for the writer to be done with what is queued, so
	// that the packets it held are back in the pool: the cache holds
	// only 1.5 s, and the writer, on one P under AllocsPerRun, runs only
	// when this goroutine yields.
	w := r.subs[0].writer
	drained := func() {
		for len(w.queue) > 0 {
			runtime.Gosched()
		}
		runtime.Gosched()
	}
	target := layerQ
	allocs := testing.AllocsPerRun(200, func() {
		// A keyframe on every layer, and a new target each time: every
		// frame is a switch.
		target = (target + 1) % maxLayers
		r.dt.target.Store(int32(target))
		r.frame(t, n, true)
		n++
		drained()
	})
	t.Logf("%.3f allocations per switching frame (6 packets)", allocs)
	if allocs > 0.1 {
		t.Errorf("%.1f allocations per switching frame", allocs)
	}
}

// The hold is per source and per layer: after a squeeze, a source that
// fits goes up at once though another one is held, and a source held
// back from f may still go up to h.
func TestLayerSelectorHoldsOnlyTheSqueezedLayer(t *testing.T) {
	r := newSelectorRig(2, layerF)
	step := func(budget int) []int { return r.step(500*time.Millisecond, budget, budget) }
	// The link chokes: both down to q, both squeezed at h.
	if got := step(250_000); fmt.Sprint(got) != fmt.Sprint([]int{layerQ, layerQ}) {
		t.Fatalf("choked: %v", got)
	}
	// Room for one f (and h for the other) comes back: nobody goes up
	// within 3 s of the squeeze at h.
	if got := step(1_400_000); fmt.Sprint(got) != fmt.Sprint([]int{layerQ, layerQ}) {
		t.Fatalf("at once: %v, want both held at q", got)
	}
	for range 5 {
		step(1_400_000)
	}
	// 3 s on: the first fits f; the second fits h but not f, and goes up
	// to h (its hold is at f now, not at h).
	if got := step(1_400_000); fmt.Sprint(got) != fmt.Sprint([]int{layerF, layerH}) {
		t.Fatalf("3 s later: %v, want [f h]", got)
	}
	// The second is squeezed at f from now on, but the first, which
	// fits, is not held back by it: it drops with the budget and ...
	if got := step(1_000_000); fmt.Sprint(got) != fmt.Sprint([]int{layerF, layerQ}) {
		t.Fatalf("budget for one f: %v, want [f q]", got)
	}
	// ... the second may climb back to h only once h fitted for 3 s.
	if got := step(1_400_000); fmt.Sprint(got) != fmt.Sprint([]int{layerF, layerQ}) {
		t.Fatalf("right after: %v, want [f q]", got)
	}
	// Choked again, then room for one f only: the second is squeezed
	// in every round, yet the first goes back up to f once its own hold
	// ends: 6 s, not 3, as it went up to f less than 10 s before (a
	// relapse doubles the hold).
	step(250_000)
	for range 11 {
		if got := step(1_000_000); fmt.Sprint(got) != fmt.Sprint([]int{layerQ, layerQ}) {
			t.Fatalf("one f's worth, within 6 s: %v, want [q q]", got)
		}
	}
	if got := step(1_000_000); fmt.Sprint(got) != fmt.Sprint([]int{layerF, layerQ}) {
		t.Fatalf("one f's worth, 6 s on: %v, want [f q]", got)
	}
}

// The band between the up and the keep budget: an estimate that swings
// around what the layers need does not move them, a source goes up only
// with room to spare.
func TestLayerSelectorBand(t *testing.T) {
	r := newSelectorRig(1, layerNone)
	// estimate in, layer out, with the shares selectLayers uses.
	step := func(estimate int) int {
		return r.step(500*time.Millisecond, int(float64(estimate)*upShare), int(float64(estimate)*keepShare))[0]
	}
	if got := step(1_100_000); got != layerF {
		t.Fatalf("900 kbit/s f on a 1.1 Mbit/s estimate: %d, want f", got)
	}
	// Swings down to just above f and up again: f stays.
	for _, e := range []int{950_000, 1_200_000, 910_000, 1_000_000} {
		if got := step(e); got != layerF {
			t.Fatalf("estimate %d: %d, want f kept", e, got)
		}
	}
	if got := step(850_000); got != layerH {
		t.Fatalf("below f: %d, want h", got)
	}
	// 1 Mbit/s would keep f but is not enough to go up to it, however
	// long it lasts.
	for range 20 {
		if got := step(1_000_000); got != layerH {
			t.Fatalf("1 Mbit/s after h: %d, want h (up needs %.0f %% of the estimate)", got, upShare*100)
		}
	}
	// 1.1 Mbit/s is: f once it has fitted for the hold.
	for i := 0; step(1_100_000) != layerF; i++ {
		if i == 6 {
			t.Fatal("1.1 Mbit/s for 3.5 s: still not f")
		}
	}
}

// Relapses: a source that goes up and is squeezed again soon after is
// held twice as long each time, up to maxUpHold; one that stayed up for
// relapseWithin starts again at upHold.
func TestLayerSelectorBacksOffAfterRelapses(t *testing.T) {
	r := newSelectorRig(1, layerF)
	const wide, narrow = 2_000_000, 500_000
	step := func(budget int, d time.Duration) int { return r.step(d, budget, budget)[0] }
	// upFor is how long after a squeeze the source gets f back on a wide
	// budget, looked at every 100 ms.
	upFor := func() time.Duration {
		start := r.at
		for r.at.Sub(start) < time.Minute {
			if step(wide, 100*time.Millisecond) == layerF {
				return r.at.Sub(start)
			}
		}
		t.Fatal("never went up")
		return 0
	}
	step(narrow, 0)
	if got := upFor(); got != 3*time.Second {
		t.Fatalf("first squeeze: up after %v, want 3s", got)
	}
	for _, want := range []time.Duration{6 * time.Second, 12 * time.Second, 24 * time.Second, 30 * time.Second, 30 * time.Second} {
		step(narrow, time.Second) // a relapse 1 s after going up
		if got := upFor(); got != want {
			t.Fatalf("relapse: up after %v, want %v", got, want)
		}
	}
	// Up for longer than relapseWithin: the next squeeze holds upHold.
	step(wide, relapseWithin)
	step(narrow, 100*time.Millisecond)
	if got := upFor(); got != 3*time.Second {
		t.Fatalf("after a long spell at f: up after %v, want 3s", got)
	}
}
