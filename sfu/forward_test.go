package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeStream is a subscriber's write stream: it records what it is given,
// and blocks while gate is held (a subscriber whose socket is stuck).
type fakeStream struct {
	gate    sync.Mutex
	packets atomic.Int64
	// What the last write carried.
	ssrc, pt, seq, payload atomic.Uint32
	// With record set, every write is kept in log.
	record bool
	logMu  sync.Mutex
	log    []written
}

// written is one packet a fakeStream was given.
type written struct {
	seq   uint16
	ts    uint32
	first [3]byte // the payload's first bytes
}

func (f *fakeStream) written() []written {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return append([]written(nil), f.log...)
}

func (f *fakeStream) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f.gate.Lock()
	f.gate.Unlock() //nolint:staticcheck // the lock is a gate, not a guard
	if f.record {
		w := written{seq: h.SequenceNumber, ts: h.Timestamp}
		copy(w.first[:], payload)
		f.logMu.Lock()
		f.log = append(f.log, w)
		f.logMu.Unlock()
	}
	f.ssrc.Store(h.SSRC)
	f.pt.Store(uint32(h.PayloadType))
	f.seq.Store(uint32(h.SequenceNumber))
	f.payload.Store(uint32(len(payload)))
	f.packets.Add(1)
	return h.MarshalSize() + len(payload), nil
}

func (f *fakeStream) Write(b []byte) (int, error) { return len(b), nil }

// fanOutRig is one track fanned out to subscribers with fake streams,
// without pion: the forwarding path alone.
type fanOutRig struct {
	track   *Track
	layer   *layer
	subs    []*Participant
	streams []*fakeStream
}

func newFanOutRig(tb testing.TB, subscribers, queue int, kind webrtc.RTPCodecType) *fanOutRig {
	tb.Helper()
	pub := &Participant{id: "pub"}
	r := &fanOutRig{track: &Track{id: "t", publisher: pub, kind: kind, pool: newPacketPool(), now: time.Now,
		done: make(chan struct{})}}
	r.layer = newLayer(r.track, 0, "", nil, 0)
	r.track.layers[0].Store(r.layer)
	for i := range subscribers {
		sub := &Participant{id: string(rune('a' + i)), writer: newWriter(queue)}
		st := &fakeStream{}
		dt := newDownTrack(r.track, sub)
		dt.binding.Store(&binding{ssrc: uint32(1000 + i), payloadType: uint8(100 + i), stream: st})
		// One layer, followed from the start: no keyframe to wait for.
		dt.target.Store(0)
		dt.current.Store(0)
		dt.wlayer = 0
		r.track.attach(dt)
		go sub.writer.run()
		r.subs = append(r.subs, sub)
		r.streams = append(r.streams, st)
	}
	tb.Cleanup(func() {
		for _, s := range r.subs {
			s.writer.stop()
		}
	})
	return r
}

// send fans out one packet with the given sequence number.
func (r *fanOutRig) send(tb testing.TB, seq uint16, payload []byte) {
	pkt := r.track.pool.get()
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 90 * uint32(seq), SSRC: 42}
	n, err := h.MarshalTo(pkt.buf[:])
	if err != nil {
		tb.Fatal(err)
	}
	n += copy(pkt.buf[n:], payload)
	if !pkt.parse(n) {
		tb.Fatal("parse failed")
	}
	pkt.at = r.track.now()
	pkt.layer = r.layer.index
	r.track.fanOut(r.layer, pkt)
}

// A subscriber whose writes hang loses packets; the reader never waits for
// it and the other subscriber gets every packet, with its own SSRC and
// payload type.
func TestStuckSubscriberLosesOnlyItsOwnPackets(t *testing.T) {
	r := newFanOutRig(t, 2, 64, webrtc.RTPCodecTypeAudio)
	stuck, fine := r.streams[0], r.streams[1]
	stuck.gate.Lock()
	defer stuck.gate.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := range uint16(1000) {
			r.send(t, seq, []byte("opus"))
			// Let the healthy subscriber keep up, as a real publisher's
			// pace does, however busy the machine: this test is about
			// the stuck one, whose queue is never waited for.
			for fine.packets.Load() < int64(seq)-32 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the reader blocked: %d packets reached the healthy subscriber", fine.packets.Load())
	}
	waitFor(t, 5*time.Second, func() string { return fmt.Sprintf("%d packets", fine.packets.Load()) },
		func() bool { return fine.packets.Load() == 1000 })
	if fine.ssrc.Load() != 1001 || fine.pt.Load() != 101 || fine.seq.Load() != 999 || fine.payload.Load() != 4 {
		t.Errorf("last packet to the healthy subscriber: ssrc %d pt %d seq %d, %d payload bytes; want 1001 101 999 4",
			fine.ssrc.Load(), fine.pt.Load(), fine.seq.Load(), fine.payload.Load())
	}
	// The stuck writer holds 64 packets in its queue, and one in its
	// write once it got to run.
	if d := r.subs[0].writer.dropped.Load(); d != 1000-65 && d != 1000-64 {
		t.Errorf("stuck subscriber dropped %d packets, want %d", d, 1000-65)
	}
	if d := r.subs[1].writer.dropped.Load(); d != 0 {
		t.Errorf("healthy subscriber dropped %d packets", d)
	}
}

