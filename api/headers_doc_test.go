package api_test

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/konsil/konsil/internal/testutil"
)

// TestSecurityHeadersAsDocumented holds the server's headers to the list
// in docs/SECURITY.md ("The browser app's headers"): every header named
// there is sent with exactly that value, on the app, the API and errors.
func TestSecurityHeadersAsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "## The browser app's headers")
	if start < 0 {
		t.Fatal(`docs/SECURITY.md has no "## The browser app's headers" section`)
	}
	section := doc[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	want := map[string]string{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Za-z-]+): ([^`]+)`").FindAllStringSubmatch(section, -1) {
		want[m[1]] = m[2]
	}
	if len(want) < 8 {
		t.Fatalf("found %d documented headers in SECURITY.md, expected the whole list: %v", len(want), want)
	}
	s := testutil.StartServer(t)
	for _, path := range []string{"/", "/app/js/call.js", "/api/v1/nothing", "/healthz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for name, value := range want {
			if got := resp.Header.Get(name); got != value {
				t.Errorf("GET %s: %s is %q; docs/SECURITY.md says %q", path, name, got, value)
			}
		}
	}
}
