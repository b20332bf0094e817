package browser

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/server"
)

// TestWorkspaceConsultation is a clinician's first morning: she opens
// the setup link `konsil serve` printed, names the practice, makes an
// appointment for today for Erika Mustermann, copies the patient's link
// from the invitation, and starts the call from the calendar in the
// compact window; the patient opens the link and both see each other.
// Closing the call marks the appointment done. Afterwards neither the
// store file nor the server log holds the patient's name.
func TestWorkspaceConsultation(t *testing.T) {
	const patient = "Erika Mustermann"
	dataDir := t.TempDir()
	var logs testutil.SyncBuffer
	s := testutil.StartServer(t, func(c *server.Config) {
		c.DataDir = dataDir
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	if s.SetupToken == "" {
		t.Fatal("no setup link for the default practice")
	}
	doc := newBrowser(t, "clinician").newPage("clinician")
	doc.do("open setup link", 20*time.Second, chromedp.Navigate(s.URL+"/practice/#setup="+s.SetupToken))
	doc.waitFor("setup screen", `document.body.dataset.screen === 'setup'`, `document.body.dataset.screen`, 15*time.Second)
	doc.checkAccessibleNames("setup")
	doc.screenshot("ws-01-setup")
	doc.do("fill in setup", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#setup-practice`), "Praxis Dr. Berg"),
		chromedp.SetValue(chromedp.CSS(`#setup-name`), "Dr. Anna Berg"),
		chromedp.SetValue(chromedp.CSS(`#setup-email`), "anna.berg@praxis.example"),
		chromedp.SetValue(chromedp.CSS(`#setup-password`), "Sprechstunde-2026"),
		chromedp.SetValue(chromedp.CSS(`#setup-password2`), "Sprechstunde-2026"),
		chromedp.Click(chromedp.CSS(`#setup-submit`)),
	)
	started := time.Now()
	doc.waitFor("calendar", `document.body.dataset.screen === 'calendar'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 60*time.Second)
	t.Logf("setup (argon2id in the browser, two requests): %v", time.Since(started).Round(time.Millisecond))
	doc.screenshot("ws-02-calendar-empty")

	doc.do("new appointment", 10*time.Second, chromedp.Click(chromedp.CSS(`#new-appointment`)))
	doc.waitFor("appointment dialog", `document.getElementById('appt-patient') && document.getElementById('appt-patient').offsetParent !== null`, `document.body.innerText.slice(0, 300)`, 5*time.Second)
	doc.checkAccessibleNames("appointment dialog")
	doc.do("fill in appointment", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#appt-patient`), patient),
		chromedp.SetValue(chromedp.CSS(`#appt-notes`), "Befundbesprechung Labor"),
	)
	doc.screenshot("ws-03-create")
	doc.do("save appointment", 10*time.Second, chromedp.Click(chromedp.CSS(`#appt-save`)))
	doc.waitFor("appointment in the calendar", `[...document.querySelectorAll('li.appointment')].some((li) => li.textContent.includes('Erika Mustermann'))`, `document.body.innerText.slice(0, 600)`, 20*time.Second)
	doc.screenshot("ws-04-calendar")

	doc.do("open invitation", 10*time.Second, chromedp.Click(chromedp.CSS(`li.appointment .appt-invite`)))
	doc.waitFor("patient link", `[...document.querySelectorAll('.invite-link')].some((e) => e.value.includes('/r/') && e.value.includes('#k='))`, `document.body.innerText.slice(0, 600)`, 10*time.Second)
	patientLink := mustEval[string](doc, `[...document.querySelectorAll('.invite-link')].find((e) => e.value.includes('#k=')).value`)
	mailto := mustEval[string](doc, `(document.querySelector('.invite-mailto') || {}).href || ''`)
	if !strings.HasPrefix(mailto, "mailto:") || !strings.Contains(mailto, "%23k%3D") {
		t.Errorf("mailto %q: want the link with its fragment, encoded", mailto)
	}
	doc.screenshot("ws-05-invitation")
	doc.do("close invitation", 5*time.Second, chromedp.KeyEvent("\x1b"))

	// The patient opens the link before the clinician starts.
	pat := &participant{page: newBrowser(t, "patient").newPage("patient"), link: patientLink}
	pat.logProblemsOnFailure(t)
	pat.open()
	pat.enter(patient)

	popupID := chromedp.WaitNewTarget(doc.ctx, func(info *target.Info) bool { return strings.Contains(info.URL, "/r/") })
	doc.do("start", 10*time.Second, chromedp.Click(chromedp.CSS(`li.appointment .appt-start`)))
	startedCall := time.Now()
	var call *page
	select {
	case id := <-popupID:
		call = doc.attach("call", id)
	case <-time.After(15 * time.Second):
		doc.screenshot("FAILED-start")
		t.Fatal("Start opened no call window")
	}
	host := &participant{page: call}
	host.logProblemsOnFailure(t)
	host.waitFor("pre-call check", `document.body.dataset.screen === 'screen-prejoin'`, `document.body.dataset.screen + ' ' + (document.body.dataset.message || '')`, 20*time.Second)
	host.enter("Dr. Anna Berg")
	host.seesRemoteVideo()
	pat.seesRemoteVideo()
	host.screenshot("ws-06-call")
	doc.screenshot("ws-06-workspace-during-call")

	// Ending the call marks the appointment done.
	host.do("leave", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-leave`)))
	// The clinician closes the small window (a window the workspace
	// opened may close itself). A window open for less than 10 s was no
	// call and marks nothing (callwindow.js).
	if d := 11*time.Second - time.Since(startedCall); d > 0 {
		time.Sleep(d)
	}
	_, _ = eval[bool](call, `(window.close(), true)`)
	doc.waitFor("appointment done", `window.konsilWorkspace && window.konsilWorkspace.state().appointments.some((a) => a.status === 'done')`,
		`JSON.stringify(window.konsilWorkspace && window.konsilWorkspace.state())`, 30*time.Second)
	doc.screenshot("ws-07-done")
	doc.checkConsole()

	// What the server kept: no patient name in the store or the log.
	s.Stop(t)
	db, err := os.ReadFile(filepath.Join(dataDir, "konsil.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{patient, "Mustermann", "Befundbesprechung", patientLink[strings.Index(patientLink, "#k=")+3:]} {
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("the store holds %q", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