// Forwarding allocates nothing per packet: buffers are pooled, headers
// rewritten in place, queues hold values.
func TestForwardingDoesNotAllocate(t *testing.T) {
	r := newFanOutRig(t, 4, 1024, webrtc.RTPCodecTypeVideo)
	payload := make([]byte, 1100)
	seq := uint16(0)
	// Warm the pool and the queues.
	for range 100 {
		seq++
		r.send(t, seq, payload)
	}
	waitFor(t, 5*time.Second, func() string { return "" }, func() bool { return r.streams[3].packets.Load() == 100 })
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		r.send(t, seq, payload)
	})
	// AllocsPerRun counts every goroutine, the writers included. A GC
	// emptying the pool may cost a buffer now and then.
	t.Logf("%.3f allocations per packet", allocs)
	if allocs > 0.1 {
		t.Errorf("%.1f allocations per packet fanned out to 4 subscribers", allocs)
	}
}

// BenchmarkFanOut is the forwarding path without pion and network: read
// buffer, fan-out to 20 subscribers' queues, header rewrite, write.
func BenchmarkFanOut(b *testing.B) {
	r := newFanOutRig(b, 20, 4096, webrtc.RTPCodecTypeVideo)
	payload := make([]byte, 1100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r.send(b, uint16(i), payload)
		if i%256 == 255 {
			// Keep the queues from overflowing: the benchmark measures
			// forwarding, not dropping.
			for int(r.subs[19].writer.forwarded.Load()) < i-512 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
}

func TestPacketParse(t *testing.T) {
	for _, tc := range []struct {
		name        string
		raw         []byte
		ok          bool
		payload     int
		paddingSize byte
	}{
		{"plain", append([]byte{0x80, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 1, 2, 3), true, 3, 0},
		{"padding 2", append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 1, 2, 3, 0, 2), true, 3, 2},
		{"padding only", append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 0, 0, 3), true, 0, 3},
		{"padding count 0", append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 1, 0), false, 0, 0},
		{"padding longer than packet", append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 1, 40), false, 0, 0},
		{"short header", []byte{0x80, 96, 0, 1}, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := new(packet)
			n := copy(pkt.buf[:], tc.raw)
			if ok := pkt.parse(n); ok != tc.ok {
				t.Fatalf("parse = %v, want %v", ok, tc.ok)
			}
			if !tc.ok {
				return
			}
			if len(pkt.payload) != tc.payload || pkt.hdr.PaddingSize != tc.paddingSize {
				t.Errorf("payload %d bytes, padding %d; want %d, %d", len(pkt.payload), pkt.hdr.PaddingSize, tc.payload, tc.paddingSize)
			}
			// What pion marshals from the parsed parts is the packet read.
			out := make([]byte, 1500)
			m, err := rtp.MarshalPacketTo(out, &pkt.hdr, pkt.payload) //nolint:staticcheck
			if err != nil || string(out[:m]) != string(tc.raw) {
				t.Errorf("re-marshalled %x, %v; want %x", out[:m], err, tc.raw)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type step struct {
		at       int  // ms after t0
		due      bool // a timer fired (due) rather than a request came
		send     bool
		waitMs   int
		describe string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first request goes out at once", []step{{0, false, true, 0, "first"}}},
		{"burst becomes one more PLI at the end of the interval", []step{
			{0, false, true, 0, "first"},
			{100, false, false, 400, "second, inside the interval"},
			{300, false, false, 200, "third, merged with the second"},
			{500, true, true, 0, "due: the merged request goes out"},
			{600, true, false, 0, "a stale timer sends nothing"},
		}},
		{"request after the interval goes out at once", []step{
			{0, false, true, 0, "first"},
			{500, false, true, 0, "exactly one interval later"},
			{1700, false, true, 0, "much later"},
		}},
		{"an early timer waits for the rest", []step{
			{0, false, true, 0, "first"},
			{200, false, false, 300, "second"},
			{450, true, false, 50, "timer early by 50 ms"},
			{500, true, true, 0, "due"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := throttle{interval: 500 * time.Millisecond}
			for _, s := range tc.steps {
				var send bool
				var wait time.Duration
				if s.due {
					send, wait = th.due(ms(s.at))
				} else {
					send, wait = th.request(ms(s.at))
				}
				if send != s.send || wait != time.Duration(s.waitMs)*time.Millisecond {
					t.Errorf("%s at %d ms: send %v wait %v, want %v %d ms", s.describe, s.at, send, wait, s.send, s.waitMs)
				}
			}
		})
	}
}

func rtcpBytes(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzPacketParse(f *testing.F) {
	f.Add(append([]byte{0xa0, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42}, 1, 2, 3, 0, 2))
	f.Add(append([]byte{0x90, 96, 0, 1, 0, 0, 0, 9, 0, 0, 0, 42, 0xbe, 0xde, 0, 1, 0x10, 1, 0, 0}, 9))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxPacket {
			return
		}
		pkt := new(packet)
		if !pkt.parse(copy(pkt.buf[:], b)) {
			return
		}
		out := make([]byte, 2*maxPacket)
		if _, err := rtp.MarshalPacketTo(out, &pkt.hdr, pkt.payload); err != nil { //nolint:staticcheck
			t.Fatalf("a parsed packet does not marshal: %v", err)
		}
	})
}

func TestMatchCodec(t *testing.T) {
	offered := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/vp8", ClockRate: 90000}, PayloadType: 120},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 109},
	}
	for _, tc := range []struct {
		want webrtc.RTPCodecCapability
		pt   webrtc.PayloadType
		ok   bool
	}{
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, 120, true},
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 109, true},
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 1}, 0, false},
		{webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, 0, false},
	} {
		c, ok := matchCodec(tc.want, offered)
		if ok != tc.ok || c.PayloadType != tc.pt {
			t.Errorf("%s/%d: got pt %d %v, want %d %v", tc.want.MimeType, tc.want.Channels, c.PayloadType, ok, tc.pt, tc.ok)
		}
	}
}
