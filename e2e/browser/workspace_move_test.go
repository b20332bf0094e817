package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// TestWorkspaceMoveAppointment: the clinician moves today's appointment
// two days ahead with the keyboard alone. The calendar shows that day
// with the appointment on it, and the link she already sent opens only
// then.
func TestWorkspaceMoveAppointment(t *testing.T) {
	s := testutil.StartServer(t)
	b := newBrowser(t, "clinician")
	doc := setUpPractice(t, s, b)
	doc.newAppointment("Erika Mustermann")
	link := doc.links("Erika Mustermann")[0]
	token := strings.SplitN(strings.SplitN(link, "/r/", 2)[1], "#", 2)[0]

	doc.do("focus Move", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS("Erika Mustermann")+`.querySelector('.appt-move').focus()`))
	doc.do("press Enter on Move", 5*time.Second, chromedp.KeyEvent(kb.Enter))
	doc.waitFor("move dialog with the day field focused", `document.getElementById('move-dialog').open && document.activeElement.id === 'move-day'`,
		`document.getElementById('move-dialog').open + ' ' + document.activeElement.id`, 5*time.Second)
	doc.checkAccessibleNames("move dialog")
	// Two days ahead in the browser's zone, as its date field counts.
	newDay := mustEval[string](doc.page, `(() => { const d = new Date(); d.setDate(d.getDate() + 2); return d.toLocaleDateString('sv'); })()`)
	doc.do("choose the day", 5*time.Second, chromedp.SetValue(chromedp.CSS(`#move-day`), newDay))
	doc.screenshot("ws-move-dialog")
	doc.do("tab to Move and press Enter", 5*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('move-save').focus()`),
		chromedp.KeyEvent(kb.Enter))
	doc.waitFor("the calendar on the new day with the appointment",
		`(() => { const s = window.konsilWorkspace.state(); return s.date === `+quoteJS(newDay)+` && s.appointments.some((a) => a.patient === 'Erika Mustermann' && new Date(a.starts_at).toLocaleDateString('sv') === `+quoteJS(newDay)+`); })() && !document.getElementById('move-dialog').open`,
		`JSON.stringify(window.konsilWorkspace.state().date) + ' ' + document.getElementById('move-error').textContent + ' ' + document.getElementById('cal-status').textContent`, 15*time.Second)
	doc.screenshot("ws-move-done")

	var e protocol.ErrorBody
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: token}, &e); code != 403 || e.Error.Code != "room_not_open" {
		t.Errorf("the sent link today, after the move: %d %+v", code, e.Error)
	}
}

func quoteJS(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }
