package web

import (
	"os"
	"regexp"
	"testing"

	"github.com/konsil/konsil/access"
)

// TestCodeExamplesAreCodes: the start page's "for example …" hint has the
// shape the server gives codes (the audit found one that did not).
func TestCodeExamplesAreCodes(t *testing.T) {
	example := regexp.MustCompile(`(?:Beispiel|example) ([0-9A-Z-]+)`)
	for _, f := range []string{"static/index.html", "static/js/i18n/de.js", "static/js/i18n/en.js"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := example.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s: no code example found", f)
			continue
		}
		code := string(m[1])
		if n := access.NormalizeCode(code); len(n) != access.CodeLength || access.FormatCode(n) != code {
			t.Errorf("%s: example %q is not a code as the server writes one (%d symbols of %q, grouped as %q)",
				f, code, access.CodeLength, access.CodeAlphabet, access.FormatCode(n))
		}
	}
}
