package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/konsil/konsil/protocol"
)

func TestJoin(t *testing.T) {
	defer goleak.VerifyNone(t)
	okBody := `{"session_token":"st","participant_id":"p1","role":"guest","mode":"p2p","ws_url":"ws://x/ws","room_id":"r1"}`
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantCode   string // "" with wantStatus 0: success expected
		wantStatus int
		wantErr    string // substring of err.Error()
		check      func(*testing.T, error)
	}{
		{name: "ok", status: 200, body: okBody},
		{
			name: "room full", status: 409,
			body:     `{"error":{"code":"room_full","message":"the room is full"}}`,
			wantCode: "room_full", wantStatus: 409,
			wantErr: "join: room_full: the room is full (409)",
		},
		{
			name: "not open carries opens_at", status: 403,
			body:     `{"error":{"code":"room_not_open","message":"opens later","opens_at":"2030-01-02T08:00:00Z"}}`,
			wantCode: "room_not_open", wantStatus: 403,
			check: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Detail.OpensAt == nil || ae.Detail.OpensAt.Year() != 2030 {
					t.Errorf("opens_at not parsed: %#v", ae)
				}
			},
		},
		{
			name: "rate limited by a proxy", status: 429,
			header:     map[string]string{"Retry-After": "7"},
			body:       "<html>slow down</html>",
			wantStatus: 429, wantErr: "join: <html>slow down</html> (429)",
			check: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Detail.RetryAfterSeconds != 7 {
					t.Errorf("retry-after not taken from the header: %#v", ae)
				}
			},
		},
		{name: "empty error body", status: 502, wantStatus: 502, wantErr: "join: 502 Bad Gateway (502)"},
		{name: "success lacking ws_url", status: 200, body: `{"session_token":"st","participant_id":"p1"}`, wantErr: "lacks ws_url"},
		{name: "body over 1 MiB", status: 200, body: `{"x":"` + strings.Repeat("a", 1<<20) + `"}`, wantErr: "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req protocol.JoinRequest
				if r.Method != http.MethodPost || r.URL.Path != "/api/v1/join" ||
					json.NewDecoder(r.Body).Decode(&req) != nil || req.Code != "ABC-123" {
					http.Error(w, "bad request", http.StatusTeapot)
					return
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			defer srv.Client().CloseIdleConnections()

			resp, err := Join(context.Background(), srv.Client(), srv.URL+"/", protocol.JoinRequest{Code: "ABC-123"})
			if tt.wantErr == "" && tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Join: %v", err)
				}
				if resp.SessionToken != "st" || resp.WebSocketURL != "ws://x/ws" || resp.RoomID != "r1" {
					t.Errorf("response = %+v", resp)
				}
				return
			}
			if err == nil {
				t.Fatalf("Join succeeded, want error")
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			var ae *APIError
			if tt.wantStatus != 0 && (!errors.As(err, &ae) || ae.Status != tt.wantStatus) {
				t.Errorf("error %v: want *APIError with status %d", err, tt.wantStatus)
			}
			if tt.wantCode != "" && !IsCode(err, tt.wantCode) {
				t.Errorf("IsCode(%v, %q) = false", err, tt.wantCode)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestJoinNeedsExactlyOneCredential(t *testing.T) {
	for _, req := range []protocol.JoinRequest{{}, {Token: "t", Code: "c"}} {
		if _, err := Join(context.Background(), nil, "http://127.0.0.1:1", req); err == nil {
			t.Errorf("Join(%+v) succeeded", req)
		}
	}
}

func TestIsCodeWrapped(t *testing.T) {
	err := errors.Join(errors.New("x"), &SignalError{Code: protocol.CodeReplaced})
	if !IsCode(err, protocol.CodeReplaced) || IsCode(err, protocol.CodeRoomFull) || IsCode(nil, "") {
		t.Error("IsCode does not look through wrapping")
	}
}

func TestWSURL(t *testing.T) {
	tests := []struct{ base, ws, want string }{
		{"http://h:1", "ws://other:2/ws", "ws://other:2/ws"},
		{"https://h/konsil/", "ws", "wss://h/konsil/ws"},
		{"http://h:1/", "/ws", "ws://h:1/ws"},
	}
	for _, tt := range tests {
		if got := wsURL(tt.base, tt.ws); got != tt.want {
			t.Errorf("wsURL(%q, %q) = %q, want %q", tt.base, tt.ws, got, tt.want)
		}
	}
}

func TestSameFingerprints(t *testing.T) {
	const (
		session = "v=0\r\na=fingerprint:sha-256 AA:BB\r\nm=audio 9 UDP 0\r\n"
		media   = "v=0\r\nm=audio 9 UDP 0\r\na=fingerprint:sha-256  aa:bb\r\nm=video 9 UDP 0\r\na=fingerprint:sha-256 AA:BB\r\n"
		other   = "v=0\r\na=fingerprint:sha-256 AA:CC\r\n"
	)
	tests := []struct {
		a, b string
		want bool
	}{
		{session, session, true},
		{session, media, true}, // same certificate, other placement
		{session, other, false},
		{session, "v=0\r\n", false},
	}
	for i, tt := range tests {
		if got := sameFingerprints(tt.a, tt.b); got != tt.want {
			t.Errorf("%d: sameFingerprints = %v, want %v", i, got, tt.want)
		}
	}
}
