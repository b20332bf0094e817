package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/konsil/konsil/protocol"
)

// roomAPI creates and deletes the bench's rooms with a tenant key.
type roomAPI struct {
	hc   *http.Client
	base string
	key  string
}

// maxAPIBody bounds a REST answer: a room with 50 links is a few KiB.
const maxAPIBody = 1 << 20

// create makes a room of capacity participants (the first a host), open
// from a few minutes ago for hours.
func (a roomAPI) create(ctx context.Context, capacity, hours int, now time.Time) (protocol.Room, error) {
	start := now.Add(-5 * time.Minute)
	req := protocol.RoomRequest{Window: protocol.WindowRequest{Start: &start, Hours: hours}, Capacity: capacity}
	for i := range capacity {
		role := protocol.RoleGuest
		if i == 0 {
			role = protocol.RoleHost
		}
		req.Participants = append(req.Participants, protocol.ParticipantRequest{Role: role, Label: fmt.Sprintf("bench %d", i)})
	}
	var room protocol.Room
	if err := a.do(ctx, http.MethodPost, "/api/v1/rooms", req, http.StatusCreated, &room); err != nil {
		return room, fmt.Errorf("create room: %w", err)
	}
	if len(room.Participants) != capacity {
		return room, fmt.Errorf("create room: %d participants in the answer, asked %d", len(room.Participants), capacity)
	}
	return room, nil
}

func (a roomAPI) delete(ctx context.Context, id string) error {
	err := a.do(ctx, http.MethodDelete, "/api/v1/rooms/"+url.PathEscape(id), nil, http.StatusNoContent, nil)
	if err != nil {
		return fmt.Errorf("delete room %s: %w", id, err)
	}
	return nil
}

func (a roomAPI) do(ctx context.Context, method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != want && !(want == http.StatusNoContent && resp.StatusCode == http.StatusOK) {
		var eb protocol.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			return fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, eb.Error.Code, eb.Error.Message)
		}
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return errors.Join(errors.New("decode answer"), err)
		}
	}
	return nil
}
