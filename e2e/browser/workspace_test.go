package browser

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/turn"
)

// workspace is the clinician's workspace tab.
type workspace struct {
	*page
}

const wsStateJS = `JSON.stringify(window.konsilWorkspace && window.konsilWorkspace.state())`

// setUpPractice opens the setup link and lands in the calendar.
func setUpPractice(t testing.TB, s *testutil.Server, b *browser) *workspace {
	t.Helper()
	return setUpPracticeAt(t, s, b, s.URL)
}

// setUpPracticeAt is setUpPractice with the server reached at base (a
// passkey needs a name such as http://localhost:PORT, not an address).
func setUpPracticeAt(t testing.TB, s *testutil.Server, b *browser, base string) *workspace {
	t.Helper()
	doc := &workspace{b.newPage("clinician")}
	(&participant{page: doc.page}).logProblemsOnFailure(t)
	doc.do("open setup link", 20*time.Second, chromedp.Navigate(base+"/practice/#setup="+s.SetupToken))
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
	return doc
}

// newAppointment makes an appointment for today: a consultation, or a
// conference when labels name its invitees.
func (doc *workspace) newAppointment(patient string, labels ...string) {
	t := doc.t
	t.Helper()
	doc.do("new appointment", 10*time.Second, chromedp.Click(chromedp.CSS(`#new-appointment`)))
	doc.waitFor("appointment dialog", `document.getElementById('appt-patient') && document.getElementById('appt-patient').offsetParent !== null`, `document.body.innerText.slice(0, 300)`, 5*time.Second)
	doc.do("fill in appointment", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#appt-patient`), patient),
		chromedp.SetValue(chromedp.CSS(`#appt-notes`), "Befundbesprechung Labor"),
	)
	if len(labels) > 0 {
		doc.do("conference", 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`#appt-kind`), "conference"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('appt-kind').dispatchEvent(new Event('change', {bubbles: true}))`),
			chromedp.SetValue(chromedp.CSS(`#appt-invitees`), fmt.Sprint(len(labels))),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('appt-invitees').dispatchEvent(new Event('input', {bubbles: true})); document.getElementById('appt-invitees').dispatchEvent(new Event('change', {bubbles: true}))`),
		)
		for i, l := range labels {
			doc.do("label", 5*time.Second, chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`#appt-label-%d`, i+1)), l))
		}
	}
	doc.checkAccessibleNames("appointment dialog")
	doc.screenshot("ws-03-create")
	doc.do("save appointment", 10*time.Second, chromedp.Click(chromedp.CSS(`#appt-save`)))
	doc.waitFor("appointment in the calendar", fmt.Sprintf(`[...document.querySelectorAll('li.appointment')].some((li) => li.textContent.includes(%q))`, patient), `document.body.innerText.slice(0, 600)`, 20*time.Second)
}

// entry selects the calendar entry of a patient.
func entryJS(patient string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('li.appointment')].find((li) => li.textContent.includes(%q))`, patient)
}

// links opens the invitation panel of a patient's appointment and
// returns the guests' links, then closes it.
func (doc *workspace) links(patient string) []string {
	t := doc.t
	t.Helper()
	doc.do("open invitation", 10*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.appt-invite').click()`))
	doc.waitFor("guest links", `[...document.querySelectorAll('.invite-link')].some((e) => e.value.includes('/r/') && e.value.includes('#k='))`, `document.body.innerText.slice(0, 600)`, 10*time.Second)
	out := mustEval[[]string](doc.page, `[...document.querySelectorAll('#invite-dialog .invite-link')].map((e) => e.value).filter((v) => v.includes('#k='))`)
	mailto := mustEval[string](doc.page, `(document.querySelector('#invite-dialog .invite-mailto') || {}).href || ''`)
	if !strings.HasPrefix(mailto, "mailto:") || !strings.Contains(mailto, "%23k%3D") {
		t.Errorf("mailto %q: want the link with its fragment, encoded", mailto)
	}
	doc.screenshot("ws-05-invitation")
	doc.do("close invitation", 5*time.Second, chromedp.KeyEvent(kb.Escape))
	return out
}

