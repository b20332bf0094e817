package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
)

func errCode(t *testing.T, s *testutil.Server, method, path, key string, in any, wantStatus int) protocol.Error {
	t.Helper()
	var body protocol.ErrorBody
	if got := s.Do(t, method, path, key, in, &body); got != wantStatus {
		t.Fatalf("%s %s: HTTP %d (%+v), want %d", method, path, got, body.Error, wantStatus)
	}
	return body.Error
}

func TestRoomLifecycle(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	if room.Mode != protocol.ModeP2P || len(room.Participants) != 2 {
		t.Fatalf("room %+v", room)
	}
	for _, p := range room.Participants {
		if len(p.Token) < 22 || len(strings.ReplaceAll(p.Code, "-", "")) < 10 {
			t.Errorf("weak credentials: token %d chars, code %q", len(p.Token), p.Code)
		}
		if !strings.HasPrefix(p.Link, s.URL+"/r/"+p.Token) {
			t.Errorf("link %q", p.Link)
		}
	}
	if got := room.Window.EndsAt.Sub(room.Window.StartsAt); got != 24*time.Hour {
		t.Errorf("window %v", got)
	}

	var got protocol.Room
	if code := s.Do(t, "GET", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, &got); code != 200 {
		t.Fatalf("get: %d", code)
	}
	if got.ID != room.ID || got.Participants[0].Token != "" || got.Participants[0].Code != "" {
		t.Errorf("get returned %+v (credentials must not be readable again)", got)
	}

	var list protocol.RoomList
	from := s.Clock.Now().Format(time.RFC3339)
	s.Do(t, "GET", "/api/v1/rooms?from="+from, s.TenantKey, nil, &list)
	if len(list.Rooms) != 1 {
		t.Errorf("list: %d rooms", len(list.Rooms))
	}
	s.Do(t, "GET", "/api/v1/rooms?from="+s.Clock.Now().Add(48*time.Hour).Format(time.RFC3339), s.TenantKey, nil, &list)
	if len(list.Rooms) != 0 {
		t.Errorf("list in the future: %d rooms", len(list.Rooms))
	}

	// Another tenant sees nothing of it.
	var tenant protocol.Tenant
	s.Do(t, "POST", "/api/v1/tenants", s.AdminKey, protocol.TenantRequest{Name: "Praxis B"}, &tenant)
	var key protocol.APIKey
	s.Do(t, "POST", "/api/v1/tenants/"+tenant.ID+"/keys", s.AdminKey, nil, &key)
	errCode(t, s, "GET", "/api/v1/rooms/"+room.ID, key.Secret, nil, 404)
	errCode(t, s, "DELETE", "/api/v1/rooms/"+room.ID, key.Secret, nil, 404)

	if code := s.Do(t, "DELETE", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	errCode(t, s, "GET", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, 404)
	e := errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[0].Token}, 404)
	if e.Code != api.CodeNotFound {
		t.Errorf("join after delete: %s", e.Code)
	}
}

