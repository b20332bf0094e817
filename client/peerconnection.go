package client

import (
	"log/slog"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/internal/pionlog"
	"github.com/konsil/konsil/protocol"
)

// newAPI builds the pion API every PeerConnection of a Call comes from:
// default codecs (VP8, VP9, H.264, AV1, Opus…) and default interceptors
// (NACK generator and responder, RTCP sender and receiver reports, TWCC).
func newAPI(opts Options, log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(settingEngine(opts, log)),
	), nil
}

// settingEngine confines ICE to 127.0.0.1 over UDP when LoopbackOnly is
// set. Tests and the bench on one machine want exactly one candidate pair:
// every extra interface (docker bridges, IPv6 link-local) adds checks and
// seconds to the connect time, and mDNS would need a multicast socket.
func settingEngine(opts Options, log *slog.Logger) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionlog.Factory(log, slog.LevelWarn)
	if opts.LoopbackOnly {
		loopback := net.IPv4(127, 0, 0, 1)
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if opts.RelayOnly {
		// pion holds back a relay pair for 2 s by default, in case a
		// better pair turns up; with relay candidates only none will.
		se.SetRelayAcceptanceMinWait(0)
	}
	return se
}

// iceServers converts the join response's servers, shaped like
// RTCIceServer, to pion's.
func iceServers(in []protocol.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

func toProtocolCandidate(c webrtc.ICECandidateInit) protocol.Candidate {
	return protocol.Candidate{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
}

func fromProtocolCandidate(c protocol.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
}