// start clicks Start on a patient's appointment and returns the call
// window as a participant.
func (doc *workspace) start(patient string) *participant {
	t := doc.t
	t.Helper()
	popupID := chromedp.WaitNewTarget(doc.ctx, func(info *target.Info) bool { return strings.Contains(info.URL, "/r/") })
	doc.do("start", 10*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.appt-start').click()`))
	select {
	case id := <-popupID:
		host := &participant{page: doc.attach("call", id)}
		host.logProblemsOnFailure(t)
		host.waitFor("pre-call check", `document.body.dataset.screen === 'screen-prejoin'`, `document.body.dataset.screen + ' ' + (document.body.dataset.message || '')`, 20*time.Second)
		host.enter("Dr. Anna Berg")
		return host
	case <-time.After(15 * time.Second):
		doc.screenshot("FAILED-start")
		t.Fatal("Start opened no call window")
	}
	return nil
}

// waits checks that a patient's page shows the waiting room with the
// clinician's name.
func (p *participant) waits(status string) {
	p.t.Helper()
	p.waitFor("waiting room", fmt.Sprintf(`!document.getElementById('waiting-room').hidden && document.getElementById('waiting-host').textContent.includes('Dr. Anna Berg') && document.getElementById('waiting-host').textContent.includes(%q)`, status),
		`document.getElementById('waiting-room').hidden + ' ' + document.getElementById('waiting-host').textContent + ' ' + document.body.dataset.callState`, 20*time.Second)
}

// TestWorkspaceConsultation is a clinician's first morning: she opens
// the setup link `konsil serve` printed, names the practice, makes an
// appointment for today for Erika Mustermann and copies the patient's
// link from the invitation. The patient opens it first and waits in the
// waiting room, which names the clinician as online; the workspace
// shows her waiting with her device check; the clinician starts the
// call in the compact window and lets her in; both see each other.
// She sends her back to the waiting room and lets her in again. Closing
// the call marks the appointment done. A second patient is declined
// with a message, which he reads. Afterwards neither the store file nor
// the server log holds a patient's name, the notes or a room secret.
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
	doc := setUpPractice(t, s, newBrowser(t, "clinician"))
	doc.screenshot("ws-02-calendar-empty")
	doc.newAppointment(patient)
	doc.newAppointment("Max Muster")
	doc.screenshot("ws-04-calendar")
	patientLink := doc.links(patient)[0]
	otherLink := doc.links("Max Muster")[0]

	// The patient comes early and waits.
	pb := newBrowser(t, "patient")
	pat := &participant{page: pb.newPage("patient"), link: patientLink}
	pat.logProblemsOnFailure(t)
	pat.open()
	pat.enter(patient)
	pat.waits("online")
	pat.screenshot("ws-06-waiting")
	doc.waitFor("patient shown waiting", entryJS(patient)+`.querySelector('.lobby-admit') !== null`, `document.body.innerText.slice(0, 800)`, 15*time.Second)
	doc.screenshot("ws-06-waiting-room")

	host := doc.start(patient)
	callStarted := time.Now()
	// Starting lets nobody in by itself.
	time.Sleep(2 * time.Second)
	pat.waits("online")
	doc.do("admit", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.lobby-admit').click()`))
	host.seesRemoteVideo()
	pat.seesRemoteVideo()
	host.screenshot("ws-07-call")
	doc.screenshot("ws-07-workspace-during-call")

	// Back to the waiting room, and in again.
	doc.waitFor("send-back button", entryJS(patient)+`.querySelector('.lobby-send-back') !== null`, `document.body.innerText.slice(0, 800)`, 15*time.Second)
	doc.do("send back", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.lobby-send-back').click()`))
	pat.waits("online")
	doc.waitFor("patient waiting again", entryJS(patient)+`.querySelector('.lobby-admit') !== null`, `document.body.innerText.slice(0, 800)`, 15*time.Second)
	doc.do("admit again", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.lobby-admit').click()`))
	host.seesRemoteVideo()
	pat.seesRemoteVideo()

	// A second patient is declined with a message.
	other := &participant{page: pb.newPage("declined"), link: otherLink}
	other.logProblemsOnFailure(t)
	other.open()
	other.enter("Max Muster")
	other.waits("Gespräch") // "ist noch in einem anderen Gespräch"
	doc.waitFor("second patient waiting", entryJS("Max Muster")+`.querySelector('.lobby-decline') !== null`, `document.body.innerText.slice(0, 800)`, 15*time.Second)
	doc.do("decline", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS("Max Muster")+`.querySelector('.lobby-decline').click()`))
	doc.waitFor("decline dialog", `document.getElementById('decline-dialog').open`, `document.body.innerText.slice(0, 300)`, 5*time.Second)
	doc.do("decline with a message", 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#decline-text`), "Bitte rufen Sie uns morgen an."),
		chromedp.Click(chromedp.CSS(`#decline-send`)),
	)
	other.waitFor("declined with the message", `document.body.dataset.message === 'declined' && document.body.innerText.includes('Bitte rufen Sie uns morgen an.')`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 15*time.Second)
	other.screenshot("ws-08-declined")

	// Ending the call marks the appointment done.
	host.do("leave", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-leave`)))
	// A call window open for 10 s or less marks nothing (callwindow.js:
	// it was no call); this test's call can be that short.
	if d := 11*time.Second - time.Since(callStarted); d > 0 {
		time.Sleep(d)
	}
	_, _ = eval[bool](host.page, `(window.close(), true)`)
	doc.waitFor("appointment done", fmt.Sprintf(`window.konsilWorkspace.state().appointments.some((a) => a.patient === %q && a.status === 'done')`, patient), wsStateJS, 30*time.Second)
	doc.screenshot("ws-09-done")
	doc.checkConsole()
	pat.checkConsole()

	// What the server kept: no patient name in the store or the log.
	s.Stop(t)
	db, err := os.ReadFile(filepath.Join(dataDir, "konsil.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{patient, "Mustermann", "Max Muster", "Befundbesprechung", "Bitte rufen Sie uns", patientLink[strings.Index(patientLink, "#k=")+3:]} {
		if bytes.Contains(db, []byte(secret)) {
			t.Errorf("the store holds %q", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// TestWorkspaceConference is a case conference from the calendar: a
// wrong password first, then the clinician logs in, schedules a
// conference with two invitees, both wait, "admit all" lets them in,
// and all three decode each other through the SFU.
func TestWorkspaceConference(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.SFUMedia = turn.MediaConfig{UDPAddr: "127.0.0.1:0"}
	})
	cb := newBrowser(t, "clinician")
	doc := setUpPractice(t, s, cb)

	// Log out, a wrong password, then the right one.
	doc.do("log out", 5*time.Second, chromedp.Click(chromedp.CSS(`#logout`)))
	doc.waitFor("login screen", `document.body.dataset.screen === 'login'`, `document.body.dataset.screen`, 10*time.Second)
	doc.do("wrong password", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#login-email`), "anna.berg@praxis.example"),
		chromedp.SetValue(chromedp.CSS(`#login-password`), "Sprechstunde-2025"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	)
	doc.waitFor("wrong password refused", `!document.getElementById('login-error').hidden && document.getElementById('login-error').textContent.length > 0`, `document.body.innerText.slice(0, 300)`, 60*time.Second)
	doc.screenshot("ws-10-wrong-password")
	doc.do("right password", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#login-password`), "Sprechstunde-2026"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	)
	doc.waitFor("calendar", `document.body.dataset.screen === 'calendar'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 60*time.Second)

	doc.newAppointment("Fallkonferenz Herr K.", "Dr. Ben Kraus", "Dolmetscherin")
	links := doc.links("Fallkonferenz Herr K.")
	if len(links) != 2 {
		t.Fatalf("%d guest links, want 2", len(links))
	}
	gb := newBrowser(t, "guests")
	var guests []*participant
	for i, l := range links {
		g := &participant{page: gb.newPage(fmt.Sprintf("guest%d", i+1)), link: l}
		g.logProblemsOnFailure(t)
		g.open()
		g.enter([]string{"Dr. Ben Kraus", "Dolmetscherin"}[i])
		g.waits("online")
		guests = append(guests, g)
	}
	doc.waitFor("both waiting", entryJS("Fallkonferenz Herr K.")+`.querySelector('.lobby-admit-all') !== null`, `document.body.innerText.slice(0, 800)`, 15*time.Second)
	doc.screenshot("ws-11-conference-waiting")
	host := doc.start("Fallkonferenz Herr K.")
	doc.do("admit all", 5*time.Second, chromedp.Evaluate[chromedp.Void](entryJS("Fallkonferenz Herr K.")+`.querySelector('.lobby-admit-all').click()`))
	for _, p := range append([]*participant{host}, guests...) {
		p.seesEveryone(2)
	}
	host.screenshot("ws-12-conference")
	doc.checkConsole("401") // the wrong password's refusal
}
