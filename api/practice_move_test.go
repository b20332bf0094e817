package api_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// listed returns the ids the workspace lists for [from, to).
func (b *browser) listed(from, to time.Time) map[string]practice.AppointmentView {
	b.t.Helper()
	var list []practice.AppointmentView
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	if code := b.do("GET", "/appointments?"+q.Encode(), nil, &list); code != 200 {
		b.t.Fatalf("list: HTTP %d", code)
	}
	out := map[string]practice.AppointmentView{}
	for _, a := range list {
		out[a.ID] = a
	}
	return out
}

// today books a consultation for today (UTC) held by holderID.
func (b *browser) today(s *testutil.Server, holderID string) practice.CreatedAppointment {
	b.t.Helper()
	var c practice.CreatedAppointment
	req := practice.AppointmentRequest{HolderID: holderID, Kind: "consultation", Invitees: 1,
		Window: protocol.WindowRequest{Day: s.Clock.Now().UTC().Format(time.DateOnly), TimeZone: "UTC"}}
	if code := b.do("POST", "/appointments", req, &c); code != 201 {
		b.t.Fatalf("create: HTTP %d", code)
	}
	return c
}

// A patient's link follows its appointment to the new time: refused
// before the new window, accepted inside it, closed after it.
func TestMoveAppointment(t *testing.T) {
	s := testutil.StartServer(t)
	admin, sess, _ := setUp(t, s, s.SetupToken, "anna.berg@praxis.example", "Dr. Anna Berg")
	holderID := sess.User.ID
	now := s.Clock.Now()
	today := now.UTC().Truncate(24 * time.Hour)
	c := admin.today(s, holderID)
	id, patient := c.Appointment.ID, c.Participants[1]
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: patient.Token}, nil); code != 200 {
		t.Fatalf("join today before the move: %d", code)
	}

	// Three days ahead at 14:00 Berlin time, for 24 hours.
	berlin, _ := time.LoadLocation("Europe/Berlin")
	y, m, d := now.In(berlin).AddDate(0, 0, 3).Date()
	start := time.Date(y, m, d, 14, 0, 0, 0, berlin)

	t.Run("CSRF", func(t *testing.T) {
		b := *admin
		b.t, b.csrf = t, ""
		if code := b.errCode("POST", "/appointments/"+id+"/move", protocol.WindowRequest{Start: &start, TimeZone: "Europe/Berlin"}, 403); code != api.CodeCSRF {
			t.Errorf("move without the CSRF header: %s", code)
		}
	})

	t.Run("bad windows are refused as at creation", func(t *testing.T) {
		admin.t = t
		past := now.Add(-72 * time.Hour)
		for _, w := range []protocol.WindowRequest{
			{},
			{Day: "2020-01-01", TimeZone: "UTC"},
			{Day: today.AddDate(0, 0, 1).Format(time.DateOnly)},
			{Day: today.AddDate(0, 0, 1).Format(time.DateOnly), TimeZone: "UTC", Start: &start},
			{Start: &past, TimeZone: "UTC"},
			{Start: &start, Hours: 100},
		} {
			admin.errCode("POST", "/appointments/"+id+"/move", w, 400)
		}
		admin.errCode("POST", "/appointments/"+id+"/move", map[string]string{"when": "tomorrow"}, 400)
		if _, ok := admin.listed(today, today.Add(24*time.Hour))[id]; !ok {
			t.Error("a refused move moved the appointment off today")
		}
	})

	t.Run("another practice cannot move it", func(t *testing.T) {
		other, _ := otherPractice(t, s)
		other.t = t
		if code := other.errCode("POST", "/appointments/"+id+"/move", protocol.WindowRequest{Start: &start, TimeZone: "Europe/Berlin"}, 404); code != api.CodeNotFound {
			t.Errorf("practice B moves A's appointment: %s", code)
		}
		admin.t = t
		if a, ok := admin.listed(today, today.Add(24*time.Hour))[id]; !ok || !a.StartsAt.Equal(today) {
			t.Errorf("after practice B's try the appointment is %+v (listed %v)", a, ok)
		}
	})

	t.Run("moved", func(t *testing.T) {
		admin.t = t
		var moved practice.AppointmentView
		if code := admin.do("POST", "/appointments/"+id+"/move", protocol.WindowRequest{Start: &start, TimeZone: "Europe/Berlin"}, &moved); code != 200 {
			t.Fatalf("move: HTTP %d", code)
		}
		if !moved.StartsAt.Equal(start) || !moved.EndsAt.Equal(start.Add(24*time.Hour)) || moved.TimeZone != "Europe/Berlin" ||
			moved.Status != "scheduled" || moved.RoomID != c.Appointment.RoomID || moved.HolderID != holderID {
			t.Fatalf("moved: %+v", moved)
		}
		newDay := time.Date(y, m, d, 0, 0, 0, 0, berlin)
		if a, ok := admin.listed(newDay, newDay.AddDate(0, 0, 1))[id]; !ok || !a.StartsAt.Equal(start) {
			t.Errorf("the new day lists %+v (listed %v)", a, ok)
		}
		if _, ok := admin.listed(today, today.Add(24*time.Hour))[id]; ok {
			t.Error("today still lists the moved appointment")
		}
	})

	t.Run("the patient's link opens in the new window only", func(t *testing.T) {
		var e protocol.ErrorBody
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: patient.Token}, &e); code != 403 ||
			e.Error.Code != api.CodeRoomNotOpen || e.Error.OpensAt == nil || !e.Error.OpensAt.Equal(start) {
			t.Fatalf("join in the old window: %d %+v", code, e.Error)
		}
		s.Clock.Set(start.Add(-time.Second))
		s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: patient.Code}, &e)
		if e.Error.Code != api.CodeRoomNotOpen {
			t.Fatalf("the code a second before the new window: %+v", e.Error)
		}
		s.Clock.Set(start.Add(time.Minute))
		var j protocol.JoinResponse
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: patient.Token}, &j); code != 200 || j.RoomID != c.Appointment.RoomID {
			t.Fatalf("join in the new window: %d %+v", code, j)
		}
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: patient.Code}, nil); code != 200 {
			t.Errorf("the code in the new window: %d", code)
		}
		s.Clock.Set(start.Add(24*time.Hour + time.Second))
		if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: patient.Token}, &e); code != 403 || e.Error.Code != api.CodeRoomClosed {
			t.Errorf("join after the new window: %d %+v", code, e.Error)
		}
	})
}

