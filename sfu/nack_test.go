package sfu

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// A packet of the current source goes out with the offsets of its
// source; a new source continues the output stream right after the
// newest packet sent, across wrap-around of either number.
func TestRewriter(t *testing.T) {
	t0 := time.Unix(0, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type in struct {
		ssrc uint32
		seq  uint16
		ts   uint32
		at   time.Time
	}
	type out struct {
		seq uint16
		ts  uint32
	}
	for _, tc := range []struct {
		name string
		in   []in
		want []out
	}{
		{"first source passes through", []in{{1, 100, 9000, ms(0)}, {1, 101, 9000, ms(1)}, {1, 102, 12000, ms(33)}},
			[]out{{100, 9000}, {101, 9000}, {102, 12000}}},
		{"sequence and timestamp wrap", []in{{1, 65534, 4294967000, ms(0)}, {1, 65535, 4294967000, ms(0)}, {1, 0, 2704, ms(33)}, {1, 1, 2704, ms(33)}},
			[]out{{65534, 4294967000}, {65535, 4294967000}, {0, 2704}, {1, 2704}}},
		{"reordered packet keeps its place", []in{{1, 10, 0, ms(0)}, {1, 12, 6000, ms(66)}, {1, 11, 3000, ms(67)}, {1, 13, 9000, ms(100)}},
			[]out{{10, 0}, {12, 6000}, {11, 3000}, {13, 9000}}},
		{"switch continues after the newest", []in{{1, 500, 90000, ms(0)}, {1, 501, 93000, ms(33)}, {2, 7000, 5, ms(66)}, {2, 7001, 3005, ms(99)}},
			// 33 ms at 90 kHz is 2970 ticks.
			[]out{{500, 90000}, {501, 93000}, {502, 95970}, {503, 98970}}},
		{"switch across the wrap", []in{{1, 65535, 4294967295, ms(0)}, {2, 40, 100, ms(10)}, {2, 41, 1000, ms(20)}},
			[]out{{65535, 4294967295}, {0, 899}, {1, 1799}}},
		{"switch at the same instant advances one tick", []in{{1, 9, 50, ms(0)}, {2, 3, 7, ms(0)}},
			[]out{{9, 50}, {10, 51}}},
		{"switch back to the first source", []in{{1, 1, 0, ms(0)}, {2, 900, 0, ms(20)}, {1, 5, 3600, ms(40)}},
			[]out{{1, 0}, {2, 1800}, {3, 3600}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r rewriter
			for i, p := range tc.in {
				seq, ts := r.rewrite(p.ssrc, p.seq, p.ts, p.at, 90000)
				if got := (out{seq, ts}); got != tc.want[i] {
					t.Errorf("packet %d (ssrc %d seq %d ts %d): got %+v, want %+v", i, p.ssrc, p.seq, p.ts, got, tc.want[i])
				}
			}
		})
	}
}

// NACKs map back to the current source only, for packets already sent.
func TestRewriterSource(t *testing.T) {
	var r rewriter
	now := time.Unix(0, 0)
	if _, ok := r.source(1); ok {
		t.Fatal("maps a number before any packet")
	}
	for seq := uint16(65530); seq != 4; seq++ {
		r.rewrite(1, seq, 0, now, 90000)
	}
	// Out: 65530 … 3. Then a switch to a source at 1000: out 4 ↔ 1000.
	for seq := uint16(1000); seq < 1010; seq++ {
		r.rewrite(2, seq, 0, now, 90000)
	}
	for _, tc := range []struct {
		out  uint16
		want uint16
		ok   bool
	}{
		{4, 1000, true}, {13, 1009, true},
		{14, 0, false},    // not sent yet
		{3, 0, false},     // the first source's
		{65535, 0, false}, // the first source's, before the wrap
	} {
		got, ok := r.source(tc.out)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("source(%d) = %d, %v; want %d, %v", tc.out, got, ok, tc.want, tc.ok)
		}
	}
	// Long after the switch, old numbers stop mapping and new ones still
	// do, wrap or not.
	for seq := uint16(1010); seq != 1010+40000; seq++ {
		r.rewrite(2, seq, 0, now, 90000)
	}
	if _, ok := r.source(4); ok {
		t.Error("maps a number 40000 packets old")
	}
	if got, ok := r.source(4 + 40000 - 1); !ok || got != 1000+40000-1 {
		t.Errorf("newest: %d %v", got, ok)
	}
}

