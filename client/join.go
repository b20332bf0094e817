package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/konsil/konsil/protocol"
)

// maxResponseBytes bounds a REST response body. A join answer is well under
// 4 KiB; anything near the limit is not a Konsil server.
const maxResponseBytes = 1 << 20

// ErrClosed is returned by operations on a Signal or Call that was closed
// by its owner.
var ErrClosed = errors.New("client: closed")

// APIError is a refusal from the REST API: the HTTP status and the error
// body the server sent. Callers branch on Detail.Code (see IsCode).
type APIError struct {
	Op     string // the call that failed, e.g. "join"
	Status int    // HTTP status
	// Detail is the server's {"error": {...}} body. When the body was not
	// one (a proxy's HTML page), Code is empty and Message holds the start
	// of the body.
	Detail protocol.Error
}

func (e *APIError) Error() string {
	if e.Detail.Code == "" {
		return fmt.Sprintf("%s: %s (%d)", e.Op, e.Detail.Message, e.Status)
	}
	return fmt.Sprintf("%s: %s: %s (%d)", e.Op, e.Detail.Code, e.Detail.Message, e.Status)
}

// IsCode tells whether err is, or wraps, an *APIError or *SignalError
// carrying code (e.g. "room_full", protocol.CodeReplaced).
func IsCode(err error, code string) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.Detail.Code == code {
		return true
	}
	var se *SignalError
	return errors.As(err, &se) && se.Code == code
}

// Join exchanges a link token or typed code for a session:
// POST {baseURL}/api/v1/join. A nil hc means http.DefaultClient; ctx bounds
// the whole exchange. A refusal is returned as *APIError.
func Join(ctx context.Context, hc *http.Client, baseURL string, req protocol.JoinRequest) (protocol.JoinResponse, error) {
	var resp protocol.JoinResponse
	if (req.Token == "") == (req.Code == "") {
		return resp, errors.New("join: exactly one of token or code is required")
	}
	if err := postJSON(ctx, hc, "join", strings.TrimRight(baseURL, "/")+"/api/v1/join", req, &resp); err != nil {
		return protocol.JoinResponse{}, err
	}
	if err := validateJoin(resp); err != nil {
		return protocol.JoinResponse{}, fmt.Errorf("join: %w", err)
	}
	return resp, nil
}

// validateJoin refuses an answer we could not go on with, so that the
// caller gets "missing ws_url" here rather than a puzzling dial error later.
func validateJoin(r protocol.JoinResponse) error {
	switch {
	case r.SessionToken == "":
		return errors.New("response lacks session_token")
	case r.ParticipantID == "":
		return errors.New("response lacks participant_id")
	case r.WebSocketURL == "":
		return errors.New("response lacks ws_url")
	}
	return nil
}

// postJSON sends in as JSON and decodes a 2xx answer into out. Any other
// status becomes an *APIError.
func postJSON(ctx context.Context, hc *http.Client, op, url string, in, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hresp, err := hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer hresp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", op, err)
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("%s: response body exceeds %d bytes", op, maxResponseBytes)
	}
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return parseAPIError(op, hresp, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

func parseAPIError(op string, hresp *http.Response, raw []byte) *APIError {
	e := &APIError{Op: op, Status: hresp.StatusCode}
	var eb protocol.ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		e.Detail = eb.Error
	} else {
		e.Detail.Message = snippet(raw, hresp.Status)
	}
	// Proxies in front of the server may rate-limit too and only say so in
	// the header.
	if e.Detail.RetryAfterSeconds == 0 {
		if s, err := strconv.Atoi(hresp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.Detail.RetryAfterSeconds = s
		}
	}
	return e
}

// snippet is the start of a non-JSON error body, or the status line when the
// body is empty: enough to recognise a proxy's error page in a log.
func snippet(raw []byte, status string) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return status
	}
	const max = 200
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
