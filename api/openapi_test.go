package api_test

import (
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "github.com/goccy/go-yaml"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/docs"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/signaling"
	"github.com/konsil/konsil/store"
)

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRoutes holds docs/openapi.yaml against the router: every
// registered API route is documented, and nothing else is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	routed := routedOperations(t)
	documented := documentedOperations(t, docs.OpenAPI)
	if len(routed) == 0 || len(documented) == 0 {
		t.Fatalf("nothing to compare: %d routes, %d documented operations", len(routed), len(documented))
	}
	undocumented, unrouted := diffOperations(routed, documented)
	for _, op := range undocumented {
		t.Errorf("route %s is registered but missing from docs/openapi.yaml", op)
	}
	for _, op := range unrouted {
		t.Errorf("docs/openapi.yaml documents %s, which the router does not register", op)
	}
}

// diffOperations returns the routed operations the document lacks and the
// documented ones the router lacks, sorted.
func diffOperations(routed, documented map[string]bool) (undocumented, unrouted []string) {
	for _, op := range sortedKeys(routed) {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for _, op := range sortedKeys(documented) {
		if !routed[op] {
			unrouted = append(unrouted, op)
		}
	}
	return undocumented, unrouted
}

// TestOpenAPIOperationsComplete checks what every operation must carry: a
// unique operationId, at least one response, and a declared parameter for
// every {name} in its path.
func TestOpenAPIOperationsComplete(t *testing.T) {
	doc := parseOpenAPI(t, docs.OpenAPI)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi: %q, want 3.1.x", doc.OpenAPI)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		pathParams := declaredPathParams(item["parameters"])
		for _, method := range openAPIMethods {
			raw, ok := item[method]
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			op, ok := raw.(map[string]any)
			if !ok {
				t.Errorf("%s: operation is %T, want a mapping", where, raw)
				continue
			}
			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				t.Errorf("%s: no operationId", where)
			case ids[id] != "":
				t.Errorf("%s: operationId %q is also used by %s", where, id, ids[id])
			default:
				ids[id] = where
			}
			if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
				t.Errorf("%s: no responses", where)
			}
			params := union(pathParams, declaredPathParams(op["parameters"]))
			for _, name := range templateParams(path) {
				if !params[name] {
					t.Errorf("%s: path parameter {%s} is not declared", where, name)
				}
			}
		}
	}
}

// TestOpenAPICheckFails makes sure the comparison can fail: a document
// with an invented path, and with /healthz renamed, differs both ways.
func TestOpenAPICheckFails(t *testing.T) {
	const item = "\n  /healthz:\n"
	altered := strings.Replace(string(docs.OpenAPI), item,
		"\n  /api/v1/imaginary:\n    get:\n      operationId: imaginary\n      responses: { \"200\": { description: ok } }\n  /healthz-renamed:\n", 1)
	if altered == string(docs.OpenAPI) {
		t.Fatalf("docs/openapi.yaml has no %q path item to alter", strings.TrimSpace(item))
	}
	undocumented, unrouted := diffOperations(routedOperations(t), documentedOperations(t, []byte(altered)))
	if !slices.Equal(undocumented, []string{"GET /healthz"}) {
		t.Errorf("undocumented routes: %v, want [GET /healthz]", undocumented)
	}
	if !slices.Equal(unrouted, []string{"GET /api/v1/imaginary", "GET /healthz-renamed"}) {
		t.Errorf("unrouted operations: %v, want [GET /api/v1/imaginary GET /healthz-renamed]", unrouted)
	}
}

// routedOperations builds the router the way the server does and returns
// its API routes as "METHOD /path/{param}". The browser app's routes are
// registered too (Web is set) and dropped here: they are not API.
func routedOperations(t *testing.T) map[string]bool {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := api.NewService(t.Context(), api.ServiceConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hub := signaling.New(signaling.Config{Admit: svc.Admit})
	ws, err := practice.New(practice.Config{Store: st, Rooms: svc, Key: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Hub: hub, Web: http.NotFoundHandler(), Practice: ws})
	if err != nil {
		t.Fatal(err)
	}

	out := map[string]bool{}
	sawWeb := false
	for _, r := range srv.Routes() {
		method, path := r[0], r[1]
		if isWebRoute(path) {
			sawWeb = true
			continue
		}
		out[method+" "+ginToOpenAPI(path)] = true
	}
	if !sawWeb {
		t.Error("the web app's routes were not registered; the filter in isWebRoute tests nothing")
	}
	return out
}

// isWebRoute tells the browser app's routes (api.Server.routes) apart.
func isWebRoute(path string) bool {
	return path == "/" || strings.HasPrefix(path, "/r/") || strings.HasPrefix(path, "/app/") || path == "/practice" || path == "/practice/"
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// ginToOpenAPI turns /rooms/:id and /files/*path into /rooms/{id} and
// /files/{path}.
func ginToOpenAPI(path string) string { return ginParam.ReplaceAllString(path, "{$1}") }

type openAPIDoc struct {
	OpenAPI string                    `yaml:"openapi"`
	Paths   map[string]map[string]any `yaml:"paths"`
}

func parseOpenAPI(t *testing.T, raw []byte) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return doc
}

// documentedOperations returns the operations of a document as
// "METHOD /path".
func documentedOperations(t *testing.T, raw []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for path, item := range parseOpenAPI(t, raw).Paths {
		for key := range item {
			if slices.Contains(openAPIMethods, key) {
				out[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	return out
}

var templateParam = regexp.MustCompile(`\{([^}]+)\}`)

func templateParams(path string) []string {
	var names []string
	for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}

// declaredPathParams returns the names of the path parameters in an
// OpenAPI parameters list; a $ref counts through componentPathParams.
func declaredPathParams(raw any) map[string]bool {
	out := map[string]bool{}
	list, _ := raw.([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			if name, ok := componentPathParams[ref]; ok {
				out[name] = true
			}
			continue
		}
		if in, _ := m["in"].(string); in == "path" {
			if name, _ := m["name"].(string); name != "" {
				out[name] = true
			}
		}
	}
	return out
}

// componentPathParams names the path parameters the document defines in
// components.parameters and refers to with $ref.
var componentPathParams = map[string]string{
	"#/components/parameters/TenantID": "id",
}

func union(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
