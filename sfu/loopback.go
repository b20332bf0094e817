package sfu

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// LoopbackSettingEngine confines ICE to 127.0.0.1 over UDP, for tests and
// benchmarks on one machine: one candidate pair, no interface scan beyond
// loopback, no mDNS socket.
func LoopbackSettingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	loopback := net.IPv4(127, 0, 0, 1)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}