func TestJoinRefusals(t *testing.T) {
	s := testutil.StartServer(t)
	now := s.Clock.Now()
	start := now.Add(2 * time.Hour)
	var room protocol.Room
	s.Do(t, "POST", "/api/v1/rooms", s.TenantKey, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start, Hours: 1}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host"}, {Role: "guest"}},
	}, &room)
	host := room.Participants[0]

	e := errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: host.Token}, 403)
	if e.Code != api.CodeRoomNotOpen || e.OpensAt == nil || !e.OpensAt.Equal(start.Truncate(time.Second)) && !e.OpensAt.Equal(start) {
		t.Errorf("before the window: %+v", e)
	}

	s.Clock.Set(start.Add(30 * time.Minute))
	var j protocol.JoinResponse
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: strings.ToLower(host.Code)}, &j); code != 200 {
		t.Fatalf("join by typed code: %d", code)
	}
	if j.ParticipantID != host.ID || j.Role != "host" || j.Mode != protocol.ModeP2P || !strings.HasPrefix(j.WebSocketURL, "ws://127.0.0.1:") || j.SessionToken == "" {
		t.Errorf("join answer %+v", j)
	}
	if j.ExpiresAt.After(room.Window.EndsAt) {
		t.Errorf("session outlives the window: %v > %v", j.ExpiresAt, room.Window.EndsAt)
	}

	s.Clock.Set(start.Add(time.Hour))
	e = errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: host.Token}, 403)
	if e.Code != api.CodeRoomClosed {
		t.Errorf("after the window: %+v", e)
	}

	// Malformed and unknown credentials get the same answer.
	for _, req := range []protocol.JoinRequest{{Token: "x"}, {Token: strings.Repeat("A", 22)}, {Code: "ZZZZZ-ZZZZZ"}, {Code: "💥"}} {
		e := errCode(t, s, "POST", "/api/v1/join", "", req, 404)
		if e.Code != api.CodeNotFound || e.Message != "no room matches this link or code" {
			t.Errorf("%+v: %+v", req, e)
		}
	}
	errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{}, 400)
	errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: host.Token, Code: host.Code}, 400)
}

func TestWrongCodesAreRateLimited(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) {
		c.JoinFailures = api.FailureLimits{Burst: 5, Refill: time.Hour, SlowStep: time.Millisecond, SlowMax: time.Millisecond}
	})
	room := s.CreateRoom(t, 2, "host", "guest")
	for i := 0; i < 5; i++ {
		errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: "ZZZZZ-ZZZZZ"}, 404)
	}
	e := errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: "ZZZZZ-ZZZZZ"}, 429)
	if e.Code != api.CodeRateLimited || e.RetryAfterSeconds < 1 {
		t.Errorf("after the burst: %+v", e)
	}
	// Even the right code is refused from that address until the bucket refills.
	errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: room.Participants[0].Code}, 429)
	s.Clock.Advance(time.Hour)
	var j protocol.JoinResponse
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: room.Participants[0].Code}, &j); code != 200 {
		t.Errorf("after refill: HTTP %d", code)
	}
}

func TestQuotaExceeded(t *testing.T) {
	s := testutil.StartServer(t)
	var tenant protocol.Tenant
	s.Do(t, "PUT", "/api/v1/tenants/"+s.TenantID, s.AdminKey, protocol.TenantRequest{Name: "default", MonthlyCallQuota: 1}, &tenant)
	if tenant.MonthlyCallQuota != 1 {
		t.Fatalf("tenant %+v", tenant)
	}
	room := s.CreateRoom(t, 2, "host", "guest")
	if err := s.Service().CountCall(t.Context(), room.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Service().CountCall(t.Context(), room.ID); err != nil { // same room: still one call
		t.Fatal(err)
	}
	s.Do(t, "GET", "/api/v1/tenants/"+s.TenantID, s.AdminKey, nil, &tenant)
	if tenant.CallsThisMonth != 1 {
		t.Fatalf("calls this month: %d", tenant.CallsThisMonth)
	}
	start := s.Clock.Now()
	e := errCode(t, s, "POST", "/api/v1/rooms", s.TenantKey, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host"}},
	}, 429)
	y, m, _ := s.Clock.Now().UTC().Date()
	if e.Code != api.CodeQuotaExceeded || e.ResetsAt == nil || !e.ResetsAt.Equal(time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("over quota: %+v", e)
	}
	// Next month the count starts anew.
	s.Clock.Set(time.Date(y, m+1, 2, 0, 0, 0, 0, time.UTC))
	s.CreateRoom(t, 2, "host", "guest")
}

