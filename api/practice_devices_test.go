package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// login logs a user in from a browser and returns its session.
func (b *browser) login(email, auth string) practice.Session {
	b.t.Helper()
	var sess practice.Session
	if code := b.do("POST", "/login", map[string]string{"email": email, "auth": auth}, &sess); code != 200 {
		b.t.Fatalf("login of %s: HTTP %d", email, code)
	}
	b.csrf = sess.CSRF
	return sess
}

// device finds a device in a GET devices answer.
func device(list []practice.DeviceView, id string) (practice.DeviceView, bool) {
	for _, d := range list {
		if d.ID == id {
			return d, true
		}
	}
	return practice.DeviceView{}, false
}

// TestDeviceApproval: a browser new to a user sees nothing, not even the
// wrapped practice key, until an approved browser of the same user or an
// admin types the code it shows; wrong codes are bounded; revoking ends
// the browser's session at once; the practice can turn approval off.
func TestDeviceApproval(t *testing.T) {
	s := testutil.StartServer(t)
	admin, _, adminAuth := setUp(t, s, s.SetupToken, "anna@praxis.example", "Dr. Anna Berg")
	events := openEvents(t, s, admin)

	// An invited clinician: the browser that used the link is approved.
	var inv struct{ Token string }
	if code := admin.do("POST", "/invites", map[string]string{"role": practice.RoleClinician, "wrapped_key": sealed(60)}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	laptop, lsess, auth := setUp(t, s, inv.Token, "ben@praxis.example", "Ben Koch")
	if !lsess.Device.Approved || lsess.WrappedKey == "" {
		t.Fatalf("the invited browser is not approved: %+v", lsess.Device)
	}

	tablet := newWorkspaceBrowser(t, s)
	pending := tablet.login("ben@praxis.example", auth)
	if pending.Device.Approved || len(pending.Device.Code) != 6 || pending.WrappedKey != "" {
		t.Fatalf("a new browser's session: device %+v, wrapped key %q; want pending, a 6-digit code, no key", pending.Device, pending.WrappedKey)
	}
	select {
	case ev := <-events.devices:
		if ev.DeviceID != pending.Device.ID || ev.Approved {
			t.Errorf("device event %+v, want the pending device", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("the admin's workspace heard of no new device")
	}
	for _, path := range []string{"/appointments?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", "/users", "/devices", "/events"} {
		if code := tablet.errCode("GET", path, nil, 403); code != api.CodeDevicePending {
			t.Errorf("GET %s on a pending browser: %s, want %s", path, code, api.CodeDevicePending)
		}
	}
	var again practice.Session
	if tablet.do("GET", "/session", nil, &again); again.Device.Code != pending.Device.Code || again.WrappedKey != "" {
		t.Errorf("pending GET session: %+v", again.Device)
	}

	t.Run("who sees which devices", func(t *testing.T) {
		var mine, all []practice.DeviceView
		laptop.do("GET", "/devices", nil, &mine)
		admin.do("GET", "/devices", nil, &all)
		if len(mine) != 2 || len(all) != 3 {
			t.Fatalf("the clinician sees %d devices (want own 2), the admin %d (want 3)", len(mine), len(all))
		}
		d, ok := device(all, pending.Device.ID)
		if !ok || d.Approved || d.Code != "" || d.UserName != "Ben Koch" || d.Label == "" {
			t.Errorf("the pending device as the admin sees it: %+v (want no code: it must be read on the new browser)", d)
		}
	})

	path := "/devices/" + pending.Device.ID + "/approve"
	laptop.t = t
	if code := laptop.errCode("POST", path, map[string]string{"code": "000000"}, 400); code != api.CodeDeviceCode {
		t.Errorf("a wrong code: %s", code)
	}
	if code := laptop.errCode("POST", path, map[string]string{"code": pending.Device.Code}, 403, "X-Konsil-CSRF", "forged"); code != api.CodeCSRF {
		t.Errorf("approval without the CSRF token: %s", code)
	}
	var approved practice.DeviceView
	if code := laptop.do("POST", path, map[string]string{"code": " " + pending.Device.Code[:3] + " " + pending.Device.Code[3:]}, &approved); code != 200 || !approved.Approved {
		t.Fatalf("approval with the code as shown, spaced: %d %+v", code, approved)
	}
	again = practice.Session{}
	tablet.do("GET", "/session", nil, &again)
	if !again.Device.Approved || again.WrappedKey == "" || again.Device.Code != "" {
		t.Fatalf("after approval: %+v key %q", again.Device, again.WrappedKey)
	}
	if code := tablet.do("GET", "/users", nil, nil); code != 200 {
		t.Errorf("approved browser: GET users %d", code)
	}
	if relog := tablet.login("ben@praxis.example", auth); !relog.Device.Approved || relog.Device.ID != pending.Device.ID {
		t.Errorf("the approved browser's next login: %+v, want the same approved device", relog.Device)
	}

	t.Run("an admin approves anyone's; a clinician only their own", func(t *testing.T) {
		phone := newWorkspaceBrowser(t, s)
		p := phone.login("ben@praxis.example", auth)
		annaNew := newWorkspaceBrowser(t, s)
		a := annaNew.login("anna@praxis.example", adminAuth)
		laptop.t = t
		if code := laptop.errCode("POST", "/devices/"+a.Device.ID+"/approve", map[string]string{"code": a.Device.Code}, 403); code != api.CodeForbidden {
			t.Errorf("a clinician approving the admin's browser: %s", code)
		}
		admin.t = t
		if code := admin.do("POST", "/devices/"+p.Device.ID+"/approve", map[string]string{"code": p.Device.Code}, nil); code != 200 {
			t.Errorf("an admin approving a clinician's browser: %d", code)
		}
		// A pending browser cannot approve itself.
		annaNew.t = t
		if code := annaNew.errCode("POST", "/devices/"+a.Device.ID+"/approve", map[string]string{"code": a.Device.Code}, 403); code != api.CodeDevicePending {
			t.Errorf("a pending browser approving itself: %s", code)
		}
	})

	t.Run("five wrong codes remove the new browser", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		p := b.login("ben@praxis.example", auth)
		laptop.t = t
		for i := 1; i <= 4; i++ {
			var e protocol.ErrorBody
			laptop.do("POST", "/devices/"+p.Device.ID+"/approve", map[string]string{"code": "12345" + fmt.Sprint(i%10)}, &e)
			if e.Error.Code != api.CodeDeviceCode || !strings.Contains(e.Error.Message, fmt.Sprintf("%d attempts left", 5-i)) {
				t.Fatalf("wrong code %d: %+v", i, e.Error)
			}
		}
		var e protocol.ErrorBody
		laptop.do("POST", "/devices/"+p.Device.ID+"/approve", map[string]string{"code": "999999"}, &e)
		if !strings.Contains(e.Error.Message, "must log in again") {
			t.Errorf("the fifth wrong code: %+v", e.Error)
		}
		b.t = t
		if code := b.errCode("GET", "/session", nil, 401); code != api.CodeUnauthorized {
			t.Errorf("the removed browser's session: %s", code)
		}
		if code := laptop.errCode("POST", "/devices/"+p.Device.ID+"/approve", map[string]string{"code": p.Device.Code}, 404); code != api.CodeNotFound {
			t.Errorf("approving the removed browser with the right code: %s", code)
		}
	})

	t.Run("revoking ends the session at once", func(t *testing.T) {
		admin.t, tablet.t = t, t
		stream := openEvents(t, s, tablet)
		if code := admin.do("DELETE", "/devices/"+pending.Device.ID, nil, nil); code != 204 {
			t.Fatalf("revoke: %d", code)
		}
		if code := tablet.errCode("GET", "/session", nil, 401); code != api.CodeUnauthorized {
			t.Errorf("the revoked browser's session: %s", code)
		}
		select {
		case <-stream.ended:
		case <-time.After(5 * time.Second):
			t.Error("the revoked browser's event stream stays open")
		}
		if p := tablet.login("ben@praxis.example", auth); p.Device.Approved || p.Device.ID == pending.Device.ID {
			t.Errorf("the revoked browser's next login: %+v, want a new pending device", p.Device)
		}
	})

	t.Run("another practice sees and changes none", func(t *testing.T) {
		other, _ := otherPractice(t, s)
		var list []practice.DeviceView
		other.do("GET", "/devices", nil, &list)
		if len(list) != 1 {
			t.Errorf("practice B's admin lists %d devices, want only their own", len(list))
		}
		if code := other.errCode("POST", "/devices/"+lsess.Device.ID+"/approve", map[string]string{"code": "123456"}, 404); code != api.CodeNotFound {
			t.Errorf("approving practice A's device: %s", code)
		}
		if code := other.errCode("DELETE", "/devices/"+lsess.Device.ID, nil, 404); code != api.CodeNotFound {
			t.Errorf("revoking practice A's device: %s", code)
		}
	})

	t.Run("the practice turns approval off and on", func(t *testing.T) {
		laptop.t, admin.t = t, t
		if code := laptop.errCode("PUT", "/settings", practice.Settings{DeviceApproval: false}, 403); code != api.CodeForbidden {
			t.Errorf("a clinician changing settings: %s", code)
		}
		var st practice.Settings
		if code := admin.do("PUT", "/settings", practice.Settings{DeviceApproval: false}, &st); code != 200 || st.DeviceApproval {
			t.Fatalf("approval off: %d %+v", code, st)
		}
		b := newWorkspaceBrowser(t, s)
		if p := b.login("ben@praxis.example", auth); !p.Device.Approved || p.WrappedKey == "" {
			t.Errorf("a new browser with approval off: %+v", p.Device)
		}
		admin.do("PUT", "/settings", practice.Settings{DeviceApproval: true}, &st)
		if code := b.errCode("GET", "/users", nil, 403); code != api.CodeDevicePending {
			t.Errorf("that browser once approval is on again: %s, want it pending", code)
		}
	})
}

// TestDeviceNumbers holds what docs/WORKSPACE.md states of devices: the
// konsil_device cookie (HttpOnly, SameSite=Strict, Path=/api/v1/practice/,
// 180 days), pending browsers gone after 24 hours, approved ones after
// 180 days without a login.
func TestDeviceNumbers(t *testing.T) {
	s := testutil.StartServer(t)
	_, _, auth := setUp(t, s, s.SetupToken, "anna@praxis.example", "Dr. Anna Berg")
	raw, _ := json.Marshal(map[string]string{"email": "anna@praxis.example", "auth": auth})
	res, err := http.Post(s.URL+"/api/v1/practice/login", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var dev *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "konsil_device" {
			dev = c
		}
	}
	if dev == nil || !dev.HttpOnly || dev.SameSite != http.SameSiteStrictMode || dev.Path != "/api/v1/practice/" || dev.MaxAge != 180*24*3600 {
		t.Errorf("device cookie %+v, want HttpOnly, SameSite=Strict, Path=/api/v1/practice/, Max-Age 180 days", dev)
	}

	// Now a pending browser (this login) and an approved one (setup's).
	ctx := context.Background()
	s.Clock.Advance(24*time.Hour + time.Second)
	if n, err := s.Practice().DeleteStaleDevices(ctx); err != nil || n != 1 {
		t.Errorf("after 24 h: %d devices removed (%v), want the pending one", n, err)
	}
	s.Clock.Advance(180*24*time.Hour - 24*time.Hour - 2*time.Second)
	if n, _ := s.Practice().DeleteStaleDevices(ctx); n != 0 {
		t.Errorf("an approved browser went before 180 days: %d", n)
	}
	s.Clock.Advance(2 * time.Second)
	if n, _ := s.Practice().DeleteStaleDevices(ctx); n != 1 {
		t.Errorf("after 180 days without a login: %d removed, want the approved one", n)
	}
}
