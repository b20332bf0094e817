package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/internal/testutil"
)

// addPasskeyAuthenticator gives the tab a platform authenticator as a
// laptop's fingerprint reader is one: discoverable credentials, user
// verification that succeeds, and the PRF extension.
func addPasskeyAuthenticator(p *page) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("%s: WebAuthn.enable: %v", p.name, err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, HasPrf: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		p.t.Fatalf("%s: WebAuthn.addVirtualAuthenticator: %v", p.name, err)
	}
}

// TestWorkspacePasskey: the clinician adds a passkey (her laptop's
// fingerprint reader) in the devices dialog, logs out, and logs in again
// with the passkey alone: no e-mail address, no password. The calendar
// opens and shows the patient's name of an appointment made before, so
// the practice key came from the passkey's PRF.
func TestWorkspacePasskey(t *testing.T) {
	s := testutil.StartServer(t)
	// WebAuthn has no site at an IP address: the workspace is reached by name.
	base := "http://localhost:" + s.URL[strings.LastIndex(s.URL, ":")+1:]
	doc := setUpPracticeAt(t, s, newBrowser(t, "clinician"), base)
	addPasskeyAuthenticator(doc.page)
	doc.newAppointment("Erika Mustermann")

	doc.do("open devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#devices-open`)))
	doc.waitFor("passkey section", `document.getElementById('devices-dialog').open && !document.getElementById('passkey-add-form').hidden && !document.getElementById('passkeys-empty').hidden`,
		`document.getElementById('devices-dialog').innerText`, 10*time.Second)
	doc.checkAccessibleNames("devices dialog with passkeys")
	doc.do("add passkey", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#passkey-label`), "Laptop Sprechzimmer"),
		chromedp.Click(chromedp.CSS(`#passkey-add`)),
	)
	doc.waitFor("passkey listed with the key", `document.querySelector('#passkeys-list li.passkey[data-prf="true"]') !== null`,
		`document.getElementById('passkeys').innerText`, 20*time.Second)
	if txt := mustEval[string](doc.page, `document.getElementById('passkeys').innerText`); !strings.Contains(txt, "Laptop Sprechzimmer") {
		t.Errorf("the passkey list shows %q, want the name given", txt)
	}
	doc.screenshot("ws-30-passkey-added")
	doc.do("close devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#devices-close`)))

	doc.do("log out", 5*time.Second, chromedp.Click(chromedp.CSS(`#logout`)))
	doc.waitFor("login screen", `document.body.dataset.screen === 'login'`, `document.body.dataset.screen`, 10*time.Second)
	doc.waitFor("passkey button", `!document.getElementById('login-passkey').hidden`, `document.getElementById('login-passkey-row').outerHTML`, 5*time.Second)
	doc.checkAccessibleNames("login with passkey")
	doc.do("log in with the passkey", 5*time.Second, chromedp.Click(chromedp.CSS(`#login-passkey`)))
	doc.waitFor("calendar", `document.body.dataset.screen === 'calendar'`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 30*time.Second)
	doc.waitFor("appointment readable", entryJS("Erika Mustermann")+` !== undefined`, `document.body.innerText.slice(0, 600)`, 15*time.Second)
	if v := mustEval[string](doc.page, `document.getElementById('login-password').value + document.getElementById('unlock-password').value`); v != "" {
		t.Errorf("a password field holds %q after a passkey login", v)
	}
	path := doc.screenshot("ws-passkey")
	if path != "" {
		_ = os.Rename(path, filepath.Join(artifactsDir, "ws-passkey.png"))
	}
	doc.checkConsole()
}
