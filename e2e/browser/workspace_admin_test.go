package browser

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// adminState is konsilWorkspace.state().admin (admin.js).
type adminState struct {
	Users []struct {
		ID, Name, Email, Role string
	} `json:"users"`
	Usage *struct {
		Calls int `json:"calls"`
		Quota int `json:"quota"`
	} `json:"usage"`
	Keys []struct {
		ID     string `json:"id"`
		Prefix string `json:"prefix"`
	} `json:"keys"`
	SecretShown bool `json:"secretShown"`
}

// TestWorkspaceAdmin is the practice's admin setting up the practice
// software: she opens Administration from the header with the keyboard,
// sees herself as the only admin and the month's two calls against the
// quota of 500, makes an API key (its secret shown once, with a copy
// button and the warning), which the REST API takes, puts the secret
// away for good, cannot demote herself as the last admin, revokes the
// key and goes back to the calendar.
func TestWorkspaceAdmin(t *testing.T) {
	s := testutil.StartServer(t)
	if s.SetupToken == "" {
		t.Fatal("no setup link for the default practice")
	}
	doc := setUpPractice(t, s, newBrowser(t, "clinician"))

	// The month so far: two rooms of the practice software held a call,
	// under a quota of 500.
	if code := s.Do(t, "PUT", "/api/v1/tenants/"+s.TenantID, s.AdminKey,
		protocol.TenantRequest{Name: "Praxis Dr. Berg", MonthlyCallQuota: 500}, nil); code != 200 {
		t.Fatalf("set quota: HTTP %d", code)
	}
	for range 2 {
		room := s.CreateRoom(t, 2, "host", "guest")
		if err := s.Service().CountCall(context.Background(), room.ID); err != nil {
			t.Fatal(err)
		}
	}

	doc.waitFor("Administration in the header", `!document.getElementById('ws-sections').hidden`, `document.getElementById('ws-sections').outerHTML`, 5*time.Second)
	doc.do("open Administration with the keyboard", 5*time.Second,
		chromedp.Focus(chromedp.CSS(`#nav-admin`)),
		chromedp.KeyEvent(kb.Enter),
	)
	doc.waitFor("Administration", `document.body.dataset.screen === 'admin' && window.konsilWorkspace.state().admin.users.length === 1 && document.getElementById('admin-usage').textContent !== ''`,
		`document.body.dataset.screen + ' ' + JSON.stringify(window.konsilWorkspace.state().admin) + ' ' + document.getElementById('admin-error').textContent`, 10*time.Second)
	doc.checkAccessibleNames("administration")
	st := mustEval[adminState](doc.page, `window.konsilWorkspace.state().admin`)
	if u := st.Users[0]; u.Email != "anna.berg@praxis.example" || u.Role != "admin" || u.Name != "Dr. Anna Berg" {
		t.Errorf("users: %+v", st.Users)
	}
	if st.Usage == nil || st.Usage.Calls != 2 || st.Usage.Quota != 500 {
		t.Errorf("usage: %+v", st.Usage)
	}
	if usage := mustEval[string](doc.page, `document.getElementById('admin-usage').textContent`); !regexp.MustCompile(`^2 (von|of) 500$`).MatchString(usage) {
		t.Errorf("the month's calls read %q, want \"2 von 500\" or \"2 of 500\"", usage)
	}
	if current := mustEval[string](doc.page, `document.getElementById('nav-admin').getAttribute('aria-current') || ''`); current != "page" {
		t.Errorf("nav-admin aria-current %q", current)
	}
	// The devices part: the setup browser, approved, approval on.
	doc.waitFor("devices summary", `/^1 Browser, davon 0 unbestätigt\. Neue Browser müssen bestätigt werden\.$/.test(document.getElementById('admin-devices-summary').textContent)`,
		`document.getElementById('admin-devices-summary').textContent`, 5*time.Second)
	doc.do("manage devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#admin-devices-open`)))
	doc.waitFor("devices dialog", `document.getElementById('devices-dialog').open && document.querySelectorAll('#devices-dialog li.device').length === 1`, `document.getElementById('devices-dialog').innerText`, 5*time.Second)
	doc.do("close devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#devices-close`)))
	// The first start's key of the practice is listed, without its secret.
	if len(st.Keys) != 1 || st.Keys[0].Prefix != s.TenantKey[:8] || st.SecretShown {
		t.Errorf("keys at first: %+v", st)
	}

	doc.do("create an API key", 5*time.Second, chromedp.Click(chromedp.CSS(`#admin-key-create`)))
	doc.waitFor("the new key's secret", `!document.getElementById('admin-key-new').hidden && document.getElementById('admin-key-secret').value.startsWith('ksk_')`,
		`document.getElementById('admin-error').textContent + ' ' + JSON.stringify(window.konsilWorkspace.state().admin)`, 10*time.Second)
	secret := mustEval[string](doc.page, `document.getElementById('admin-key-secret').value`)
	warning := mustEval[string](doc.page, `document.getElementById('admin-key-once').textContent`)
	if !strings.Contains(warning, "nur dieses eine Mal") && !strings.Contains(warning, "shown this once") {
		t.Errorf("the warning reads %q", warning)
	}
	if focused := mustEval[string](doc.page, `document.activeElement.id`); focused != "admin-key-secret" {
		t.Errorf("after creating, focus is on %q, want the secret", focused)
	}
	if code := s.Do(t, "GET", "/api/v1/rooms", secret, nil, nil); code != 200 {
		t.Fatalf("the new key on the REST API: HTTP %d", code)
	}
	doc.do("copy the key", 5*time.Second, chromedp.Click(chromedp.CSS(`#admin-key-copy`)))
	doc.waitFor("copy status", `document.getElementById('admin-key-copy-status').textContent !== ''`, `document.getElementById('admin-key-copy-status').outerHTML`, 5*time.Second)
	st = mustEval[adminState](doc.page, `window.konsilWorkspace.state().admin`)
	var newID string
	for _, k := range st.Keys {
		if k.Prefix == secret[:8] {
			newID = k.ID
		}
	}
	if len(st.Keys) != 2 || newID == "" || !st.SecretShown {
		t.Errorf("keys after creating: %+v", st)
	}
	doc.do("show usage and keys", 5*time.Second, chromedp.Evaluate[chromedp.Void](`document.getElementById('admin-usage-section').scrollIntoView({block: 'start'})`))
	shot := doc.screenshot("ws-admin")
	if shot != "" {
		// The page's name is not part of this one's file name.
		if err := os.Rename(shot, filepath.Join(filepath.Dir(shot), "ws-admin.png")); err != nil {
			t.Error(err)
		}
	}

	doc.do("done with the secret", 5*time.Second, chromedp.Click(chromedp.CSS(`#admin-key-done`)))
	if mustEval[bool](doc.page, `window.konsilWorkspace.state().admin.secretShown || document.body.innerHTML.includes(`+jsString(secret)+`) || document.getElementById('admin-key-secret').value !== ''`) {
		t.Error("the secret is still on the page after Done")
	}
	// Back and forth: the secret does not come back.
	doc.do("calendar and back", 5*time.Second, chromedp.Click(chromedp.CSS(`#nav-calendar`)))
	doc.waitFor("calendar", `document.body.dataset.screen === 'calendar'`, `document.body.dataset.screen`, 5*time.Second)
	doc.do("Administration again", 5*time.Second, chromedp.Click(chromedp.CSS(`#nav-admin`)))
	doc.waitFor("keys listed again", `document.body.dataset.screen === 'admin' && document.querySelectorAll('#admin-keys li.admin-key').length === 2`, `document.getElementById('admin-keys').innerText`, 10*time.Second)
	if mustEval[bool](doc.page, `window.konsilWorkspace.state().admin.secretShown || JSON.stringify(window.konsilWorkspace.state()).includes(`+jsString(secret)+`)`) {
		t.Error("the secret came back")
	}

	// The last admin cannot demote herself.
	// One step: the table may be redrawn between two CDP calls.
	doc.do("pick clinician for herself", 5*time.Second, chromedp.Evaluate[chromedp.Void](`(() => {
		const tr = document.querySelector('#admin-users-body tr.admin-user');
		const sel = tr.querySelector('.admin-role');
		sel.value = 'clinician';
		sel.dispatchEvent(new Event('change', {bubbles: true}));
		tr.querySelector('.admin-role-save').click();
	})()`))
	doc.waitFor("last-admin refusal", `!document.getElementById('admin-error').hidden && /Administrator/.test(document.getElementById('admin-error').textContent)`,
		`document.getElementById('admin-error').outerHTML`, 5*time.Second)
	doc.waitFor("role unchanged", `window.konsilWorkspace.state().admin.users[0].role === 'admin' && window.konsilWorkspace.state().user.role === 'admin'`,
		`JSON.stringify(window.konsilWorkspace.state().admin.users)`, 5*time.Second)

	// Revoke the new key, after the confirmation.
	doc.do("revoke", 5*time.Second, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#admin-keys li.admin-key')].find((li) => li.dataset.id === `+jsString(newID)+`).querySelector('.admin-key-revoke').click()`))
	doc.waitFor("confirmation", `document.getElementById('confirm-dialog').open`, `document.body.innerText.slice(0, 300)`, 5*time.Second)
	doc.do("confirm", 5*time.Second, chromedp.Click(chromedp.CSS(`#confirm-yes`)))
	doc.waitFor("key gone", `document.querySelectorAll('#admin-keys li.admin-key').length === 1`, `document.getElementById('admin-keys').innerText`, 10*time.Second)
	if code := s.Do(t, "GET", "/api/v1/rooms", secret, nil, nil); code != 401 {
		t.Errorf("the revoked key on the REST API: HTTP %d, want 401", code)
	}

	doc.do("back to the calendar", 5*time.Second, chromedp.Click(chromedp.CSS(`#nav-calendar`)))
	doc.waitFor("calendar", `document.body.dataset.screen === 'calendar' && document.getElementById('nav-calendar').getAttribute('aria-current') === 'page'`, `document.body.dataset.screen`, 5*time.Second)
}

// jsString quotes s for a JavaScript expression (a key's secret is
// base64url: no quotes to escape).
func jsString(s string) string { return "'" + s + "'" }
