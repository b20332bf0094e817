package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// BenchmarkP2PJoin measures what a patient waits for: from the moment the
// second participant starts joining (REST join, WebSocket hello/welcome,
// offer/answer, ICE and DTLS over 127.0.0.1) until its PeerConnection is
// connected and the chat channel open. The host is already in the room.
// Each iteration is one consultation, in sequence; it reports p50 and p95,
// and for the parts, the REST join and the WebSocket handshake alone.
//
//	go test ./e2e -run '^$' -bench P2PJoin -benchtime 50x
func BenchmarkP2PJoin(b *testing.B) {
	s := testutil.StartServer(b)
	hc := &http.Client{Timeout: 10 * time.Second}
	var total, apiOnly, wsOnly []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		room := s.CreateRoom(b, 2, "host", "guest")
		host, err := tryDialParty(s, "host", room.Participants[0].Token)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		t0 := time.Now()
		guest, err := tryDialParty(s, "guest", room.Participants[1].Token)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := guest.WaitConnected(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total = append(total, time.Since(t0))

		b.StopTimer()
		guest.Close()
		host.Close()
		// The parts on their own, with a third participant of the room.
		probe := s.CreateRoom(b, 2, "host")
		t1 := time.Now()
		j, err := client.Join(context.Background(), hc, s.URL, protocol.JoinRequest{Token: probe.Participants[0].Token})
		if err != nil {
			b.Fatal(err)
		}
		apiOnly = append(apiOnly, time.Since(t1))
		t2 := time.Now()
		sig, err := client.DialSignal(context.Background(), j.WebSocketURL, j.SessionToken)
		if err != nil {
			b.Fatal(err)
		}
		wsOnly = append(wsOnly, time.Since(t2))
		sig.Close()
		b.StartTimer()
	}
	b.StopTimer()
	report(b, "join", total)
	report(b, "api", apiOnly)
	report(b, "ws", wsOnly)
}

func report(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	q := func(p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), name+"-p50-ms")
	b.ReportMetric(q(0.95), name+"-p95-ms")
}
