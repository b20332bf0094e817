package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	yaml "github.com/goccy/go-yaml"
)

// yamlDocs parses every document of a YAML file (merge keys resolved).
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, path))))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

// at walks keys down nested maps; nil when a step is missing.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// num reads a YAML number (goccy gives uint64, int64 or float64).
func num(v any) (int, bool) {
	n, err := strconv.Atoi(str(v))
	return n, err == nil
}

func isTrue(v any) bool { b, ok := v.(bool); return ok && b }

func isFalse(v any) bool { b, ok := v.(bool); return ok && !b }

func hasString(v any, want string) bool {
	for _, x := range list(v) {
		if strings.EqualFold(str(x), want) {
			return true
		}
	}
	return false
}
