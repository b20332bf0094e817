package conformance_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// TestErrorCodesAsDocumented: PROTOCOL.md's error and close code tables
// list every code the server sends (the Code constants of protocol/signal.go), and
// nothing else: a client that switches on the documented codes meets no
// surprise.
func TestErrorCodesAsDocumented(t *testing.T) {
	proto := readDoc(t, "PROTOCOL.md")
	section := find(t, proto, "the error code table", "(?s)## Error codes\n(.*?)\n## ")[1]
	var errorTable, documented []string
	for _, row := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		errorTable = append(errorTable, row[1])
	}
	documented = append(documented, errorTable...)
	// Codes that only ever close a session are documented as reasons in
	// the close code table.
	closes := find(t, proto, "the close code table", "(?s)## Close codes and reasons\n(.*?)\n## ")[1]
	for _, row := range regexp.MustCompile("(?m)^\\| \\d+ \\| `([a-z_]+)` \\|").FindAllStringSubmatch(closes, -1) {
		documented = append(documented, row[1])
	}
	src, err := os.ReadFile(filepath.Join("..", "protocol", "signal.go"))
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, m := range regexp.MustCompile(`(?m)^\s+Code\w+\s+= "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		sent = append(sent, m[1])
	}
	if len(sent) < 10 {
		t.Fatalf("found only %d Code constants in protocol/signal.go", len(sent))
	}
	for _, c := range sent {
		if !slices.Contains(documented, c) {
			t.Errorf("error code %q is sent but not in PROTOCOL.md's table", c)
		}
	}
	for _, c := range errorTable {
		if !slices.Contains(sent, c) {
			t.Errorf("PROTOCOL.md documents error code %q, which the server never sends", c)
		}
	}
}

// TestProtocolExamplesDecode: every JSON example of a client message in
// PROTOCOL.md is accepted by the server's decoder, and every example is
// valid JSON with a type.
func TestProtocolExamplesDecode(t *testing.T) {
	proto := readDoc(t, "PROTOCOL.md")
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(proto, -1)
	if len(blocks) < 15 {
		t.Fatalf("found only %d JSON examples in PROTOCOL.md", len(blocks))
	}
	fromClient := map[string]bool{"hello": true, "offer": true, "answer": true, "candidate": true, "meta": true, "view": true, "ping": true, "bye": true}
	checked := 0
	for _, b := range blocks {
		dec := json.NewDecoder(strings.NewReader(b[1]))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if !strings.ContainsAny(b[1], "<…") && !strings.Contains(b[1], "...") {
					t.Errorf("PROTOCOL.md example is not JSON: %s: %v", b[1], err)
				}
				break // an elided or templated example
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Errorf("PROTOCOL.md example is not a JSON object: %s", raw)
				continue
			}
			typ, _ := m["type"].(string)
			if typ == "" {
				continue // a field, not a message
			}
			if _, from := m["from"]; from || !fromClient[typ] {
				continue // a server message
			}
			if _, err := protocol.Decode(raw); err != nil {
				t.Errorf("PROTOCOL.md's %s example is refused by the server: %v\n%s", typ, err, raw)
			}
			checked++
		}
	}
	if checked < 5 {
		t.Errorf("only %d client examples checked", checked)
	}
}

// TestWebSocketRefusesOtherOrigin: PROTOCOL.md, "Connecting": a
// WebSocket request from another origin is refused with HTTP 403 before
// the upgrade; one from the server's own origin, or without an Origin
// (not a browser), is upgraded.
func TestWebSocketRefusesOtherOrigin(t *testing.T) {
	s := readSpec(t)
	find(t, readDoc(t, "PROTOCOL.md"), "the Origin rule", "a\\s+request from another origin is refused with HTTP (403) before the upgrade")
	srv := testutil.StartServer(t)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + s.wsPath
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"https://evil.example", http.StatusForbidden},
		{srv.URL, http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols},
	} {
		h := http.Header{}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(ws, h)
		if conn != nil {
			conn.Close()
		}
		if resp == nil {
			t.Fatalf("Origin %q: no HTTP answer: %v", c.origin, err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("Origin %q: HTTP %d, want %d", c.origin, resp.StatusCode, c.want)
		}
	}
}

// TestOWASPMapNamesRealTests: every test, fuzz target and file that
// SECURITY.md's OWASP and ASVS tables name exists, so the map cannot
// point at something renamed or deleted.
func TestOWASPMapNamesRealTests(t *testing.T) {
	sec := readDoc(t, "SECURITY.md")
	section := find(t, sec, "the OWASP and ASVS map", "(?s)## OWASP Top 10 and ASVS\n(.*?)\n## ")[1]
	var sources strings.Builder
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "artifacts") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sources.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile("`((?:Test|Fuzz)\\w+)`").FindAllStringSubmatch(section, -1)
	if len(names) < 20 {
		t.Fatalf("only %d tests named in the map", len(names))
	}
	for _, n := range names {
		if !strings.Contains(sources.String(), "func "+n[1]+"(") {
			t.Errorf("SECURITY.md's OWASP/ASVS map names %s, which no test file defines", n[1])
		}
	}
	for _, p := range regexp.MustCompile("`((?:api|access|client|cmd|keyring|practice|protocol|signaling|turn|store|sfu)/[\\w./-]*|go\\.sum)`").FindAllStringSubmatch(section, -1) {
		if _, err := os.Stat(filepath.Join("..", p[1])); err != nil {
			t.Errorf("SECURITY.md's OWASP/ASVS map names %s: %v", p[1], err)
		}
	}
}
