package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// invited has the admin invite a user with role and sets the account up.
func invited(t *testing.T, s *testutil.Server, admin *browser, role, email, name string) (*browser, practice.Session, string) {
	t.Helper()
	var inv struct {
		Token string `json:"token"`
	}
	if code := admin.do("POST", "/invites", map[string]string{"role": role, "wrapped_key": sealed(60)}, &inv); code != 201 {
		t.Fatalf("invite %s: HTTP %d", role, code)
	}
	return setUp(t, s, inv.Token, email, name)
}

func userIDs(users []practice.AdminUserView) []string {
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	return ids
}

// TestWorkspaceAdmin is a practice admin's page: she sees her team with
// their addresses, makes the assistant-turned-doctor a clinician,
// removes a leaver (whose open session dies at once and whose
// appointment keeps its holder), reads the month's calls against the
// quota and makes an API key for the practice software, which works
// against the REST API until she revokes it. Nobody else can do any of
// it, and another practice's admin finds nothing of hers.
func TestWorkspaceAdmin(t *testing.T) {
	s := testutil.StartServer(t)
	admin, asess, _ := setUp(t, s, s.SetupToken, "anna.berg@praxis.example", "Dr. Anna Berg")
	clin, csess, _ := invited(t, s, admin, "clinician", "jonas.k@praxis.example", "Dr. Jonas Keller")
	asst, ssess, sauth := invited(t, s, admin, "assistant", "empfang@praxis.example", "Empfang Meier")
	ctx := context.Background()
	// The practice is the first start's tenant: it has that start's key.
	var firstKeys []protocol.APIKey
	if code := admin.do("GET", "/api-keys", nil, &firstKeys); code != 200 || len(firstKeys) != 1 || firstKeys[0].Prefix != s.TenantKey[:8] {
		t.Fatalf("keys at first: HTTP %d %+v", code, firstKeys)
	}

	t.Run("users with addresses", func(t *testing.T) {
		admin.t = t
		var users []practice.AdminUserView
		if code := admin.do("GET", "/admin/users", nil, &users); code != 200 || len(users) != 3 {
			t.Fatalf("admin users: HTTP %d %+v", code, users)
		}
		want := map[string][2]string{
			asess.User.ID: {"anna.berg@praxis.example", "admin"},
			csess.User.ID: {"jonas.k@praxis.example", "clinician"},
			ssess.User.ID: {"empfang@praxis.example", "assistant"},
		}
		for _, u := range users {
			if w := want[u.ID]; u.Email != w[0] || u.Role != w[1] || u.Name == "" || u.CreatedAt.IsZero() {
				t.Errorf("user %+v, want %v", u, w)
			}
		}
		// The calendar's list stays as it was: no addresses.
		var plain []map[string]any
		clin.t = t
		clin.do("GET", "/users", nil, &plain)
		if len(plain) != 3 || plain[0]["email"] != nil {
			t.Errorf("GET users: %+v", plain)
		}
	})

	t.Run("only admins", func(t *testing.T) {
		for _, b := range []*browser{clin, asst} {
			b.t = t
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/admin/users", nil},
				{"PUT", "/users/" + ssess.User.ID, map[string]string{"role": "admin"}},
				{"DELETE", "/users/" + ssess.User.ID, nil},
				{"GET", "/usage", nil},
				{"GET", "/api-keys", nil},
				{"POST", "/api-keys", nil},
				{"DELETE", "/api-keys/whatever", nil},
			} {
				if code := b.errCode(r.method, r.path, r.body, 403); code != api.CodeForbidden {
					t.Errorf("%s %s: %s, want forbidden", r.method, r.path, code)
				}
			}
		}
		var keys []protocol.APIKey
		admin.t = t
		admin.do("GET", "/api-keys", nil, &keys)
		if len(keys) != len(firstKeys) {
			t.Errorf("a refused POST made a key: %+v", keys)
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		b := *admin
		b.t, b.csrf = t, ""
		for _, r := range [][2]string{
			{"PUT", "/users/" + ssess.User.ID}, {"DELETE", "/users/" + ssess.User.ID},
			{"POST", "/api-keys"}, {"DELETE", "/api-keys/whatever"},
		} {
			var body any
			if r[0] == "PUT" {
				body = map[string]string{"role": "admin"}
			}
			if code := b.errCode(r[0], r[1], body, 403); code != api.CodeCSRF {
				t.Errorf("%s %s without CSRF: %s", r[0], r[1], code)
			}
		}
		var users []practice.AdminUserView
		b.do("GET", "/admin/users", nil, &users)
		if len(users) != 3 {
			t.Errorf("after refused changes: %d users", len(users))
		}
	})

	t.Run("roles", func(t *testing.T) {
		admin.t, asst.t = t, t
		var u practice.AdminUserView
		if code := admin.do("PUT", "/users/"+ssess.User.ID, map[string]string{"role": "clinician"}, &u); code != 200 || u.Role != "clinician" {
			t.Fatalf("assistant to clinician: HTTP %d %+v", code, u)
		}
		// The open session has the new role with its next request.
		var now practice.Session
		asst.do("GET", "/session", nil, &now)
		if now.User.Role != "clinician" {
			t.Errorf("session after the change: role %q", now.User.Role)
		}
		admin.errCode("PUT", "/users/"+ssess.User.ID, map[string]string{"role": "owner"}, 400)
		admin.errCode("PUT", "/users/nobody", map[string]string{"role": "admin"}, 404)
		admin.do("PUT", "/users/"+ssess.User.ID, map[string]string{"role": "assistant"}, nil)
	})

	t.Run("the last admin stays", func(t *testing.T) {
		admin.t, clin.t = t, t
		if code := admin.errCode("PUT", "/users/"+asess.User.ID, map[string]string{"role": "clinician"}, 409); code != api.CodeLastAdmin {
			t.Errorf("demote the only admin: %s", code)
		}
		if code := admin.errCode("DELETE", "/users/"+asess.User.ID, nil, 409); code != api.CodeLastAdmin {
			t.Errorf("remove the only admin: %s", code)
		}
		var me practice.Session
		if admin.do("GET", "/session", nil, &me); me.User.Role != "admin" {
			t.Fatalf("after the refusals: %+v", me.User)
		}
		// With a second admin she may step down, and back.
		admin.do("PUT", "/users/"+csess.User.ID, map[string]string{"role": "admin"}, nil)
		if code := admin.do("PUT", "/users/"+asess.User.ID, map[string]string{"role": "clinician"}, nil); code != 200 {
			t.Fatalf("demote with another admin: HTTP %d", code)
		}
		admin.errCode("GET", "/admin/users", nil, 403)
		if code := clin.errCode("PUT", "/users/"+csess.User.ID, map[string]string{"role": "clinician"}, 409); code != api.CodeLastAdmin {
			t.Errorf("the other admin demotes herself as the last: %s", code)
		}
		clin.do("PUT", "/users/"+asess.User.ID, map[string]string{"role": "admin"}, nil)
		if code := admin.do("PUT", "/users/"+csess.User.ID, map[string]string{"role": "clinician"}, nil); code != 200 {
			t.Fatalf("back as before: HTTP %d", code)
		}
	})

	var key protocol.APIKey
	t.Run("API keys", func(t *testing.T) {
		admin.t = t
		if code := admin.do("POST", "/api-keys", nil, &key); code != 201 {
			t.Fatalf("create key: HTTP %d", code)
		}
		if !strings.HasPrefix(key.Secret, "ksk_") || key.Prefix != key.Secret[:8] || key.ID == "" || key.TenantID != asess.Practice.ID {
			t.Fatalf("created key %+v", key)
		}
		var keys []protocol.APIKey
		admin.do("GET", "/api-keys", nil, &keys)
		i := slices.IndexFunc(keys, func(k protocol.APIKey) bool { return k.ID == key.ID })
		if len(keys) != 2 || i < 0 || keys[i].Prefix != key.Prefix {
			t.Fatalf("keys: %+v", keys)
		}
		for _, k := range keys {
			if k.Secret != "" {
				t.Errorf("a listed key has its secret: %+v (shown once only)", k)
			}
		}
		var rooms protocol.RoomList
		if code := s.Do(t, "GET", "/api/v1/rooms", key.Secret, nil, &rooms); code != 200 {
			t.Fatalf("the practice software's key on the REST API: HTTP %d", code)
		}
	})

	t.Run("usage", func(t *testing.T) {
		admin.t = t
		var u practice.Usage
		if code := admin.do("GET", "/usage", nil, &u); code != 200 || u.Calls != 0 || u.Quota != 0 || u.Month != store.Month(s.Clock.Now()) {
			t.Fatalf("usage before: HTTP %d %+v", code, u)
		}
		var tenant protocol.Tenant
		if code := s.Do(t, "PUT", "/api/v1/tenants/"+asess.Practice.ID, s.AdminKey,
			protocol.TenantRequest{Name: asess.Practice.Name, MonthlyCallQuota: 500}, &tenant); code != 200 {
			t.Fatalf("set quota: HTTP %d", code)
		}
		// A call held in an appointment's room counts, once.
		var c practice.CreatedAppointment
		if code := admin.do("POST", "/appointments", practice.AppointmentRequest{HolderID: asess.User.ID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: s.Clock.Now().UTC().Format("2006-01-02"), TimeZone: "UTC"}}, &c); code != 201 {
			t.Fatalf("appointment: HTTP %d", code)
		}
		for range 2 {
			if err := s.Service().CountCall(ctx, c.Appointment.RoomID); err != nil {
				t.Fatal(err)
			}
		}
		admin.do("GET", "/usage", nil, &u)
		y, m, _ := s.Clock.Now().UTC().Date()
		if u.Calls != 1 || u.Quota != 500 || !u.ResetsAt.Equal(time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("usage after a call: %+v", u)
		}
	})

	t.Run("another practice finds nothing", func(t *testing.T) {
		other, bsess := otherPractice(t, s)
		other.t = t
		var users []practice.AdminUserView
		other.do("GET", "/admin/users", nil, &users)
		if !slices.Equal(userIDs(users), []string{bsess.User.ID}) {
			t.Errorf("practice B's admin lists %+v", users)
		}
		var keys []protocol.APIKey
		other.do("GET", "/api-keys", nil, &keys)
		if len(keys) != 0 {
			t.Errorf("practice B lists keys %+v", keys)
		}
		var u practice.Usage
		other.do("GET", "/usage", nil, &u)
		if u.Calls != 0 || u.Quota != 0 {
			t.Errorf("practice B's usage: %+v", u)
		}
		other.errCode("PUT", "/users/"+csess.User.ID, map[string]string{"role": "assistant"}, 404)
		other.errCode("DELETE", "/users/"+csess.User.ID, nil, 404)
		other.errCode("DELETE", "/users/"+asess.User.ID, nil, 404)
		other.errCode("DELETE", "/api-keys/"+key.ID, nil, 404)
		admin.t = t
		var mine []practice.AdminUserView
		admin.do("GET", "/admin/users", nil, &mine)
		for _, u := range mine {
			if u.ID == csess.User.ID && u.Role != "clinician" {
				t.Errorf("B changed A's clinician: %+v", u)
			}
		}
		if len(mine) != 3 {
			t.Errorf("A's users after B's attempts: %d", len(mine))
		}
		if code := s.Do(t, "GET", "/api/v1/rooms", key.Secret, nil, nil); code != 200 {
			t.Errorf("A's key after B's attempt: HTTP %d", code)
		}
	})

	t.Run("revoke key", func(t *testing.T) {
		admin.t = t
		if code := admin.do("DELETE", "/api-keys/"+key.ID, nil, nil); code != 204 {
			t.Fatalf("revoke: HTTP %d", code)
		}
		if code := s.Do(t, "GET", "/api/v1/rooms", key.Secret, nil, nil); code != 401 {
			t.Errorf("revoked key: HTTP %d, want 401", code)
		}
		admin.errCode("DELETE", "/api-keys/"+key.ID, nil, 404)
		var keys []protocol.APIKey
		admin.do("GET", "/api-keys", nil, &keys)
		if len(keys) != 1 || keys[0].ID != firstKeys[0].ID {
			t.Errorf("keys after revoking: %+v", keys)
		}
	})

	t.Run("remove a user", func(t *testing.T) {
		admin.t, asst.t = t, t
		// A second login of the leaver, and an appointment she holds
		// (as a clinician for the day).
		second := newWorkspaceBrowser(t, s)
		var ss practice.Session
		if code := second.do("POST", "/login", map[string]string{"email": "empfang@praxis.example", "auth": sauth}, &ss); code != 200 {
			t.Fatalf("second login: HTTP %d", code)
		}
		admin.do("PUT", "/users/"+ssess.User.ID, map[string]string{"role": "clinician"}, nil)
		var c practice.CreatedAppointment
		if code := admin.do("POST", "/appointments", practice.AppointmentRequest{HolderID: ssess.User.ID, Kind: "consultation", Invitees: 1,
			Window: protocol.WindowRequest{Day: s.Clock.Now().UTC().Format("2006-01-02"), TimeZone: "UTC"}}, &c); code != 201 {
			t.Fatalf("appointment: HTTP %d", code)
		}

		if code := admin.do("DELETE", "/users/"+ssess.User.ID, nil, nil); code != 204 {
			t.Fatalf("remove: HTTP %d", code)
		}
		asst.errCode("GET", "/session", nil, 401)
		second.errCode("GET", "/session", nil, 401)
		if code := newWorkspaceBrowser(t, s).errCode("POST", "/login", map[string]string{"email": "empfang@praxis.example", "auth": sauth}, 401); code != api.CodeInvalidCredentials {
			t.Errorf("login of the removed user: %s", code)
		}
		var users []practice.AdminUserView
		admin.do("GET", "/admin/users", nil, &users)
		if slices.Contains(userIDs(users), ssess.User.ID) || len(users) != 2 {
			t.Errorf("users after removal: %+v", users)
		}
		var list []practice.AppointmentView
		admin.do("GET", "/appointments", nil, &list)
		i := slices.IndexFunc(list, func(a practice.AppointmentView) bool { return a.ID == c.Appointment.ID })
		if i < 0 || list[i].HolderID != ssess.User.ID || list[i].Status != "scheduled" {
			t.Errorf("the removed user's appointment: %+v", list)
		}
		admin.errCode("DELETE", "/users/"+ssess.User.ID, nil, 404)
	})

	t.Run("an admin removes herself", func(t *testing.T) {
		admin.t, clin.t = t, t
		admin.do("PUT", "/users/"+csess.User.ID, map[string]string{"role": "admin"}, nil)
		if code := admin.do("DELETE", "/users/"+asess.User.ID, nil, nil); code != 204 {
			t.Fatalf("remove herself: HTTP %d", code)
		}
		admin.errCode("GET", "/session", nil, 401)
		var users []practice.AdminUserView
		clin.do("GET", "/admin/users", nil, &users)
		if !slices.Equal(userIDs(users), []string{csess.User.ID}) {
			t.Errorf("users: %+v", users)
		}
	})
}
