package api_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// bodyRoute is one endpoint that reads a JSON body, with the credentials
// it needs to get as far as decoding it.
type bodyRoute struct {
	method, path string
	// key is the bearer key; session sends the workspace's cookies and
	// CSRF header.
	key     string
	session bool
}

// restRig is one server for a whole fuzzing run (one per fuzzing worker):
// starting a store per input would leave nothing of the time for inputs.
type restRig struct {
	s       *testutil.Server
	h       http.Handler
	routes  []bodyRoute
	cookies []*http.Cookie
	csrf    string
}

// newRESTRig starts a server with a logged-in workspace admin, a second
// tenant to update and a booked appointment, so that every body route has
// something real behind its path.
func newRESTRig(t testing.TB) *restRig {
	s := testutil.StartServer(t)
	r := &restRig{s: s, h: s.Handler()}

	var sess practice.Session
	w := r.send(bodyRoute{method: "POST", path: "/api/v1/practice/setup/" + s.SetupToken},
		mustJSON(t, practice.SetupRequest{Email: "a@praxis.example", Name: "Dr. A", PracticeName: "Praxis A",
			KDF: kdf(), Auth: random32(), WrappedKey: sealed(60)}), &r.cookies)
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &sess) != nil {
		t.Fatalf("setup: HTTP %d %s", w.Code, w.Body)
	}
	r.csrf = sess.CSRF

	var appt practice.CreatedAppointment
	w = r.send(bodyRoute{method: "POST", path: "/api/v1/practice/appointments", session: true},
		mustJSON(t, practice.AppointmentRequest{HolderID: sess.User.ID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: s.Clock.Now().UTC().Format(time.DateOnly), TimeZone: "UTC"}}), nil)
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &appt) != nil || len(appt.Participants) == 0 {
		t.Fatalf("appointment: HTTP %d %s", w.Code, w.Body)
	}
	var other protocol.Tenant
	s.Do(t, "POST", "/api/v1/tenants", s.AdminKey, protocol.TenantRequest{Name: "Praxis B"}, &other)

	ws := "/api/v1/practice"
	a := ws + "/appointments/" + appt.Appointment.ID
	r.routes = []bodyRoute{
		{method: "POST", path: "/api/v1/join"},
		{method: "POST", path: "/api/v1/rooms", key: s.TenantKey},
		{method: "POST", path: "/api/v1/tenants", key: s.AdminKey},
		{method: "PUT", path: "/api/v1/tenants/" + other.ID, key: s.AdminKey},
		{method: "POST", path: "/api/v1/tenants/" + other.ID + "/keys", key: s.AdminKey},
		{method: "POST", path: ws + "/setup/" + random32()},
		{method: "POST", path: ws + "/login/params"},
		{method: "POST", path: ws + "/login"},
		{method: "POST", path: ws + "/login/passkey/begin"},
		{method: "POST", path: ws + "/login/passkey/finish"},
		{method: "POST", path: ws + "/invites", session: true},
		{method: "POST", path: ws + "/appointments", session: true},
		{method: "PUT", path: a, session: true},
		{method: "POST", path: a + "/move", session: true},
		{method: "POST", path: a + "/admit", session: true},
		{method: "POST", path: a + "/decline", session: true},
		{method: "PUT", path: ws + "/users/" + random32(), session: true},
		{method: "POST", path: ws + "/devices/" + random32() + "/approve", session: true},
		{method: "PUT", path: ws + "/settings", session: true},
		{method: "POST", path: ws + "/passkeys/register/begin", session: true},
		{method: "POST", path: ws + "/passkeys/register/finish", session: true},
	}
	return r
}

// send serves one request in-process and returns the answer; cookies,
// when not nil, collects the cookies set.
func (r *restRig) send(rt bodyRoute, body []byte, cookies *[]*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if rt.key != "" {
		req.Header.Set("Authorization", "Bearer "+rt.key)
	}
	if rt.session {
		for _, c := range r.cookies {
			req.AddCookie(c)
		}
		req.Header.Set("X-Konsil-CSRF", r.csrf)
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	if cookies != nil {
		*cookies = append(*cookies, w.Result().Cookies()...)
	}
	return w
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzRESTBodies sends any bytes as the JSON body of every endpoint that
// reads one (the REST API's rooms, tenants, keys and join, and the
// workspace's), through the real router with valid credentials. Whatever
// the body, the answer is never a server error, and every refusal is the
// API's JSON error with a code, as docs/openapi.yaml promises; a panic in
// a handler would surface as a 500 from the recoverer.
func FuzzRESTBodies(f *testing.F) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	seeds := [][]byte{
		nil,
		[]byte(`{}`),
		[]byte(`{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`),
		[]byte(`{"code":"ZZZZZ-ZZZZZ"}`),
		mustJSON(f, protocol.RoomRequest{Window: protocol.WindowRequest{Start: &start, Hours: 2}, Capacity: 2,
			Participants: []protocol.ParticipantRequest{{Role: "host"}, {Role: "guest", Label: "Zimmer 2"}}}),
		[]byte(`{"window":{"day":"2026-03-02","time_zone":"Europe/Berlin"},"capacity":2,"participants":[{"role":"host"}]}`),
		[]byte(`{"window":{"start":"9999-12-31T23:59:59Z","hours":2147483647},"capacity":-1}`),
		[]byte(`{"name":"Praxis C","monthly_call_quota":10}`),
		[]byte(`{"name":"","monthly_call_quota":-9223372036854775808}`),
		[]byte(`{"email":"a@praxis.example","auth":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`),
		[]byte(`{"role":"assistant","wrapped_key":"v1.AAAA"}`),
		[]byte(`{"holder_id":"x","kind":"consultation","invitees":1,"window":{"day":"2026-03-02","time_zone":"UTC"}}`),
		[]byte(`{"sealed":"v1.AAAA"}`),
		[]byte(`{"participant_id":"p","all":true,"text":"Bitte später"}`),
		[]byte(`{"code":"123456"}`),
		[]byte(`{"device_approval":false}`),
		[]byte(`{"ceremony":"c","credential":{"id":"x","response":{}},"wrapped_key":"v1.AAAA","label":"Laptop"}`),
		[]byte(`{"a":1}`),
		[]byte(`{} {}`),
		[]byte(`[1,2]`),
		[]byte(`"\ud800"`),
	}
	r := newRESTRig(f)
	for i := range r.routes {
		for _, b := range seeds {
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		if len(body) > 2*api.MaxBodyBytes { // beyond, only the size limit again
			return
		}
		rt := r.routes[int(route)%len(r.routes)]
		w := r.send(rt, body, nil)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: HTTP %d %s", rt.method, rt.path, body, w.Code, w.Body)
		}
		if w.Code < 400 {
			return
		}
		var e protocol.ErrorBody
		mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if err != nil || mt != "application/json" || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code == "" {
			t.Fatalf("%s %s %q: HTTP %d is not the JSON error with a code: %q (%s)",
				rt.method, rt.path, body, w.Code, w.Body, w.Header().Get("Content-Type"))
		}
	})
}