func TestTenantsAndKeys(t *testing.T) {
	s := testutil.StartServer(t)
	errCode(t, s, "POST", "/api/v1/tenants", "", protocol.TenantRequest{Name: "x"}, 401)
	errCode(t, s, "POST", "/api/v1/tenants", "ksk_wrong", protocol.TenantRequest{Name: "x"}, 401)
	errCode(t, s, "POST", "/api/v1/tenants", s.TenantKey, protocol.TenantRequest{Name: "x"}, 403)
	errCode(t, s, "POST", "/api/v1/rooms", s.AdminKey, protocol.RoomRequest{}, 403)

	var tenant protocol.Tenant
	if code := s.Do(t, "POST", "/api/v1/tenants", s.AdminKey, protocol.TenantRequest{Name: "Praxis Süd"}, &tenant); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var key protocol.APIKey
	s.Do(t, "POST", "/api/v1/tenants/"+tenant.ID+"/keys", s.AdminKey, nil, &key)
	if !strings.HasPrefix(key.Secret, key.Prefix) || len(key.Secret) < 40 {
		t.Fatalf("key %+v", key)
	}
	var keys protocol.APIKeyList
	s.Do(t, "GET", "/api/v1/tenants/"+tenant.ID+"/keys", s.AdminKey, nil, &keys)
	if len(keys.Keys) != 1 || keys.Keys[0].Secret != "" {
		t.Fatalf("keys %+v (secrets must not be listed)", keys)
	}

	// The tenant makes a room; deleting the tenant removes room, codes and keys.
	start := s.Clock.Now()
	var room protocol.Room
	if code := s.Do(t, "POST", "/api/v1/rooms", key.Secret, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 3,
		Participants: []protocol.ParticipantRequest{{Role: "host"}},
	}, &room); code != 201 || room.Mode != protocol.ModeSFU {
		t.Fatalf("create room: %d %+v", code, room)
	}
	if code := s.Do(t, "DELETE", "/api/v1/tenants/"+tenant.ID, s.AdminKey, nil, nil); code != 204 {
		t.Fatalf("delete tenant: %d", code)
	}
	errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[0].Token}, 404)
	errCode(t, s, "GET", "/api/v1/rooms", key.Secret, nil, 401)
	errCode(t, s, "GET", "/api/v1/tenants/"+tenant.ID, s.AdminKey, nil, 404)

	// Revoking a key takes effect at once.
	var k2 protocol.APIKey
	s.Do(t, "POST", "/api/v1/tenants/"+s.TenantID+"/keys", s.AdminKey, nil, &k2)
	if code := s.Do(t, "GET", "/api/v1/rooms", k2.Secret, nil, nil); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	if code := s.Do(t, "DELETE", "/api/v1/tenants/"+s.TenantID+"/keys/"+k2.ID, s.AdminKey, nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	errCode(t, s, "GET", "/api/v1/rooms", k2.Secret, nil, 401)
}

func TestBadInput(t *testing.T) {
	s := testutil.StartServer(t)
	start := s.Clock.Now()
	valid := `{"window":{"start":"` + start.Format(time.RFC3339) + `"},"capacity":2,"participants":[{"role":"host"}]}`
	cases := []struct {
		name, body string
		status     int
		code       string
		mention    string
	}{
		{"empty", ``, 400, api.CodeMalformedJSON, "empty"},
		{"not json", `{"window":`, 400, api.CodeMalformedJSON, "JSON"},
		{"unknown field", `{"capacity":2,"colour":"red"}`, 400, api.CodeMalformedJSON, "colour"},
		{"trailing data", valid + `{}`, 400, api.CodeMalformedJSON, "after"},
		{"wrong type", `{"capacity":"two"}`, 400, api.CodeMalformedJSON, "capacity"},
		{"capacity", strings.Replace(valid, `"capacity":2`, `"capacity":99`, 1), 400, api.CodeInvalidRequest, "capacity"},
		{"role", strings.Replace(valid, `"host"`, `"root"`, 1), 400, api.CodeInvalidRequest, "role"},
		{"zone", `{"window":{"day":"2030-01-01","time_zone":"Nowhere/City"},"capacity":2,"participants":[{"role":"host"}]}`, 400, api.CodeInvalidRequest, "time_zone"},
		{"too large", `{"participants":[` + strings.Repeat(`{"role":"host","label":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},`, 2000) + `{}]}`, 413, api.CodeBodyTooLarge, "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := errCode(t, s, "POST", "/api/v1/rooms", s.TenantKey, c.body, c.status)
			if e.Code != c.code || !strings.Contains(e.Message, c.mention) {
				t.Errorf("got %+v, want code %s mentioning %q", e, c.code, c.mention)
			}
		})
	}
	errCode(t, s, "POST", "/api/v1/join", "", strings.Repeat("x", api.MaxBodyBytes+1), 413)
	errCode(t, s, "GET", "/api/v1/rooms?from=yesterday", s.TenantKey, nil, 400)
	errCode(t, s, "GET", "/api/v1/nothing", "", nil, 404)
	errCode(t, s, "PATCH", "/api/v1/join", "", nil, 405)
	// Nothing was lost: the store still serves.
	s.CreateRoom(t, 2, "host", "guest")
}

