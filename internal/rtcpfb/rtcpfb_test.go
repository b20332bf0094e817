package rtcpfb

import (
	"testing"

	"github.com/pion/rtcp"
)

func marshal(tb testing.TB, pkts ...rtcp.Packet) []byte {
	tb.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// A PLI or FIR anywhere in a compound RTCP packet asks for a keyframe;
// reports, NACKs, REMB and truncated packets do not.
func TestAsksKeyframe(t *testing.T) {
	rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2}}}
	pli := &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2}
	full := marshal(t, rr, pli)
	for _, tc := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"PLI", marshal(t, pli), true},
		{"FIR", marshal(t, &rtcp.FullIntraRequest{MediaSSRC: 2, FIR: []rtcp.FIREntry{{SSRC: 2}}}), true},
		{"receiver report", marshal(t, rr), false},
		{"receiver report then PLI", full, true},
		{"PLI cut short", full[:len(full)-4], false},
		{"REMB is not a keyframe request", marshal(t, &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 1e6, SSRCs: []uint32{2}}), false},
		{"generic NACK", marshal(t, &rtcp.TransportLayerNack{MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 7}}}), false},
		{"truncated PLI", marshal(t, pli)[:8], false},
		{"empty", nil, false},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff}, false},
	} {
		if got := AsksKeyframe(tc.raw); got != tc.want {
			t.Errorf("%s: AsksKeyframe = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzAsksKeyframe(f *testing.F) {
	f.Add(marshal(f, &rtcp.PictureLossIndication{MediaSSRC: 2}))
	f.Add(marshal(f, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.FullIntraRequest{MediaSSRC: 2, FIR: []rtcp.FIREntry{{SSRC: 2}}}))
	f.Add([]byte{0x80, 0xce, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		AsksKeyframe(b) // must not panic
	})
}

func TestAsksKeyframeDoesNotAllocate(t *testing.T) {
	b := marshal(t, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.PictureLossIndication{MediaSSRC: 2})
	if n := testing.AllocsPerRun(100, func() { AsksKeyframe(b) }); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}
