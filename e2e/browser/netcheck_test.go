package browser

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/turn"
)

// netStates reads the three network check rows.
const netStates = `['net-udp', 'net-relay-udp', 'net-relay-tcp'].map((id) => document.getElementById(id).dataset.state).join(' ')`

// TestNetworkCheckAgainstTURN: the pre-call check reaches the server's
// embedded STUN/TURN relay (on 127.0.0.1) directly over UDP, relayed over
// UDP and relayed over TCP, and says the network is ready. With the UDP
// listener off, only TCP relay remains and the advice says so.
func TestNetworkCheckAgainstTURN(t *testing.T) {
	b := newBrowser(t, "one")
	cases := []struct {
		name   string
		opt    testutil.Option
		states string
		advice string
		shot   string
	}{
		{"all", testutil.WithTURN(), "ok ok ok", "Ihr Netzwerk ist bereit", "11-netcheck-all"},
		{"tcp-only", testutil.WithTURN(func(c *turn.Config) { c.UDPAddr = "" }), "skip skip ok", "nur TCP", "12-netcheck-tcp-only"},
	}
	for _, c := range cases {
		s := testutil.StartServer(t, c.opt)
		room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
		p := &participant{page: b.newPage(c.name), link: link(s, room.Participants[0], newSecret())}
		p.open()
		p.waitFor(c.name+": network check", `!document.getElementById('net-rerun').disabled`, netStates, 30*time.Second)
		if got := mustEval[string](p.page, netStates); got != c.states {
			t.Errorf("%s: network check %q, want %q", c.name, got, c.states)
		}
		p.waitFor(c.name+": advice", `document.getElementById('net-advice').textContent.includes(`+"`"+c.advice+"`"+`)`, `document.getElementById('net-advice').textContent`, time.Second)
		p.screenshot(c.shot)
		p.do("close", 5*time.Second, chromedp.Navigate("about:blank"))
	}
}
