package rtcpfb

import (
	"testing"

	"github.com/pion/rtcp"
)

// FuzzAsksKeyframeAgreesWithPion holds the allocation-free walk against
// pion's full parser: whenever pion reads the whole compound packet,
// AsksKeyframe says yes exactly when pion found a PLI or a FIR in it.
// (On what pion refuses, AsksKeyframe may still find a request in the
// packets before the bad one; FuzzAsksKeyframe covers that it never
// panics.)
func FuzzAsksKeyframeAgreesWithPion(f *testing.F) {
	f.Add(marshal(f, &rtcp.PictureLossIndication{MediaSSRC: 2}))
	f.Add(marshal(f, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.FullIntraRequest{MediaSSRC: 2, FIR: []rtcp.FIREntry{{SSRC: 2}}}))
	f.Add(marshal(f, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.TransportLayerNack{MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 9}}}))
	f.Add(marshal(f, &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 1e6, SSRCs: []uint32{2}}, &rtcp.SliceLossIndication{MediaSSRC: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		want := false
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				want = true
			}
		}
		if got := AsksKeyframe(b); got != want {
			t.Fatalf("AsksKeyframe(%x) = %v, but pion reads %d packets %v", b, got, len(pkts), pkts)
		}
	})
}
