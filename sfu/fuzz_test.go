package sfu

import (
	"slices"
	"testing"

	"github.com/pion/rtcp"
)

// FuzzNacksAgreeWithPion holds the SFU's allocation-free NACK reader
// (what readSenderRTCP answers from the packet cache) against pion's
// full parser: whenever pion reads the whole compound packet, nacks
// returns exactly the generic NACK entries pion finds for that media
// SSRC, in order. Receiver reports, REMB and TWCC feedback are read by
// pion's interceptors, not by SFU code.
func FuzzNacksAgreeWithPion(f *testing.F) {
	f.Add(rtcpBytes(f, &rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 3}}}), uint32(7))
	f.Add(rtcpBytes(f, &rtcp.ReceiverReport{SSRC: 1}, &rtcp.TransportLayerNack{MediaSSRC: 8, Nacks: []rtcp.NackPair{{PacketID: 2}}},
		&rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 65535, LostPackets: 0xffff}, {PacketID: 4}}}), uint32(7))
	f.Add(rtcpBytes(f, &rtcp.PictureLossIndication{MediaSSRC: 7}, &rtcp.TransportLayerCC{MediaSSRC: 7}), uint32(7))
	f.Fuzz(func(t *testing.T, b []byte, ssrc uint32) {
		got := nacks(b, ssrc, nil)
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		var want []nackPair
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == ssrc {
				for _, pr := range n.Nacks {
					want = append(want, nackPair{pr.PacketID, uint16(pr.LostPackets)})
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("nacks(%x, %d) = %v, pion reads %v", b, ssrc, got, want)
		}
	})
}