func TestNacks(t *testing.T) {
	b := rtcpBytes(t,
		&rtcp.ReceiverReport{SSRC: 1},
		&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0b101}, {PacketID: 65535}}},
		&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 8, Nacks: []rtcp.NackPair{{PacketID: 99}}},
		&rtcp.PictureLossIndication{MediaSSRC: 7},
	)
	got := nacks(b, 7, nil)
	want := []nackPair{{10, 0b101}, {65535, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nacks for 7: %v, want %v", got, want)
	}
	if got := nacks(b[:len(b)-3], 8, nil); len(got) != 1 {
		t.Errorf("truncated packet: %v", got)
	}
	if got := nacks([]byte{0x81, 205, 0xff, 0xff}, 7, nil); len(got) != 0 {
		t.Errorf("length beyond the packet: %v", got)
	}
}

func FuzzNacks(f *testing.F) {
	f.Add(rtcpBytes(f, &rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 3}}}))
	f.Fuzz(func(t *testing.T, b []byte) { nacks(b, 7, nil) })
}

func TestUpstreamNacks(t *testing.T) {
	var u upstreamNacks
	t0 := time.Unix(100, 0)
	if !u.add(5) || u.add(5) || !u.add(6) {
		t.Fatal("add: want 5 and 6 once each")
	}
	seqs, wait := u.take(t0)
	if fmt.Sprint(seqs) != "[5 6]" || wait != 0 {
		t.Fatalf("first take: %v %v", seqs, wait)
	}
	if u.add(5) {
		t.Error("asked for 5 twice")
	}
	u.add(7)
	if seqs, wait := u.take(t0.Add(5 * time.Millisecond)); seqs != nil || wait != 15*time.Millisecond {
		t.Errorf("take inside the interval: %v %v", seqs, wait)
	}
	if seqs, _ := u.take(t0.Add(nackInterval)); fmt.Sprint(seqs) != "[7]" {
		t.Errorf("take after the interval: %v", seqs)
	}
}

// A subscriber's NACK is answered from the track's one packet cache with
// the subscriber's SSRC and sequence numbers; what the cache no longer
// holds is asked of the publisher instead.
func TestNackAnsweredFromCache(t *testing.T) {
	r := newFanOutRig(t, 2, 1024, webrtc.RTPCodecTypeVideo)
	for seq := uint16(65500); seq != 100; seq++ {
		r.send(t, seq, []byte("vp8"))
	}
	st := r.streams[0]
	waitFor(t, 5*time.Second, func() string { return fmt.Sprint(st.packets.Load()) }, func() bool { return st.packets.Load() == 136 })
	dt := (*r.track.subs.Load())[0]
	w := r.subs[0].writer
	// 65534, 65535 (bit 0), 1 (bit 2): across the wrap.
	w.enqueueNack(dt, nackPair{pid: 65534, blp: 0b101})
	waitFor(t, 5*time.Second, func() string { return fmt.Sprint(w.retransmitted.Load()) }, func() bool { return w.retransmitted.Load() == 3 })
	if st.seq.Load() != 1 || st.ssrc.Load() != 1000 {
		t.Errorf("last retransmission: seq %d ssrc %d, want 1 and 1000", st.seq.Load(), st.ssrc.Load())
	}
	if r.streams[1].packets.Load() != 136 {
		t.Errorf("the other subscriber got %d packets, want 136", r.streams[1].packets.Load())
	}
	// Push 65534 out of the cache: a NACK for it goes upstream.
	for seq := uint16(100); seq != 700; seq++ {
		r.send(t, seq, []byte("vp8"))
	}
	waitFor(t, 5*time.Second, func() string { return fmt.Sprint(st.packets.Load()) }, func() bool { return st.packets.Load() == 739 })
	w.enqueueNack(dt, nackPair{pid: 65534})
	waitFor(t, 5*time.Second, func() string { return fmt.Sprint(r.layer.upstream.pending) }, func() bool {
		r.layer.upstream.mu.Lock()
		defer r.layer.upstream.mu.Unlock()
		return len(r.layer.upstream.pending) == 1 && r.layer.upstream.pending[0] == 65534
	})
	if w.retransmitted.Load() != 3 {
		t.Errorf("retransmitted %d, want still 3", w.retransmitted.Load())
	}
}

