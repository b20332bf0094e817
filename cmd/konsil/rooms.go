package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// roomsBackend is where `konsil rooms` acts: a running server over HTTP,
// or the local store when the server is not running.
type roomsBackend interface {
	create(ctx context.Context, req protocol.RoomRequest) (protocol.Room, error)
	list(ctx context.Context, from, to time.Time) ([]protocol.Room, error)
	delete(ctx context.Context, id string) error
	close() error
}

func rooms(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: konsil rooms create|list|delete [flags]   (konsil rooms create -h: its flags)\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "create", "list", "delete":
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown rooms command %q (create, list, delete)", args[0])
	}
	fs := flag.NewFlagSet("rooms "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := envFlags{fs}
	serverURL := f.String("server", "http://localhost:8080", "URL of the running server")
	apiKey := f.String("api-key", "", "tenant API key; without one, the local store in --data is used")
	data := f.String("data", "./data", "directory of the local store (used when no --api-key is given)")
	keyFile := f.String("key-file", "", "file of the server secrets (default: konsil.keys in --data)")
	tenant := f.String("tenant", api.DefaultTenantName, "tenant name (local store only)")
	day := fs.String("day", "", "calendar day the room is valid, e.g. 2026-11-23 (default: today)")
	zone := fs.String("tz", "Europe/Berlin", "IANA time zone of --day")
	start := fs.String("start", "", "start instant (RFC 3339) of a --hours window, instead of --day")
	hours := fs.Int("hours", 24, "length of a --start window in hours")
	capacity := fs.Int("capacity", 2, "participants at once: 2 = peer-to-peer consultation, 3-50 = conference")
	hosts := fs.Int("hosts", 1, "number of host links")
	guests := fs.Int("guests", 1, "number of guest links")
	from := fs.String("from", "", "list: rooms whose window overlaps from this instant (RFC 3339)")
	to := fs.String("to", "", "list: ... up to this instant (RFC 3339)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return errUsage
	}
	if args[0] != "delete" && len(pos) > 0 {
		return fmt.Errorf("rooms %s takes flags only, not %q", args[0], pos)
	}
	var be roomsBackend
	if *apiKey != "" {
		be = &httpRooms{base: strings.TrimRight(*serverURL, "/"), key: *apiKey, hc: &http.Client{Timeout: 15 * time.Second}}
	} else {
		lb, err := openLocalRooms(ctx, *data, *keyFile, *tenant)
		if err != nil {
			return err
		}
		be = lb
	}
	defer be.close()

	switch args[0] {
	case "create":
		req, err := roomRequest(*day, *zone, *start, *hours, *capacity, *hosts, *guests)
		if err != nil {
			return err
		}
		room, err := be.create(ctx, req)
		if err != nil {
			return err
		}
		return printRoom(stdout, room)
	case "list":
		f, t, err := parseRange(*from, *to)
		if err != nil {
			return err
		}
		rs, err := be.list(ctx, f, t)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tMODE\tCAPACITY\tOPENS\tCLOSES")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.ID, r.Mode, r.Capacity,
				r.Window.StartsAt.In(roomZone(r)).Format(time.RFC3339), r.Window.EndsAt.In(roomZone(r)).Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		if len(pos) != 1 {
			return errors.New("rooms delete needs the room id (after --, if it begins with -)")
		}
		if err := be.delete(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "deleted", pos[0])
	}
	return nil
}

// parseInterspersed parses flags before and after positional arguments
// (`rooms delete ID --api-key K` as well as `rooms delete --api-key K ID`)
// and returns the positional ones. After "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag, or after a "--" it consumed.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func roomRequest(day, zone, start string, hours, capacity, hosts, guests int) (protocol.RoomRequest, error) {
	req := protocol.RoomRequest{Capacity: capacity}
	switch {
	case start != "":
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return req, fmt.Errorf("--start: %w", err)
		}
		req.Window = protocol.WindowRequest{Start: &t, Hours: hours}
	default:
		if day == "" {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				return req, fmt.Errorf("--tz: %w", err)
			}
			day = time.Now().In(loc).Format(time.DateOnly)
		}
		req.Window = protocol.WindowRequest{Day: day, TimeZone: zone}
	}
	if hosts < 0 || guests < 0 || hosts+guests == 0 {
		return req, fmt.Errorf("--hosts and --guests must not be negative, and together at least 1")
	}
	if hosts+guests > capacity {
		return req, fmt.Errorf("--hosts %d and --guests %d make %d links for a room of %d at once: give fewer links or a larger --capacity", hosts, guests, hosts+guests, capacity)
	}
	for i := 0; i < hosts; i++ {
		req.Participants = append(req.Participants, protocol.ParticipantRequest{Role: protocol.RoleHost})
	}
	for i := 0; i < guests; i++ {
		req.Participants = append(req.Participants, protocol.ParticipantRequest{Role: protocol.RoleGuest})
	}
	return req, nil
}