func TestMoveOnlyScheduledAppointments(t *testing.T) {
	s := testutil.StartServer(t)
	admin, sess, _ := setUp(t, s, s.SetupToken, "anna.berg@praxis.example", "Dr. Anna Berg")
	tomorrow := protocol.WindowRequest{Day: s.Clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly), TimeZone: "UTC"}
	for _, end := range []string{"done", "cancel"} {
		c := admin.today(s, sess.User.ID)
		if code := admin.do("POST", "/appointments/"+c.Appointment.ID+"/"+end, nil, nil); code != 200 {
			t.Fatalf("%s: HTTP %d", end, code)
		}
		var e protocol.ErrorBody
		if code := admin.do("POST", "/appointments/"+c.Appointment.ID+"/move", tomorrow, &e); code != 400 ||
			e.Error.Code != api.CodeInvalidRequest || !strings.Contains(e.Error.Message, "only a scheduled appointment can be moved") {
			t.Errorf("move after %s: %d %+v", end, code, e.Error)
		}
	}
}

func TestAssistantMovesAppointment(t *testing.T) {
	s := testutil.StartServer(t)
	admin, sess, _ := setUp(t, s, s.SetupToken, "anna.berg@praxis.example", "Dr. Anna Berg")
	var inv struct {
		Token string `json:"token"`
	}
	if code := admin.do("POST", "/invites", map[string]string{"role": "assistant", "wrapped_key": sealed(60)}, &inv); code != 201 {
		t.Fatalf("invite: %d", code)
	}
	asst, _, _ := setUp(t, s, inv.Token, "empfang@praxis.example", "Empfang")
	c := admin.today(s, sess.User.ID)
	day := s.Clock.Now().UTC().AddDate(0, 0, 2).Truncate(24 * time.Hour)
	var moved practice.AppointmentView
	if code := asst.do("POST", "/appointments/"+c.Appointment.ID+"/move", protocol.WindowRequest{Day: day.Format(time.DateOnly), TimeZone: "UTC"}, &moved); code != 200 {
		t.Fatalf("assistant moves: HTTP %d", code)
	}
	if !moved.StartsAt.Equal(day) || !moved.EndsAt.Equal(day.Add(24*time.Hour)) {
		t.Errorf("moved to %s–%s, want the day %s", moved.StartsAt, moved.EndsAt, day.Format(time.DateOnly))
	}
	if _, ok := asst.listed(day, day.Add(24*time.Hour))[c.Appointment.ID]; !ok {
		t.Error("the new day does not list the appointment")
	}
}
