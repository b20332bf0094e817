package turn

import (
	"net"
	"net/netip"
)

// Why a peer address is refused; the values are the reason label of
// konsil_turn_refusals_total.
const (
	reasonPeerDenied = "peer_denied" // loopback, private, link-local, multicast, unspecified, reserved
	reasonOwnAddress = "own_address" // one of this host's addresses
	reasonOwnPort    = "own_port"    // our relay address, but not a live relay port
)

// deniedPrefixes are the ranges a relay must not reach from the outside:
// they are the server's own network, not the internet. The list follows
// coturn's recommended denied-peer-ip set and RFC 6890's special-purpose
// registries; the checks in special() cover loopback, private, link-local,
// multicast and unspecified for both families.
var deniedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598): the provider's side
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and 255.255.255.255
		"64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
		"100::/64",        // discard-only
		"2001:db8::/32",   // documentation
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// peerPolicy decides which peers an allocation may talk to. It is
// immutable after construction.
type peerPolicy struct {
	allow []netip.Prefix
	// own are this host's addresses at start: relaying to them would let
	// a client reach services bound there (the API, SSH, a database).
	own map[netip.Addr]bool
	// relay is the address announced in XOR-RELAYED-ADDRESS. Peers'
	// relay candidates live there, so it must stay reachable, but only
	// on live relay ports (relays.guard).
	relay netip.Addr
}

func newPeerPolicy(allow []netip.Prefix, relay netip.Addr, own []netip.Addr) *peerPolicy {
	p := &peerPolicy{allow: allow, own: map[netip.Addr]bool{}, relay: relay.Unmap()}
	for _, a := range own {
		p.own[a.Unmap()] = true
	}
	return p
}

// hostAddrs lists the addresses of this host's interfaces.
func hostAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// check returns "" when a permission for ip may be granted, else the
// reason it may not. Order matters: the allow-list wins over everything
// (tests on 127.0.0.1, lab networks); then the relay address, which
// peers' relay candidates use, unless it is loopback (a loopback relay is
// a test or a lab, and says so with the allow-list); then this host's
// other addresses; then the special-purpose ranges.
func (p *peerPolicy) check(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case p.allowed(ip):
		return ""
	case ip == p.relay && !ip.IsLoopback():
		return ""
	case p.own[ip]:
		return reasonOwnAddress
	case special(ip):
		return reasonPeerDenied
	}
	return ""
}

func (p *peerPolicy) allowed(ip netip.Addr) bool {
	for _, pre := range p.allow {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

// guarded reports whether writes to ip must go to a live relay port: ip
// is the relay address or another of ours, and not allow-listed.
func (p *peerPolicy) guarded(ip netip.Addr) bool {
	ip = ip.Unmap()
	return (ip == p.relay || p.own[ip]) && !p.allowed(ip)
}

// special reports addresses that are not somebody else's host on the
// internet.
func special(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() {
		return true
	}
	if ip.Is6() {
		b := ip.As16()
		// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address
		// that a gateway would relay to: judge that one.
		if nat64.Contains(ip) {
			return special(netip.AddrFrom4([4]byte(b[12:16])))
		}
		if b[0] == 0x20 && b[1] == 0x02 {
			return special(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, pre := range deniedPrefixes {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

// netipOf converts a net.IP (4- or 16-byte) to an unmapped netip.Addr.
func netipOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}