func TestHealthMetricsAndHeaders(t *testing.T) {
	s := testutil.StartServer(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code := s.Do(t, "GET", p, "", nil, nil); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: "ZZZZZ-ZZZZZ"}, nil)
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	if _, err := io.Copy(buf, resp.Body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`konsil_api_joins_total{outcome="not_found"} 1`, "konsil_signaling_sessions 0", "process_cpu_seconds_total"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if h := resp.Header.Get("Referrer-Policy"); h != "no-referrer" {
		t.Errorf("Referrer-Policy %q", h)
	}
}

// TestHTTPEdges (audit finding 4): no directory listing of the app, a
// stray slash answers as any unknown path does (JSON, with the security
// headers, not gin's text/html redirect), and the bearer scheme is
// exactly "Bearer <key>".
func TestHTTPEdges(t *testing.T) {
	s := testutil.StartServer(t)
	for _, p := range []string{"/app/js/", "/app/js", "/app/css/", "/api/v1/rooms/", "/practice//"} {
		resp, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.Contains(string(body), "<a href") {
			t.Errorf("GET %s: %d %q, want 404 without a listing", p, resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: answered without the security headers", p)
		}
	}
	if code := s.Do(t, "GET", "/app/js/call.js", "", nil, nil); code != 200 {
		t.Errorf("a file of the app: %d", code)
	}
	for _, h := range []string{"Bearer  " + s.TenantKey, "Bearer\t" + s.TenantKey, "Basic " + s.TenantKey, "Bearer " + s.TenantKey + " x"} {
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/rooms", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", strings.Replace(h, s.TenantKey, "<key>", 1), resp.StatusCode)
		}
	}
	if code := s.Do(t, "GET", "/api/v1/rooms", s.TenantKey, nil, nil); code != 200 {
		t.Errorf("Bearer <key>: %d", code)
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/rooms", nil)
	req.Header.Set("Authorization", "bearer "+s.TenantKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("the scheme in lower case (RFC 9110: case-insensitive): %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// Room metadata is deleted once the retention period after its window has
// passed, and not before.
func TestRetentionDeletesOldRooms(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, "host", "guest")
	s.Clock.Set(room.Window.EndsAt.Add(47 * time.Hour))
	if n, err := s.Service().Prune(t.Context(), 48*time.Hour); err != nil || n != 0 {
		t.Fatalf("prune inside retention: %d %v", n, err)
	}
	s.Clock.Set(room.Window.EndsAt.Add(49 * time.Hour))
	if n, err := s.Service().Prune(t.Context(), 48*time.Hour); err != nil || n != 1 {
		t.Fatalf("prune after retention: %d %v", n, err)
	}
	errCode(t, s, "GET", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, 404)
	errCode(t, s, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[0].Token}, 404)
}
