package e2e_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pturn "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/store"
	"github.com/konsil/konsil/turn"
)

// A patient behind a firewall that lets no UDP through, and a clinician
// behind one that allows only TCP: both clients may use nothing but
// relay candidates from the embedded TURN relay, over UDP in one run and
// over TCP in the other. They connect, video, audio and chat flow both
// ways through the relay, and the server's shutdown ends the relay
// without leaving a goroutine behind.
func TestRelayOnlyConsultation(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := testutil.StartServer(t, testutil.WithTURN(func(c *turn.Config) {
				if transport == "tcp" {
					c.UDPAddr = "" // no UDP listener at all: TCP or nothing
				} else {
					c.TCPAddr = ""
				}
			}))
			room := s.CreateRoom(t, 2, "host", "guest")
			hostMedia, guestMedia := newSynthetic(t, "host"), newSynthetic(t, "guest")
			host := dialRelayParty(t, s, "host", room.Participants[0].Token, hostMedia.tracks()...)
			guest := dialRelayParty(t, s, "guest", room.Participants[1].Token, guestMedia.tracks()...)
			host.waitConnected(t)
			guest.waitConnected(t)

			host.keepsReceiving(t, time.Second, 30)
			guest.keepsReceiving(t, time.Second, 30)
			host.chatsWith(t, guest, []byte("Hören Sie mich?"))
			guest.chatsWith(t, host, []byte("Ja, über das Relay."))

			for _, p := range []*party{host, guest} {
				pair, err := p.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
				if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("%s: selected pair %v (%v), want a relay candidate", p.name, pair, err)
				}
			}
			m := s.TURN().Metrics()
			if n := counterValue(t, m.AllocationsTotal.WithLabelValues(transport)); n < 2 {
				t.Errorf("%v TURN allocations over %s, want one per participant at least", n, transport)
			}
			if n := counterValue(t, m.RelayedBytes.WithLabelValues("to_peer")); n < 100_000 {
				t.Errorf("%v bytes relayed, want the call's media", n)
			}

			// The guest hangs up: its allocations end with its session.
			// (The host may rebuild its PeerConnection when the guest's
			// DTLS closes, so the count can dip to zero on the way.)
			before := s.TURN().Allocations()
			guestMedia.close()
			guest.Close()
			deadline := time.Now().Add(5 * time.Second)
			for s.TURN().Allocations() >= before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if after := s.TURN().Allocations(); after >= before {
				t.Errorf("allocations %d before the guest's bye, %d after; want fewer", before, after)
			}
			hostMedia.close()
			host.Close()
			s.Stop(t)
		})
	}
}

