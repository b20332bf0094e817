package turn

import (
	"net/netip"
	"testing"
)

func TestPeerPolicy(t *testing.T) {
	relay := netip.MustParseAddr("203.0.113.7") // documentation range, standing for a public IP
	own := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("198.51.100.9"), relay}
	strict := newPeerPolicy(nil, relay, own)
	lab := newPeerPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}, relay, own)
	for _, tc := range []struct {
		ip          string
		strict, lab string // refusal reason, "" = permitted
	}{
		{"8.8.8.8", "", ""},
		{"2a00:1450:4001::1", "", ""},
		{"203.0.113.7", "", ""}, // the relay address: other relays live there
		{"198.51.100.9", reasonOwnAddress, reasonOwnAddress},
		{"10.0.0.5", reasonOwnAddress, ""},
		{"10.9.9.9", reasonPeerDenied, ""},
		{"127.0.0.1", reasonPeerDenied, ""},
		{"127.0.0.2", reasonPeerDenied, reasonPeerDenied},
		{"172.16.0.1", reasonPeerDenied, reasonPeerDenied},
		{"192.168.1.1", reasonPeerDenied, reasonPeerDenied},
		{"169.254.169.254", reasonPeerDenied, reasonPeerDenied},
		{"100.64.0.1", reasonPeerDenied, reasonPeerDenied},
		{"0.0.0.0", reasonPeerDenied, reasonPeerDenied},
		{"0.1.2.3", reasonPeerDenied, reasonPeerDenied},
		{"224.0.0.251", reasonPeerDenied, reasonPeerDenied},
		{"239.255.255.250", reasonPeerDenied, reasonPeerDenied},
		{"255.255.255.255", reasonPeerDenied, reasonPeerDenied},
		{"::", reasonPeerDenied, reasonPeerDenied},
		{"::1", reasonPeerDenied, reasonPeerDenied},
		{"fe80::1", reasonPeerDenied, reasonPeerDenied},
		{"fd00::1", reasonPeerDenied, reasonPeerDenied},
		{"ff02::1", reasonPeerDenied, reasonPeerDenied},
		{"::ffff:192.168.1.1", reasonPeerDenied, reasonPeerDenied},
		{"::ffff:10.0.0.5", reasonOwnAddress, ""},
		{"64:ff9b::c0a8:101", reasonPeerDenied, reasonPeerDenied}, // NAT64 of 192.168.1.1
		{"64:ff9b::808:808", "", ""},                              // NAT64 of 8.8.8.8
		{"2002:c0a8:101::1", reasonPeerDenied, reasonPeerDenied},  // 6to4 of 192.168.1.1
	} {
		ip := netip.MustParseAddr(tc.ip)
		if got := strict.check(ip); got != tc.strict {
			t.Errorf("default policy, %s: %q, want %q", tc.ip, got, tc.strict)
		}
		if got := lab.check(ip); got != tc.lab {
			t.Errorf("allow-list policy, %s: %q, want %q", tc.ip, got, tc.lab)
		}
	}
}

// A loopback relay address is not permitted implicitly: tests and labs
// allow-list it.
func TestLoopbackRelayNeedsAllowList(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	if got := newPeerPolicy(nil, lo, nil).check(lo); got != reasonPeerDenied {
		t.Errorf("loopback relay without allow-list: %q", got)
	}
	if got := newPeerPolicy([]netip.Prefix{netip.PrefixFrom(lo, 32)}, lo, nil).check(lo); got != "" {
		t.Errorf("allow-listed loopback relay: %q", got)
	}
}

// Writes to the relay address or the host's others must go to a live
// relay port, unless allow-listed; writes elsewhere are not guarded.
func TestGuarded(t *testing.T) {
	relay := netip.MustParseAddr("203.0.113.7")
	p := newPeerPolicy([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, relay, []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("198.51.100.9")})
	for ip, want := range map[string]bool{
		"203.0.113.7": true, "198.51.100.9": true, "10.0.0.5": false, "8.8.8.8": false,
	} {
		if got := p.guarded(netip.MustParseAddr(ip)); got != want {
			t.Errorf("guarded(%s) = %t, want %t", ip, got, want)
		}
	}
}
