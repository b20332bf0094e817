package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// browser is a workspace client as a browser is one: a cookie jar, the
// CSRF token of its session, and an Origin header on changes.
type browser struct {
	t    *testing.T
	s    *testutil.Server
	c    *http.Client
	csrf string
}

func newWorkspaceBrowser(t *testing.T, s *testutil.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, s: s, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request; out (when set) receives the JSON answer, or the
// error body when the status is not 2xx.
func (b *browser) do(method, path string, in, out any, hdr ...string) int {
	b.t.Helper()
	return b.doAt("", method, path, in, out, hdr...)
}

// doAt is do with the server reached by the name host (the Host and
// Origin sent) when host is not empty; cookies stay the jar's.
func (b *browser) doAt(host, method, path string, in, out any, hdr ...string) int {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			b.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.s.URL+"/api/v1/practice"+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	origin := b.s.URL
	if host != "" {
		req.Host, origin = host, "http://"+host
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", origin)
		if b.csrf != "" {
			req.Header.Set("X-Konsil-CSRF", b.csrf)
		}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := b.c
	if host != "" {
		// The jar goes by the Host the client sends, not the address:
		// give it the cookies of the server's address by hand.
		c = &http.Client{Timeout: b.c.Timeout}
		for _, ck := range b.c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if host != "" {
		b.c.Jar.SetCookies(req.URL, res.Cookies())
	}
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

func (b *browser) errCode(method, path string, in any, want int, hdr ...string) string {
	b.t.Helper()
	var e protocol.ErrorBody
	if got := b.do(method, path, in, &e, hdr...); got != want {
		b.t.Fatalf("%s %s: HTTP %d %+v, want %d", method, path, got, e.Error, want)
	}
	return e.Error.Code
}

func random32() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealed is ciphertext as the browser makes it; the server only checks
// its shape.
func sealed(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return "v1." + base64.RawURLEncoding.EncodeToString(b)
}

func kdf() practice.KDF {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return practice.KDF{Salt: base64.RawURLEncoding.EncodeToString(salt), T: 3, M: 65536}
}

// setUp opens a practice's setup link and returns the logged-in browser
// and the auth key it registered.
func setUp(t *testing.T, s *testutil.Server, token, email, name string) (*browser, practice.Session, string) {
	t.Helper()
	b := newWorkspaceBrowser(t, s)
	auth := random32()
	var sess practice.Session
	if code := b.do("POST", "/setup/"+token, practice.SetupRequest{Email: email, Name: name, PracticeName: "Praxis Dr. Berg",
		KDF: kdf(), Auth: auth, WrappedKey: sealed(60)}, &sess); code != 201 {
		t.Fatalf("setup: HTTP %d", code)
	}
	b.csrf = sess.CSRF
	return b, sess, auth
}

// otherPractice makes a second practice ("Praxis B") and its logged-in
// first admin, to show that one practice cannot reach another's records.
func otherPractice(t *testing.T, s *testutil.Server) (*browser, practice.Session) {
	t.Helper()
	var tenant protocol.Tenant
	s.Do(t, "POST", "/api/v1/tenants", s.AdminKey, protocol.TenantRequest{Name: "Praxis B"}, &tenant)
	token, _, err := s.Practice().NewSetupLink(context.Background(), tenant.ID, practice.RoleAdmin, true, "", "")
	if err != nil {
		t.Fatal(err)
	}
	other, sess, _ := setUp(t, s, token, "b@praxis-b.example", "Dr. B")
	return other, sess
}

func TestWorkspaceAccountsAndAppointments(t *testing.T) {
	s := testutil.StartServer(t)
	if s.SetupToken == "" {
		t.Fatal("the first start made no setup link for the default practice")
	}
	anon := newWorkspaceBrowser(t, s)
	var info practice.SetupInfo
	if code := anon.do("GET", "/setup/"+s.SetupToken, nil, &info); code != 200 || !info.First || info.Role != practice.RoleAdmin {
		t.Fatalf("setup info: %d %+v", code, info)
	}
	admin, sess, auth := setUp(t, s, s.SetupToken, "Anna.Berg@Praxis.example", "Dr. Anna Berg")
	if sess.User.Role != practice.RoleAdmin || sess.User.Email != "anna.berg@praxis.example" || sess.Practice.Name != "Praxis Dr. Berg" || sess.CSRF == "" {
		t.Fatalf("session after setup: %+v", sess)
	}
	t.Run("the setup link works once", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		b.t = t
		if code := b.errCode("POST", "/setup/"+s.SetupToken, practice.SetupRequest{Email: "x@y.example", Name: "X",
			KDF: kdf(), Auth: random32(), WrappedKey: sealed(60)}, 410); code != api.CodeSetupInvalid {
			t.Errorf("second use: %s", code)
		}
	})

	t.Run("cookies", func(t *testing.T) {
		u, _ := http.NewRequest("GET", s.URL+"/", nil)
		var found bool
		for _, c := range admin.c.Jar.Cookies(u.URL) {
			found = found || c.Name == "konsil_session"
		}
		if !found {
			t.Fatal("no session cookie")
		}
		// The jar hides the attributes: ask for a fresh login's header.
		b := newWorkspaceBrowser(t, s)
		b.t = t
		raw, _ := json.Marshal(map[string]string{"email": "anna.berg@praxis.example", "auth": auth})
		res, err := http.Post(s.URL+"/api/v1/practice/login", "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		sc := res.Header.Get("Set-Cookie")
		for _, want := range []string{"konsil_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
			if !strings.Contains(sc, want) {
				t.Errorf("Set-Cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(sc, "Secure") {
			t.Errorf("Set-Cookie %q: Secure on plain http would drop the cookie", sc)
		}
	})

	t.Run("login params do not tell who has an account", func(t *testing.T) {
		var known, unknown, again practice.KDF
		anon.do("POST", "/login/params", map[string]string{"email": "anna.berg@praxis.example"}, &known)
		anon.do("POST", "/login/params", map[string]string{"email": "nobody@praxis.example"}, &unknown)
		anon.do("POST", "/login/params", map[string]string{"email": "Nobody@praxis.example "}, &again)
		if known.T != 3 || known.M != 65536 || unknown.T != known.T || unknown.M != known.M || unknown.Salt == "" || unknown != again {
			t.Errorf("params: known %+v unknown %+v again %+v", known, unknown, again)
		}
	})

	var holderID = sess.User.ID
	var created practice.CreatedAppointment
	day := s.Clock.Now().In(time.UTC).Format("2006-01-02")
	t.Run("CSRF", func(t *testing.T) {
		b := *admin
		b.t, b.csrf = t, ""
		req := practice.AppointmentRequest{HolderID: holderID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: day, TimeZone: "UTC"}}
		if code := b.errCode("POST", "/appointments", req, 403); code != api.CodeCSRF {
			t.Errorf("no CSRF header: %s", code)
		}
		b.csrf = "wrong"
		b.errCode("POST", "/appointments", req, 403)
		b.csrf = sess.CSRF
		if code := b.errCode("POST", "/appointments", req, 403, "Origin", "https://evil.example"); code != api.CodeCSRF {
			t.Errorf("other origin: %s", code)
		}
	})

	t.Run("appointment", func(t *testing.T) {
		admin.t = t
		req := practice.AppointmentRequest{HolderID: holderID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: day, TimeZone: "UTC"}}
		if code := admin.do("POST", "/appointments", req, &created); code != 201 {
			t.Fatalf("create: %d", code)
		}
		a := created.Appointment
		if a.Status != "scheduled" || a.Capacity != 2 || a.RoomID == "" || len(created.Participants) != 2 ||
			created.Participants[0].Role != "host" || created.Participants[1].Token == "" || created.Participants[1].Code == "" {
			t.Fatalf("created %+v", created)
		}
		blob := sealed(600)
		var up practice.AppointmentView
		if code := admin.do("PUT", "/appointments/"+a.ID, practice.AppointmentUpdate{Sealed: blob}, &up); code != 200 || up.Sealed != blob {
			t.Fatalf("update: %d %+v", code, up)
		}
		admin.errCode("PUT", "/appointments/"+a.ID, practice.AppointmentUpdate{Sealed: "Erika Mustermann"}, 400)
		admin.errCode("PUT", "/appointments/"+a.ID, practice.AppointmentUpdate{Sealed: sealed(practice.MaxSealed)}, 400)
		var list []practice.AppointmentView
		from := s.Clock.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
		to := s.Clock.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		admin.do("GET", "/appointments?from="+from+"&to="+to, nil, &list)
		if len(list) != 1 || list[0].ID != a.ID || list[0].Sealed != blob {
			t.Fatalf("list: %+v", list)
		}
		// The patient's link works until the appointment is cancelled.
		var j protocol.JoinResponse
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: created.Participants[1].Token}, &j); code != 200 {
			t.Fatalf("join with the patient's link: %d", code)
		}
		var done practice.AppointmentView
		admin.do("POST", "/appointments/"+a.ID+"/done", nil, &done)
		if done.Status != "done" {
			t.Errorf("done: %+v", done)
		}
		var cancelled practice.AppointmentView
		admin.do("POST", "/appointments/"+a.ID+"/cancel", nil, &cancelled)
		if cancelled.Status != "cancelled" {
			t.Errorf("cancel: %+v", cancelled)
		}
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: created.Participants[1].Token}, nil); code != 404 {
			t.Errorf("join after cancel: %d, want 404", code)
		}
	})

	t.Run("another practice sees and changes nothing", func(t *testing.T) {
		other, _ := otherPractice(t, s)
		other.t = t
		var list []practice.AppointmentView
		other.do("GET", "/appointments", nil, &list)
		if len(list) != 0 {
			t.Errorf("practice B lists %d appointments of A", len(list))
		}
		var users []practice.UserView
		other.do("GET", "/users", nil, &users)
		if len(users) != 1 || users[0].Name != "Dr. B" {
			t.Errorf("practice B's users: %+v", users)
		}
		id := created.Appointment.ID
		other.errCode("PUT", "/appointments/"+id, practice.AppointmentUpdate{Sealed: sealed(100)}, 404)
		other.errCode("POST", "/appointments/"+id+"/done", nil, 404)
		other.errCode("POST", "/appointments/"+id+"/cancel", nil, 404)
		// Nor can it make an appointment held by A's user.
		other.errCode("POST", "/appointments", practice.AppointmentRequest{HolderID: holderID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: day, TimeZone: "UTC"}}, 400)
	})

	t.Run("invited assistant", func(t *testing.T) {
		admin.t = t
		var inv struct {
			Token string `json:"token"`
		}
		if code := admin.do("POST", "/invites", map[string]string{"role": "assistant", "wrapped_key": sealed(60)}, &inv); code != 201 {
			t.Fatalf("invite: %d", code)
		}
		var info practice.SetupInfo
		anon.do("GET", "/setup/"+inv.Token, nil, &info)
		if info.First || info.Role != "assistant" || info.WrappedKey == "" {
			t.Fatalf("invite info %+v", info)
		}
		asst, asess, _ := setUp(t, s, inv.Token, "empfang@praxis.example", "Empfang")
		asst.t = t
		if asess.User.Role != "assistant" || asess.Practice.ID != sess.Practice.ID {
			t.Fatalf("assistant session %+v", asess)
		}
		// Assistants schedule for clinicians but hold no calls and
		// invite nobody.
		asst.errCode("POST", "/appointments", practice.AppointmentRequest{HolderID: asess.User.ID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: day, TimeZone: "UTC"}}, 400)
		var c practice.CreatedAppointment
		if code := asst.do("POST", "/appointments", practice.AppointmentRequest{HolderID: holderID, Kind: "conference", Invitees: 3,
			Window: protocol.WindowRequest{Day: day, TimeZone: "Europe/Berlin"}}, &c); code != 201 || c.Appointment.Capacity != 4 {
			t.Fatalf("assistant schedules a conference: %d %+v", code, c.Appointment)
		}
		asst.errCode("POST", "/appointments/"+c.Appointment.ID+"/done", nil, 403)
		asst.errCode("POST", "/invites", map[string]string{"role": "admin", "wrapped_key": sealed(60)}, 403)
	})

	t.Run("wrong passwords lock the account", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		b.t = t
		for i := 1; i <= 4; i++ {
			if code := b.errCode("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": random32()}, 401); code != api.CodeInvalidCredentials {
				t.Fatalf("wrong password %d: %s", i, code)
			}
		}
		if code := b.errCode("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": random32()}, 429); code != api.CodeLocked {
			t.Fatalf("fifth wrong password: %s", code)
		}
		// Even the right password waits now.
		b.errCode("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": auth}, 429)
		s.Clock.Advance(61 * time.Second)
		var ok practice.Session
		if code := b.do("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": auth}, &ok); code != 200 {
			t.Fatalf("after the lock: %d", code)
		}
		// Unknown addresses answer as wrong passwords do.
		if code := b.errCode("POST", "/login", map[string]string{"email": "nobody@praxis.example", "auth": random32()}, 401); code != api.CodeInvalidCredentials {
			t.Errorf("unknown address: %s", code)
		}
	})

	t.Run("logout everywhere", func(t *testing.T) {
		second := newWorkspaceBrowser(t, s)
		second.t = t
		var ss practice.Session
		second.do("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": auth}, &ss)
		second.csrf = ss.CSRF
		admin.t = t
		if code := admin.do("GET", "/session", nil, nil); code != 200 {
			t.Fatalf("session: %d", code)
		}
		// A browser still awaiting approval ends only its own session.
		if code := second.do("POST", "/logout", map[string]bool{"everywhere": true}, nil); code != 204 {
			t.Fatalf("logout everywhere from a pending browser: %d", code)
		}
		if code := admin.do("GET", "/session", nil, nil); code != 200 {
			t.Fatalf("a pending browser's logout everywhere ended the approved session: %d", code)
		}
		ss = second.login("anna.berg@praxis.example", auth)
		if code := admin.do("POST", "/devices/"+ss.Device.ID+"/approve", map[string]string{"code": ss.Device.Code}, nil); code != 200 {
			t.Fatalf("approve: %d", code)
		}
		if code := second.do("POST", "/logout", map[string]bool{"everywhere": true}, nil); code != 204 {
			t.Fatalf("logout everywhere: %d", code)
		}
		admin.errCode("GET", "/session", nil, 401)
		second.errCode("GET", "/session", nil, 401)
	})

	t.Run("numbers WORKSPACE.md states", func(t *testing.T) {
		// KDF bounds: t 2..10, m 19456..262144 KiB.
		var inv struct {
			Token string `json:"token"`
		}
		admin.t = t
		var ss practice.Session
		b := newWorkspaceBrowser(t, s)
		b.t = t
		b.do("POST", "/login", map[string]string{"email": "anna.berg@praxis.example", "auth": auth}, &ss)
		b.csrf = ss.CSRF
		admin.login("anna.berg@praxis.example", auth)
		admin.do("POST", "/invites", map[string]string{"role": "clinician", "wrapped_key": sealed(60)}, &inv)
		for _, k := range []practice.KDF{{T: 1, M: 65536}, {T: 11, M: 65536}, {T: 3, M: 19455}, {T: 3, M: 262145}} {
			k.Salt = kdf().Salt
			b.errCode("POST", "/setup/"+inv.Token, practice.SetupRequest{Email: "c@praxis.example", Name: "C", KDF: k, Auth: random32(), WrappedKey: sealed(60)}, 400)
		}
		// A session lasts 12 hours.
		s.Clock.Advance(12*time.Hour - time.Minute)
		if code := b.do("GET", "/session", nil, nil); code != 200 {
			t.Errorf("session after 11 h 59 min: %d", code)
		}
		s.Clock.Advance(2 * time.Minute)
		b.errCode("GET", "/session", nil, 401)
	})

	t.Run("bad input", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		b.t = t
		for _, body := range []any{
			map[string]string{"email": "not-an-address", "auth": random32()},
			map[string]string{"email": "a@b.example", "auth": "short"},
			map[string]any{"email": "a@b.example", "auth": random32(), "extra": 1},
		} {
			b.errCode("POST", "/login", body, 400)
		}
		b.errCode("POST", "/setup/"+strings.Repeat("A", 43), practice.SetupRequest{}, 410)
		b.errCode("GET", "/setup/short", nil, 410)
		b.errCode("GET", "/appointments", nil, 401)
	})
}