// dialRelayParty is dialParty with ICE limited to TURN relay candidates.
func dialRelayParty(t *testing.T, s *testutil.Server, name, token string, tracks ...webrtc.TrackLocal) *party {
	t.Helper()
	p, err := dialWith(s, name, token, func(o *client.Options) { o.RelayOnly = true }, tracks...)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// The join hands out a TURN credential that ends with the room window
// plus grace. Once that has passed the relay refuses it with 401
// Unauthorized, and so it does a credential with a forged expiry or
// password; /metrics names each reason.
func TestTURNRefusesExpiredAndForgedCredentials(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithTURN())
	room := s.CreateRoom(t, 2, "host", "guest")
	var join protocol.JoinResponse
	if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[1].Token}, &join); code != http.StatusOK {
		t.Fatalf("join: HTTP %d", code)
	}
	ice := turnServer(t, join)
	wantUser := strconv.FormatInt(join.WindowEndsAt.Add(turn.DefaultGrace).Unix(), 10) + ":" + join.RoomID + ":" + join.ParticipantID
	if ice.Username != wantUser {
		t.Errorf("TURN username %q, want %q (window end + grace : room : participant)", ice.Username, wantUser)
	}
	addr := turnAddr(t, ice, "udp")

	if err := allocate(t, addr, ice.Username, ice.Credential); err != nil {
		t.Fatalf("fresh credential refused: %v", err)
	}
	forgedExpiry := strconv.FormatInt(join.WindowEndsAt.Add(48*time.Hour).Unix(), 10) + ":" + join.RoomID + ":" + join.ParticipantID
	if err := allocate(t, addr, forgedExpiry, ice.Credential); turnCode(err) != stun.CodeUnauthorized {
		t.Errorf("forged expiry: %v, want 401 Unauthorized", err)
	}
	if err := allocate(t, addr, ice.Username, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="); turnCode(err) != stun.CodeUnauthorized {
		t.Errorf("forged password: %v, want 401 Unauthorized", err)
	}

	s.Clock.Set(join.WindowEndsAt.Add(turn.DefaultGrace))
	if err := allocate(t, addr, ice.Username, ice.Credential); turnCode(err) != stun.CodeUnauthorized {
		t.Errorf("expired credential: %v, want 401 Unauthorized", err)
	}
	metrics := scrape(t, s)
	for _, want := range []string{
		`konsil_turn_refusals_total{reason="expired"} 1`,
		`konsil_turn_refusals_total{reason="bad_credential"} 2`,
		`konsil_turn_allocations_total{transport="udp"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A guest's link is revoked while its relay runs: the room is deleted,
// the guest is removed from it, or the room's window ends. Its TURN
// credential still has until the window's end plus grace, but the
// relay refuses the allocation's next Refresh and a new Allocate with 401
// Unauthorized, ends the allocation, and /metrics counts the refusals as
// revoked.
func TestTURNRefusesRevokedCredentials(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, s *testutil.Server, st store.Store, room protocol.Room, join protocol.JoinResponse)
	}{
		{"room deleted", func(t *testing.T, s *testutil.Server, _ store.Store, room protocol.Room, _ protocol.JoinResponse) {
			if code := s.Do(t, http.MethodDelete, "/api/v1/rooms/"+room.ID, s.TenantKey, nil, nil); code != http.StatusNoContent {
				t.Fatalf("delete room: HTTP %d", code)
			}
		}},
		{"participant removed", func(t *testing.T, _ *testutil.Server, st store.Store, room protocol.Room, join protocol.JoinResponse) {
			// No API removes one participant; the store can, and the
			// relay must follow it.
			ctx := context.Background()
			r, err := st.GetRoom(ctx, room.ID)
			if err != nil {
				t.Fatal(err)
			}
			r.Participants = slices.DeleteFunc(r.Participants, func(p store.Participant) bool { return p.ID == join.ParticipantID })
			if err := st.DeleteRoom(ctx, room.ID); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateRoom(ctx, r); err != nil {
				t.Fatal(err)
			}
		}},
		{"window ended", func(_ *testing.T, s *testutil.Server, _ store.Store, _ protocol.Room, join protocol.JoinResponse) {
			s.Clock.Set(join.WindowEndsAt) // the credential runs 15 minutes more
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.OpenBolt(filepath.Join(t.TempDir(), "konsil.db"))
			if err != nil {
				t.Fatal(err)
			}
			s := testutil.StartServer(t, testutil.WithTURN(), func(c *server.Config) { c.Store = st })
			room := s.CreateRoom(t, 2, "host", "guest")
			var join protocol.JoinResponse
			if code := s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: room.Participants[1].Token}, &join); code != http.StatusOK {
				t.Fatalf("join: HTTP %d", code)
			}
			ice := turnServer(t, join)
			addr := turnAddr(t, ice, "udp")
			c := dialTURN(t, addr, ice.Username, ice.Credential)
			if _, err := c.Allocate(); err != nil {
				t.Fatalf("allocate: %v", err)
			}
			if code := refresh(t, c, ice); code != 0 {
				t.Fatalf("refresh before the revocation: error %d", code)
			}

			tc.revoke(t, s, st, room, join)
			if code := refresh(t, c, ice); code != stun.CodeUnauthorized {
				t.Errorf("refresh after the revocation: %d, want 401 Unauthorized", code)
			}
			if err := allocate(t, addr, ice.Username, ice.Credential); turnCode(err) != stun.CodeUnauthorized {
				t.Errorf("new allocation after the revocation: %v, want 401 Unauthorized", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.TURN().Allocations() > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := s.TURN().Allocations(); n != 0 {
				t.Errorf("%d allocations still alive after the revocation", n)
			}
			if want := `konsil_turn_refusals_total{reason="revoked"} 2`; !strings.Contains(scrape(t, s), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		})
	}
}

// dialTURN is a pion TURN client over UDP to addr, closed when the test
// ends.
func dialTURN(t *testing.T, addr, user, pass string) *pturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

// refresh sends a Refresh for c's allocation with ice's credential.
func refresh(t *testing.T, c *pturn.Client, ice protocol.ICEServer) stun.ErrorCode {
	t.Helper()
	code, err := testutil.TURNRefresh(c, ice.Username, ice.Credential)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// A conference participant whose network allows only the relay joins
// the SFU and receives media through it.
func TestSFURelayOnly(t *testing.T) {
	verifyNoLeaks(t)
	s := testutil.StartServer(t, withSFUPorts(), testutil.WithTURN())
	room := s.CreateRoom(t, 3, "host", "guest", "guest")
	pub := dialMember(t, s, "clinic", room.Participants[0].Token, newSynthetic(t, "clinic").tracks()...)
	patient := dialMemberWith(t, s, "patient", room.Participants[1].Token, func(o *client.ConferenceOptions) {
		o.LoopbackOnly = false // relay candidates come from the TURN server, not from an interface
		o.RelayOnly = true
	})
	receiveFromEachOther(t, []*member{patient}, []*member{pub}, 50)

	pair, err := patient.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Errorf("patient: selected pair %v (%v), want a relay candidate", pair, err)
	}
	if n := counterValue(t, s.TURN().Metrics().RelayedBytes.WithLabelValues("to_peer")); n == 0 {
		t.Errorf("nothing relayed to the SFU")
	}
	if s.TURN().Allocations() < 1 {
		t.Errorf("no TURN allocation while the patient is in the conference")
	}
}

// turnServer is the join response's TURN entry (the one with a credential).
func turnServer(t *testing.T, join protocol.JoinResponse) protocol.ICEServer {
	t.Helper()
	for _, s := range join.ICEServers {
		if s.Username != "" {
			return s
		}
	}
	t.Fatalf("join response has no TURN server: %+v", join.ICEServers)
	return protocol.ICEServer{}
}

// turnAddr is the host:port of the entry's URL for transport.
func turnAddr(t *testing.T, s protocol.ICEServer, transport string) string {
	t.Helper()
	for _, u := range s.URLs {
		uri, err := stun.ParseURI(u)
		if err == nil && uri.Scheme == stun.SchemeTypeTURN && uri.Proto.String() == transport {
			return net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
		}
	}
	t.Fatalf("no turn: URL over %s in %v", transport, s.URLs)
	return ""
}

// allocate asks the relay at addr for an allocation over UDP with a pion
// TURN client, and releases it at once.
func allocate(t *testing.T, addr, user, pass string) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relayConn, err := c.Allocate()
	if err != nil {
		return err
	}
	return relayConn.Close()
}

func turnCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func scrape(t *testing.T, s *testutil.Server) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