func parseRange(from, to string) (time.Time, time.Time, error) {
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = time.Parse(time.RFC3339, from); err != nil {
			return f, t, fmt.Errorf("--from: %w", err)
		}
	}
	if to != "" {
		if t, err = time.Parse(time.RFC3339, to); err != nil {
			return f, t, fmt.Errorf("--to: %w", err)
		}
	}
	return f, t, nil
}

// roomZone is where create and list write a room's window: the room's
// own time zone, else this machine's.
func roomZone(r protocol.Room) *time.Location {
	if l, err := time.LoadLocation(r.Window.TimeZone); err == nil && r.Window.TimeZone != "" {
		return l
	}
	return time.Local
}

// printRoom prints the links with a fresh room secret in their fragment:
// the server never saw it, so these printed links are its only copies.
func printRoom(w io.Writer, r protocol.Room) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	k := base64.RawURLEncoding.EncodeToString(secret)
	loc := roomZone(r)
	fmt.Fprintf(w, "Room %s (%s, up to %d at once)\nValid %s to %s\n\n", r.ID, r.Mode, r.Capacity,
		r.Window.StartsAt.In(loc).Format(time.RFC3339), r.Window.EndsAt.In(loc).Format(time.RFC3339))
	for _, p := range r.Participants {
		fmt.Fprintf(w, "%-5s  code %s\n       %s#k=%s\n", p.Role, p.Code, p.Link, k)
	}
	fmt.Fprintf(w, "\nRoom secret (for typed codes): %s\n", k)
	return nil
}

// httpRooms talks to a running server with a tenant key.
type httpRooms struct {
	base, key string
	hc        *http.Client
}

func (h *httpRooms) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is konsil serve running?)", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e protocol.ErrorBody
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (h *httpRooms) create(ctx context.Context, req protocol.RoomRequest) (protocol.Room, error) {
	var r protocol.Room
	return r, h.do(ctx, http.MethodPost, "/api/v1/rooms", req, &r)
}

func (h *httpRooms) list(ctx context.Context, from, to time.Time) ([]protocol.Room, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339))
	}
	var l protocol.RoomList
	err := h.do(ctx, http.MethodGet, "/api/v1/rooms?"+q.Encode(), nil, &l)
	return l.Rooms, err
}

func (h *httpRooms) delete(ctx context.Context, id string) error {
	return h.do(ctx, http.MethodDelete, "/api/v1/rooms/"+url.PathEscape(id), nil, nil)
}

func (h *httpRooms) close() error { return nil }

// localRooms acts on the store directly, for when no server runs.
type localRooms struct {
	st     store.Store
	svc    *api.Service
	tenant string
}

func openLocalRooms(ctx context.Context, dir, keyFile, tenantName string) (*localRooms, error) {
	st, keys, err := openLocalStore(ctx, dir, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w\n(with the server running, pass --api-key with the tenant key it printed at first start)", err)
	}
	svc, err := api.NewService(ctx, api.ServiceConfig{Store: st, Keys: keys})
	if err != nil {
		st.Close()
		return nil, err
	}
	id, err := svc.TenantByName(ctx, tenantName)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%w (start konsil serve once: its first start creates the default tenant)", err)
	}
	return &localRooms{st: st, svc: svc, tenant: id}, nil
}

func (l *localRooms) create(ctx context.Context, req protocol.RoomRequest) (protocol.Room, error) {
	return l.svc.CreateRoom(ctx, l.tenant, req, "http://localhost:8080")
}

func (l *localRooms) list(ctx context.Context, from, to time.Time) ([]protocol.Room, error) {
	return l.svc.Rooms(ctx, l.tenant, from, to)
}

func (l *localRooms) delete(ctx context.Context, id string) error {
	return l.svc.DeleteRoom(ctx, l.tenant, id)
}

func (l *localRooms) close() error { return l.st.Close() }