// lossyLink is a network that loses every tenth video packet the SFU
// sends the first time, as an interceptor of the SFU's: after it, SRTP
// and the socket, so the packet never reaches the subscriber, whose NACK
// generator sees the gap and asks. recovered counts the lost packets
// sent again.
type lossyLink struct {
	interceptor.NoOp
	mu        sync.Mutex
	lost      map[uint16]bool // lost and not yet sent again
	recovered int
}

func (l *lossyLink) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

func (l *lossyLink) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if l.drop(h.SequenceNumber) {
			return h.MarshalSize() + len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

func (l *lossyLink) drop(seq uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lost[seq]:
		delete(l.lost, seq)
		l.recovered++
		return false
	case seq%10 == 3 && l.lost != nil:
		l.lost[seq] = true
		return true
	}
	return false
}

func (l *lossyLink) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recovered
}

// seqRecorder notes the sequence numbers of the video a subscriber
// receives, as an interceptor nearest its network.
type seqRecorder struct {
	interceptor.NoOp
	mu  sync.Mutex
	got map[uint16]bool
}

func (r *seqRecorder) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

func (r *seqRecorder) BindRemoteStream(info *interceptor.StreamInfo, rd interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(info.MimeType, "video/") {
		return rd
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := rd.Read(b, a)
		if err == nil && n >= 4 {
			r.mu.Lock()
			r.got[binary.BigEndian.Uint16(b[2:4])] = true
			r.mu.Unlock()
		}
		return n, a, err
	})
}

// gap names the first sequence number missing between the first received
// and the newest but the last 50 (which may still be on their way back),
// or is empty; received is how many arrived.
func (r *seqRecorder) gap() (received int, gap string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first, newest uint16
	started := false
	for s := range r.got {
		if !started || newer(first, s) {
			first = s
		}
		if !started || newer(s, newest) {
			newest = s
		}
		started = true
	}
	for s := first; newer(newest-50, s); s++ {
		if !r.got[s] {
			return len(r.got), fmt.Sprintf("seq %d missing (received %d…%d)", s, first, newest)
		}
	}
	return len(r.got), ""
}

// A subscriber whose network loses a tenth of the video packets gets
// each of them back: its NACKs are answered from the track's packet
// cache, and its video arrives with no gap in the sequence numbers.
func TestLossySubscriberRecoversByNack(t *testing.T) {
	verifyNoLeaks(t)
	link := &lossyLink{}
	s, err := New(Config{SettingEngine: LoopbackSettingEngine(), sendHook: link})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	joinPeer(t, s, "lossy", "pub", newSource(t, "pub").tracks()...)
	rec := &seqRecorder{got: map[uint16]bool{}}
	sub, _ := joinPeerWith(t, s, "lossy", "sub", rec)
	// Lose only once the subscriber receives: packets lost before its
	// DTLS is up were never sent.
	waitFor(t, 15*time.Second, func() string { return "no video" }, func() bool { return sub.count("pub", webrtc.RTPCodecTypeVideo) > 10 })
	link.mu.Lock()
	link.lost = map[uint16]bool{}
	link.mu.Unlock()
	waitFor(t, 15*time.Second, func() string {
		n, gap := rec.gap()
		return fmt.Sprintf("%d received, %d recovered, %s; SFU %+v", n, link.count(), gap, s.Stats())
	}, func() bool {
		n, gap := rec.gap()
		return n > 250 && link.count() >= 20 && gap == ""
	})
	st := s.Stats()
	t.Logf("%d lost and recovered; SFU retransmitted %d, asked publishers for %d", link.count(), st.Retransmitted, st.NackedUpstream)
	if st.Retransmitted < 20 {
		t.Errorf("SFU retransmitted %d packets, want at least 20", st.Retransmitted)
	}
}

// The SFU's counters reach a Prometheus registry under their names.
func TestRegisterMetrics(t *testing.T) {
	s := newTestSFU(t)
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"konsil_sfu_participants", "konsil_sfu_tracks", "konsil_sfu_forwarded_packets_total",
		"konsil_sfu_forwarded_bytes_total", "konsil_sfu_dropped_packets_total", "konsil_sfu_nack_retransmits_total",
		"konsil_sfu_keyframe_requests_total", "konsil_sfu_layer_switches_total", "konsil_sfu_subscriber_estimate_bits_per_second"} {
		if !got[name] {
			t.Errorf("%s not gathered; got %v", name, got)
		}
	}
}
