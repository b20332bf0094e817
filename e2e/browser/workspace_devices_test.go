package browser

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/internal/testutil"
)

// TestWorkspaceDeviceApproval: the clinician logs in on a second
// computer. The password is right, but that browser shows a code and
// nothing of the practice; her first browser announces the new one, and
// she types the code there (once wrong). The second browser then opens
// the calendar by itself, decrypting the appointment made on the first,
// without asking for the password again. Removing it from the first
// browser logs it out.
func TestWorkspaceDeviceApproval(t *testing.T) {
	s := testutil.StartServer(t)
	first := setUpPractice(t, s, newBrowser(t, "clinician"))
	first.newAppointment("Erika Mustermann")

	second := &workspace{newBrowser(t, "second-computer").newPage("second")}
	(&participant{page: second.page}).logProblemsOnFailure(t)
	second.do("open workspace", 20*time.Second, chromedp.Navigate(s.URL+"/practice/"))
	second.waitFor("login screen", `document.body.dataset.screen === 'login'`, `document.body.dataset.screen`, 15*time.Second)
	second.do("log in", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#login-email`), "anna.berg@praxis.example"),
		chromedp.SetValue(chromedp.CSS(`#login-password`), "Sprechstunde-2026"),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	)
	second.waitFor("device screen", `document.body.dataset.screen === 'device'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 60*time.Second)
	second.checkAccessibleNames("device screen")
	second.screenshot("ws-20-device-pending")
	code := strings.ReplaceAll(mustEval[string](second.page, `document.getElementById('device-code').textContent`), " ", "")
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("the pending browser shows code %q, want six digits", code)
	}
	if txt := mustEval[string](second.page, `document.body.innerText`); strings.Contains(txt, "Erika") {
		t.Error("the pending browser shows patient data")
	}

	// The first browser hears of it over the events stream.
	first.waitFor("new-device banner", `!document.getElementById('device-banner').hidden`, `document.getElementById('device-banner').outerHTML`, 15*time.Second)
	first.screenshot("ws-21-device-banner")
	first.do("open devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#device-banner-open`)))
	first.waitFor("pending device listed", `document.querySelector('#devices-dialog li.device-pending .device-code-input') !== null`, `document.getElementById('devices-dialog').innerText`, 10*time.Second)
	first.checkAccessibleNames("devices dialog")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	first.do("wrong code", 5*time.Second, chromedp.Evaluate[chromedp.Void](typeCodeJS(wrong)))
	first.waitFor("wrong code refused", `!document.getElementById('devices-error').hidden && /4/.test(document.getElementById('devices-error').textContent)`, `document.getElementById('devices-error').textContent`, 10*time.Second)
	first.do("right code", 5*time.Second, chromedp.Evaluate[chromedp.Void](typeCodeJS(code[:3]+" "+code[3:])))
	first.waitFor("approved", `document.querySelector('#devices-dialog li.device-pending') === null && document.querySelectorAll('#devices-dialog li.device').length === 2`, `document.getElementById('devices-dialog').innerText`, 10*time.Second)
	first.screenshot("ws-22-devices")

	// The second browser moves on by itself and reads the appointment.
	second.waitFor("calendar on the approved browser", `document.body.dataset.screen === 'calendar'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 20*time.Second)
	second.waitFor("appointment readable", entryJS("Erika Mustermann")+` !== undefined`, `document.body.innerText.slice(0, 600)`, 15*time.Second)
	// The second computer is a tablet: the calendar fits without
	// sideways scrolling, portrait and landscape.
	for _, size := range [][2]int64{{768, 1024}, {1024, 768}} {
		second.do("tablet size", 5*time.Second, chromedp.EmulateViewport(size[0], size[1], chromedp.EmulateScale(1)))
		second.waitFor("fits the tablet", `document.documentElement.scrollWidth <= window.innerWidth`, `document.documentElement.scrollWidth + ' > ' + window.innerWidth`, 5*time.Second)
		second.screenshot(fmt.Sprintf("ws-23-tablet-%dx%d", size[0], size[1]))
	}
	first.waitFor("banner gone", `document.getElementById('device-banner').hidden`, `document.getElementById('device-banner').outerHTML`, 5*time.Second)

	// Removing it from the first browser ends the second's session.
	first.do("remove second", 5*time.Second, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#devices-dialog li.device')].find((li) => !li.querySelector('.device-current')).querySelector('.device-remove').click()`))
	first.waitFor("confirm", `document.getElementById('confirm-dialog').open`, `document.body.innerText.slice(0, 300)`, 5*time.Second)
	first.do("confirm remove", 5*time.Second, chromedp.Click(chromedp.CSS(`#confirm-yes`)))
	first.waitFor("one device left", `document.querySelectorAll('#devices-dialog li.device').length === 1`, `document.getElementById('devices-dialog').innerText`, 10*time.Second)
	second.do("refresh", 5*time.Second, chromedp.Evaluate[chromedp.Void](`window.konsilWorkspace.refresh()`))
	second.waitFor("logged out", `document.body.dataset.screen === 'login'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 200)`, 15*time.Second)
	second.checkConsole("401", "403")
	first.checkConsole("400")
}

// typeCodeJS types a code into the pending device's field and submits
// it, in one step: the list may be redrawn between two CDP calls.
func typeCodeJS(code string) string {
	return fmt.Sprintf(`(() => {
		const li = document.querySelector('#devices-dialog li.device-pending');
		li.querySelector('.device-code-input').value = %q;
		li.querySelector('.device-approve').click();
	})()`, code)
}
