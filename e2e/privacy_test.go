package e2e_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
)

// A whole consultation, with wrong codes and a deletion, logged at info
// level: the log holds ids, never a token, code, key, session token, label
// or chat text.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs testutil.SyncBuffer
	s := testutil.StartServer(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	start := s.Clock.Now().Add(-time.Minute)
	var room protocol.Room
	s.Do(t, "POST", "/api/v1/rooms", s.TenantKey, protocol.RoomRequest{
		Window: protocol.WindowRequest{Start: &start}, Capacity: 2,
		Participants: []protocol.ParticipantRequest{{Role: "host", Label: "Dr. Erika Mustermann"}, {Role: "guest", Label: "Max Patient"}},
	}, &room)
	var j protocol.JoinResponse
	s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: room.Participants[0].Code}, &j)
	s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Code: "ZZZZZ-ZZZZZ"}, nil)
	s.Do(t, "POST", "/api/v1/join", "", protocol.JoinRequest{Token: "not-a-token-but-secret-looking"}, nil)

	media := newSynthetic(t, "m")
	host := dialParty(t, s, "host", room.Participants[0].Token, media.tracks()...)
	guest := dialParty(t, s, "guest", room.Participants[1].Token)
	host.waitConnected(t)
	guest.waitConnected(t)
	host.chatsWith(t, guest, []byte("Befund: unauffällig"))
	host.Close()
	guest.Close()
	s.Do(t, "DELETE", "/api/v1/rooms/"+room.ID, s.TenantKey, nil, nil)
	s.Stop(t)

	out := logs.String()
	if !strings.Contains(out, room.ID) {
		t.Fatalf("the log does not even mention the room; is logging on?\n%s", out)
	}
	secrets := []string{s.AdminKey, s.TenantKey, j.SessionToken, "ZZZZZZZZZZ", "not-a-token", "Mustermann", "Max Patient", "Befund"}
	for _, p := range room.Participants {
		secrets = append(secrets, p.Token, p.Code, strings.ReplaceAll(p.Code, "-", ""))
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	// The server's own listen address is logged at start; nothing else may
	// carry an address.
	serverAddr := strings.TrimPrefix(s.URL, "http://")
	if strings.Contains(strings.ReplaceAll(out, serverAddr, ""), "127.0.0.1") {
		t.Errorf("log contains a client address:\n%s", out)
	}
}
