package client

import (
	"testing"

	"github.com/pion/rtcp"
)

// A PLI or FIR anywhere in a compound RTCP packet asks for a keyframe;
// reports, NACKs and truncated packets do not.
func TestKeyframeRequested(t *testing.T) {
	marshal := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rr := &rtcp.ReceiverReport{SSRC: 1}
	pli := &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2}
	fir := &rtcp.FullIntraRequest{SenderSSRC: 1, MediaSSRC: 2, FIR: []rtcp.FIREntry{{SSRC: 2, SequenceNumber: 1}}}
	nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 5}}}
	full := marshal(rr, pli)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"PLI", marshal(pli), true},
		{"FIR", marshal(fir), true},
		{"receiver report then PLI", full, true},
		{"receiver report", marshal(rr), false},
		{"NACK", marshal(nack), false},
		{"PLI cut short", full[:len(full)-4], false},
		{"empty", nil, false},
	} {
		if got := keyframeRequested(tc.b); got != tc.want {
			t.Errorf("%s: %t, want %t", tc.name, got, tc.want)
		}
	}
}
