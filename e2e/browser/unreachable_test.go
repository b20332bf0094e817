package browser

import (
	"testing"
	"time"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// TestConferenceMediaServerUnreachable is a conference on a machine whose
// only interface is lo, with the SFU on default settings: it offers no
// candidate the browser can reach (pion leaves loopback out). The page
// must not say "Connecting…" forever: after a bound it tells the user
// that the media server cannot be reached.
func TestConferenceMediaServerUnreachable(t *testing.T) {
	s := testutil.StartServer(t) // no SFU media ports: default gathering
	room := s.CreateRoom(t, 3, protocol.RoleHost, protocol.RoleGuest, protocol.RoleGuest)
	p := &participant{page: newBrowser(t, "alone").newPage("alone"), link: link(s, room.Participants[0], newSecret())}
	p.logProblemsOnFailure(t)
	p.open()
	p.enter("Dr. Anna Berg")
	p.waitFor("media server unreachable", `document.body.dataset.callState === 'unreachable' && !document.getElementById('call-status').hidden && document.getElementById('call-status').textContent.includes('Medienserver')`,
		`document.body.dataset.callState + ' ' + document.getElementById('call-status').textContent`, 40*time.Second)
	p.screenshot("sfu-08-unreachable")
	p.checkConsole()
}
