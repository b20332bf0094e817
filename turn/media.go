package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/internal/pionlog"
)

// MediaConfig is where the SFU takes media: one UDP port for every
// participant (ICE UDP mux) and one TCP port (ICE-TCP, passive), so an
// operator opens two media ports, not a range of thousands.
type MediaConfig struct {
	// UDPAddr is the UDP mux address, e.g. ":7882"; empty: no UDP. An
	// address without an IP listens on every interface and needs a port.
	UDPAddr string
	// TCPAddr is the ICE-TCP address, e.g. ":7881"; empty: no ICE-TCP.
	TCPAddr string
	// NAT1To1IPs replace the host candidates' addresses, for a host
	// behind 1:1 NAT (a cloud VM with a public IP on the router).
	NAT1To1IPs []string
}

// tcpReadBuffer is ICE-TCP's per-connection read buffer: a few full-size
// packets, as pion recommends.
const tcpReadBuffer = 8

// MediaMux holds the SFU's two media sockets, shared by all its
// PeerConnections. It is immutable after ListenMedia; Close once.
type MediaMux struct {
	cfg     MediaConfig
	log     *slog.Logger
	udp     ice.UDPMux
	tcp     ice.TCPMux
	udpAddr net.Addr
	tcpAddr net.Addr
	ip      netip.Addr // the one IP both listen on; invalid: all interfaces
	// udpConn is the UDP socket when there is one (a specific IP), for
	// tests to look at its buffers.
	udpConn *net.UDPConn
}

// ListenMedia opens the media ports of cfg.
func ListenMedia(cfg MediaConfig, log *slog.Logger) (*MediaMux, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.UDPAddr == "" && cfg.TCPAddr == "" {
		return nil, errors.New("media: no port: set a UDP or TCP address")
	}
	m := &MediaMux{cfg: cfg, log: log}
	loggers := pionlog.Factory(log, slog.LevelDebug)
	if cfg.UDPAddr != "" {
		if err := m.listenUDP(loggers); err != nil {
			return nil, err
		}
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			m.Close()
			return nil, &ListenError{Transport: "ice-tcp", Addr: cfg.TCPAddr, Err: err}
		}
		m.tcpAddr = ln.Addr()
		m.noteIP(ln.Addr().(*net.TCPAddr).IP)
		m.tcp = webrtc.NewICETCPMux(loggers.NewLogger("ice-tcp"), ln, tcpReadBuffer)
	}
	return m, nil
}

// udpSocketBuffer is the receive and send buffer asked for the SFU's UDP
// socket, which carries every participant's media, RTCP and handshakes:
// at the default 208 KiB a 50 ms stall of its reader at 30 Mbit/s in
// overflows it, and what the kernel drops then is lost media and, during
// joins, DTLS handshake flights that pion resends only after a second
// and more.
const udpSocketBuffer = 4 << 20

// listenUDP opens one socket on a given IP, or one per interface for an
// address without one: a single socket on 0.0.0.0 cannot tell which
// local address a packet came to, which ICE needs.
func (m *MediaMux) listenUDP(loggers logging.LoggerFactory) error {
	addr, err := net.ResolveUDPAddr("udp", m.cfg.UDPAddr)
	if err != nil {
		return &ListenError{Transport: "ice-udp", Addr: m.cfg.UDPAddr, Err: err}
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		if addr.Port == 0 {
			return &ListenError{Transport: "ice-udp", Addr: m.cfg.UDPAddr, Err: errors.New("listening on all interfaces needs a fixed port")}
		}
		mux, err := ice.NewMultiUDPMuxFromPort(addr.Port, ice.UDPMuxFromPortWithLogger(loggers.NewLogger("ice-udp")),
			ice.UDPMuxFromPortWithReadBufferSize(udpSocketBuffer), ice.UDPMuxFromPortWithWriteBufferSize(udpSocketBuffer))
		if err != nil {
			return &ListenError{Transport: "ice-udp", Addr: m.cfg.UDPAddr, Err: err}
		}
		m.udp, m.udpAddr = mux, addr
		return nil
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return &ListenError{Transport: "ice-udp", Addr: m.cfg.UDPAddr, Err: err}
	}
	// Best effort: the kernel caps the sizes at net.core.rmem_max and
	// wmem_max (docs/OPERATIONS.md) and says nothing when it does.
	_ = conn.SetReadBuffer(udpSocketBuffer)
	_ = conn.SetWriteBuffer(udpSocketBuffer)
	m.udpConn = conn
	m.udpAddr = conn.LocalAddr()
	m.noteIP(addr.IP)
	m.udp = webrtc.NewICEUDPMux(loggers.NewLogger("ice-udp"), conn)
	return nil
}

// noteIP remembers a specific listen IP: candidates must then carry it
// and no other.
func (m *MediaMux) noteIP(ip net.IP) {
	if a := netipOf(ip); a.IsValid() && !a.IsUnspecified() {
		m.ip = a
	}
}

// UDPAddr is the UDP mux's address (nil without one).
func (m *MediaMux) UDPAddr() net.Addr { return m.udpAddr }

// TCPAddr is the ICE-TCP address (nil without one).
func (m *MediaMux) TCPAddr() net.Addr { return m.tcpAddr }

// SettingEngine returns a SettingEngine whose ICE uses only the two media
// ports, with host candidates rewritten to the NAT 1:1 IPs. The SFU adds
// its own settings (codecs, interceptors) on top.
func (m *MediaMux) SettingEngine() (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionlog.Factory(m.log, slog.LevelDebug)
	var types []webrtc.NetworkType
	v6 := !m.ip.IsValid() || m.ip.Is6()
	v4 := !m.ip.IsValid() || m.ip.Is4()
	if m.udp != nil {
		se.SetICEUDPMux(m.udp)
		if v4 {
			types = append(types, webrtc.NetworkTypeUDP4)
		}
		if v6 {
			types = append(types, webrtc.NetworkTypeUDP6)
		}
	}
	if m.tcp != nil {
		se.SetICETCPMux(m.tcp)
		if v4 {
			types = append(types, webrtc.NetworkTypeTCP4)
		}
		if v6 {
			types = append(types, webrtc.NetworkTypeTCP6)
		}
	}
	se.SetNetworkTypes(types)
	// The SFU has a routable address; mDNS names would only cost
	// browsers a lookup.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if m.ip.IsValid() {
		ip := net.IP(m.ip.AsSlice())
		se.SetIPFilter(func(c net.IP) bool { return c.Equal(ip) })
		if m.ip.IsLoopback() {
			se.SetIncludeLoopbackCandidate(true)
		}
	}
	if len(m.cfg.NAT1To1IPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: m.cfg.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		})
		if err != nil {
			return se, fmt.Errorf("media: NAT 1:1 IPs %v: %w", m.cfg.NAT1To1IPs, err)
		}
	}
	return se, nil
}

// Close closes both ports.
func (m *MediaMux) Close() error {
	var errs []error
	if m.udp != nil {
		errs = append(errs, m.udp.Close())
	}
	if m.tcp != nil {
		errs = append(errs, m.tcp.Close())
	}
	return errors.Join(errs...)
}
