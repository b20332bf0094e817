package deploy_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/keyring"
)

// pendingFlags are variables deploy/ names for flags being added now (issue
// 13), by the flag's name. Until the flag is built the variable is only
// logged; once it is, the test fails until the entry is removed here, and
// it fails if the flag lands under another variable.
func pendingFlags() map[string]string {
	return map[string]string{}
}

func TestDeploy(t *testing.T) {
	srv := loadServer(t)
	live := testutil.StartServer(t)
	serves := func(path string) bool {
		resp, err := http.Get(live.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}

	t.Run("variables", func(t *testing.T) { checkVariables(t, srv) })
	t.Run("kubernetes", func(t *testing.T) { checkKubernetes(t, srv, serves) })
	t.Run("compose", func(t *testing.T) { checkCompose(t, srv) })
	t.Run("systemd", func(t *testing.T) { checkSystemd(t, srv) })
	t.Run("dockerfile", func(t *testing.T) { checkDockerfile(t, srv) })
}

// A secret left at its placeholder must stop the server, not start it
// with a guessable key.
func TestPlaceholderSecretsAreRefused(t *testing.T) {
	values := map[string]string{}
	for _, doc := range yamlDocs(t, "k8s/secret.yaml") {
		for k, v := range mapOf(at(doc, "stringData")) {
			values[k] = str(v)
		}
	}
	for k, v := range envFile(t, "konsil.env.example") {
		values[k] = v
	}
	for _, name := range keyring.Names() {
		env := keyring.EnvName(name)
		v, ok := values[env]
		if !ok {
			t.Errorf("%s has no placeholder in k8s/secret.yaml or konsil.env.example", env)
			continue
		}
		_, err := keyring.Load(keyring.Options{Getenv: func(n string) string {
			if n == env {
				return v
			}
			return ""
		}})
		if err == nil {
			t.Errorf("%s=%q: the server accepts the placeholder", env, v)
		}
	}
}

var konsilVar = regexp.MustCompile(`KONSIL_[A-Z0-9_]*`)

// checkVariables finds every KONSIL_* name in deploy/ and in
// docs/OPERATIONS.md and holds it to the server's flags and secrets.
// "KONSIL_KEY_*" and the like (a name followed by *) are patterns, not
// names.
func checkVariables(t *testing.T, srv server) {
	files := []string{"../docs/OPERATIONS.md"}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(path) != ".go" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pending := pendingFlags()
	seen := map[string]bool{}
	for _, f := range files {
		text := readFile(t, f)
		for _, loc := range konsilVar.FindAllStringIndex(text, -1) {
			if loc[1] < len(text) && text[loc[1]] == '*' {
				continue
			}
			name := text[loc[0]:loc[1]]
			if _, ok := pending[name]; ok || srv.knows(name) {
				seen[name] = true
				continue
			}
			t.Errorf("%s: %s is neither a flag of `konsil serve` nor a server secret", f, name)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no KONSIL_* variable found: the scan looks at the wrong files")
	}
	for name, flag := range pending {
		if problem, ok := pendingState(srv, name, flag); ok {
			t.Logf("%s", problem)
		} else {
			t.Error(problem)
		}
	}
}

// pendingState says whether a variable deploy/ names ahead of its flag may
// stay pending (ok), and why.
func pendingState(srv server, name, flag string) (string, bool) {
	f, built := flagNamed(srv, flag)
	switch {
	case srv.knows(name):
		return name + " is a flag now: remove it from pendingFlags", false
	case built:
		return "--" + flag + " reads $" + f.Env + ", but deploy/ sets " + name, false
	default:
		return name + ": --" + flag + " is not built yet; deploy/ names it ahead (issue 13)", true
	}
}

func flagNamed(srv server, name string) (serverFlag, bool) {
	for _, f := range srv.flags {
		if f.Name == name {
			return f, true
		}
	}
	return serverFlag{}, false
}

// checkKubernetes holds every object of k8s/ to the API's basics and every
// container to non-root, read-only, no capabilities; Konsil's containers
// also to the server's ports and health paths.
func checkKubernetes(t *testing.T, srv server, serves func(string) bool) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	var objects []map[string]any
	secrets := map[string]map[string]string{}
	for _, f := range files {
		for _, doc := range yamlDocs(t, f) {
			where := f + ": " + str(at(doc, "kind")) + " " + str(at(doc, "metadata", "name"))
			for _, k := range []string{"apiVersion", "kind"} {
				if str(doc[k]) == "" {
					t.Errorf("%s: no %s", where, k)
				}
			}
			if str(at(doc, "metadata", "name")) == "" {
				t.Errorf("%s: no metadata.name", where)
			}
			if str(at(doc, "kind")) == "Secret" {
				s := map[string]string{}
				for k, v := range mapOf(at(doc, "stringData")) {
					s[k] = str(v)
				}
				for k := range mapOf(at(doc, "data")) {
					s[k] = ""
				}
				secrets[str(at(doc, "metadata", "name"))] = s
			}
			objects = append(objects, doc)
		}
	}
	konsil := 0
	for _, doc := range objects {
		switch str(doc["kind"]) {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			continue
		}
		where := str(doc["kind"]) + " " + str(at(doc, "metadata", "name"))
		pod := mapOf(at(doc, "spec", "template", "spec"))
		containers := append(list(pod["initContainers"]), list(pod["containers"])...)
		for _, c := range containers {
			c := mapOf(c)
			cw := where + ", container " + str(c["name"])
			checkHardened(t, cw, pod, c)
			if str(c["name"]) == "konsil" {
				konsil++
				checkKonsilPod(t, srv, serves, cw, doc, c, secrets)
				checkDisruptionBudget(t, where, doc, objects)
			}
		}
	}
	if konsil == 0 {
		t.Error("no container named konsil in k8s/")
	}
}

func checkHardened(t *testing.T, where string, pod, c map[string]any) {
	sc, psc := at(c, "securityContext"), at(pod, "securityContext")
	if !isTrue(at(sc, "runAsNonRoot")) && !isTrue(at(psc, "runAsNonRoot")) {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	for _, uid := range []any{at(sc, "runAsUser"), at(psc, "runAsUser")} {
		if n, ok := num(uid); ok && n == 0 {
			t.Errorf("%s: runs as UID 0", where)
		}
	}
	if !isTrue(at(sc, "readOnlyRootFilesystem")) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if !isFalse(at(sc, "allowPrivilegeEscalation")) {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if !hasString(at(sc, "capabilities", "drop"), "ALL") {
		t.Errorf("%s: capabilities are not dropped (drop: [ALL])", where)
	}
	if at(c, "resources", "requests") == nil || at(c, "resources", "limits", "memory") == nil {
		t.Errorf("%s: no resource requests or memory limit", where)
	}
}

// checkKonsilPod holds a Konsil container to the flags its environment
// gives: the declared ports are the ones it listens on, the probes ask
// its HTTP port for paths it serves.
func checkKonsilPod(t *testing.T, srv server, serves func(string) bool, where string, workload, c map[string]any, secrets map[string]map[string]string) {
	env := map[string]string{}
	for _, e := range list(c["env"]) {
		env[str(at(e, "name"))] = str(at(e, "value"))
	}
	for _, from := range list(c["envFrom"]) {
		name := str(at(from, "secretRef", "name"))
		s, ok := secrets[name]
		if !ok {
			t.Errorf("%s: envFrom names Secret %q, which k8s/ does not define", where, name)
		}
		for k, v := range s {
			env[k] = v
		}
	}
	for _, name := range keyring.Names() {
		if _, ok := env[keyring.EnvName(name)]; !ok {
			t.Errorf("%s: %s is not set; every node needs the same secrets", where, keyring.EnvName(name))
		}
	}
	if kind := str(workload["kind"]); kind == "Deployment" || kind == "StatefulSet" {
		if n, _ := num(at(workload, "spec", "replicas")); n < 2 {
			t.Errorf("%s: %d replicas, want 2 or more", where, n)
		}
	}

	cfg := srv.config(env)
	hostNetwork := isTrue(at(workload, "spec", "template", "spec", "hostNetwork"))
	named := map[string]int{}
	var got []port
	for _, p := range list(c["ports"]) {
		n, _ := num(at(p, "containerPort"))
		proto := strings.ToLower(str(at(p, "protocol")))
		if proto == "" {
			proto = "tcp"
		}
		got = append(got, port(strconv.Itoa(n)+"/"+proto))
		if name := str(at(p, "name")); name != "" {
			named[name] = n
		}
		if hp, ok := num(at(p, "hostPort")); hostNetwork && ok && hp != n {
			t.Errorf("%s: hostPort %d != containerPort %d; with hostNetwork they are one port", where, hp, n)
		}
	}
	if want := listenPorts(t, cfg); !slices.Equal(sortedPorts(got), want) {
		t.Errorf("%s: declares ports %v, the server listens on %v with this environment", where, sortedPorts(got), want)
	}

	// Readiness on /readyz, which reports dependencies; liveness on
	// /healthz, which does not: a node that loses Redis keeps its calls
	// and must not be restarted for it.
	for probe, want := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		get := at(c, probe, "httpGet")
		if get == nil {
			t.Errorf("%s: no %s.httpGet", where, probe)
			continue
		}
		path := str(at(get, "path"))
		if !serves(path) {
			t.Errorf("%s: %s asks for %s, which the server does not serve", where, probe, path)
		} else if path != want {
			t.Errorf("%s: %s asks for %s, want %s", where, probe, path, want)
		}
		p, ok := num(at(get, "port"))
		if !ok {
			p, ok = named[str(at(get, "port"))]
		}
		if want := httpPort(t, cfg); !ok || p != want {
			t.Errorf("%s: %s on port %v, the server's HTTP port is %d", where, probe, at(get, "port"), want)
		}
	}
}

// checkDisruptionBudget wants a PodDisruptionBudget that selects the
// workload's pods.
func checkDisruptionBudget(t *testing.T, where string, workload map[string]any, objects []map[string]any) {
	labels := mapOf(at(workload, "spec", "template", "metadata", "labels"))
	for _, o := range objects {
		if str(o["kind"]) != "PodDisruptionBudget" || str(at(o, "metadata", "namespace")) != str(at(workload, "metadata", "namespace")) {
			continue
		}
		sel := mapOf(at(o, "spec", "selector", "matchLabels"))
		match := len(sel) > 0
		for k, v := range sel {
			match = match && str(labels[k]) == str(v)
		}
		if match {
			return
		}
	}
	t.Errorf("%s: no PodDisruptionBudget selects its pods", where)
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}`)

// checkCompose holds compose.yaml to two or more Konsil nodes on one
// Redis with the same secrets, each publishing exactly the ports it
// listens on, media ports on the same number outside as inside.
func checkCompose(t *testing.T, srv server) {
	docs := yamlDocs(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents, want 1", len(docs))
	}
	services := mapOf(docs[0]["services"])
	example := envFile(t, "konsil.env.example")
	for _, m := range interpolation.FindAllStringSubmatch(readFile(t, "compose.yaml"), -1) {
		if _, ok := example[m[1]]; !ok && !strings.HasPrefix(m[2], ":-") && !strings.HasPrefix(m[2], "-") {
			t.Errorf("compose.yaml needs ${%s}, which konsil.env.example does not define", m[1])
		}
	}

	var nodes []string
	for name, s := range services {
		s := mapOf(s)
		if !isTrue(s["read_only"]) {
			t.Errorf("service %s: read_only is not true", name)
		}
		if !hasString(s["cap_drop"], "ALL") {
			t.Errorf("service %s: cap_drop is not [ALL]", name)
		}
		if !hasString(s["security_opt"], "no-new-privileges:true") {
			t.Errorf("service %s: no security_opt no-new-privileges:true", name)
		}
		if u := str(s["user"]); u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root") {
			t.Errorf("service %s: runs as root", name)
		}
		if strings.HasPrefix(str(s["image"]), "konsil") {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	if len(nodes) < 2 {
		t.Fatalf("compose.yaml: Konsil nodes %v, want 2 or more", nodes)
	}

	hostPorts := map[string]string{} // "3478/udp" -> node
	urls := map[string]string{}
	var keys map[string]string
	for _, name := range nodes {
		s := mapOf(services[name])
		env := composeEnv(t, name, s["environment"])
		cfg := srv.config(env)

		u := env["KONSIL_PUBLIC_URL"]
		if u == "" {
			t.Errorf("node %s: no KONSIL_PUBLIC_URL", name)
		} else if other, ok := urls[u]; ok {
			t.Errorf("nodes %s and %s share KONSIL_PUBLIC_URL %s", other, name, u)
		}
		urls[u] = name

		nodeKeys := map[string]string{}
		for _, n := range keyring.Names() {
			nodeKeys[keyring.EnvName(n)] = env[keyring.EnvName(n)]
			if env[keyring.EnvName(n)] == "" {
				t.Errorf("node %s: %s is not set", name, keyring.EnvName(n))
			}
		}
		if keys == nil {
			keys = nodeKeys
		} else if !equalMaps(keys, nodeKeys) {
			t.Errorf("node %s: its KONSIL_KEY_* differ from %s's; every node needs the same", name, nodes[0])
		}
		checkRedisURL(t, name, env, services)

		want := listenPorts(t, cfg)
		if r := relayPorts(cfg); r != "" {
			want = sortedPorts(append(want, r))
		}
		httpP := port(strconv.Itoa(httpPort(t, cfg)) + "/tcp")
		var got []port
		for _, p := range list(s["ports"]) {
			host, inside, err := parseComposePort(str(p))
			if err != nil {
				t.Errorf("node %s: %v", name, err)
				continue
			}
			got = append(got, inside)
			if host != inside && inside != httpP {
				t.Errorf("node %s: publishes %s as %s; media ports must keep their number, the node announces it", name, inside, host)
			}
			for _, hp := range expand(host) {
				if other, ok := hostPorts[hp]; ok {
					t.Errorf("nodes %s and %s both publish host port %s", other, name, hp)
				}
				hostPorts[hp] = name
			}
		}
		if !slices.Equal(sortedPorts(got), want) {
			t.Errorf("node %s: publishes %v, the server listens on %v with this environment", name, sortedPorts(got), want)
		}
	}
}

// composeEnv reads a service's environment (a map or a list of K=V).
func composeEnv(t *testing.T, service string, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, v := range e {
			out[k] = str(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			out[k] = v
		}
	case nil:
	default:
		t.Errorf("service %s: environment is a %T", service, v)
	}
	return out
}

// checkRedisURL wants KONSIL_REDIS_URL to reach a Redis service of the
// same file with a password.
func checkRedisURL(t *testing.T, node string, env map[string]string, services map[string]any) {
	raw, ok := env["KONSIL_REDIS_URL"]
	if !ok {
		t.Errorf("node %s: no KONSIL_REDIS_URL", node)
		return
	}
	u, err := url.Parse(interpolation.ReplaceAllString(raw, "x"))
	if err != nil {
		t.Errorf("node %s: KONSIL_REDIS_URL: %v", node, err)
		return
	}
	if pw, _ := u.User.Password(); pw == "" {
		t.Errorf("node %s: KONSIL_REDIS_URL has no password", node)
	}
	redis := mapOf(services[u.Hostname()])
	if redis == nil {
		t.Errorf("node %s: KONSIL_REDIS_URL names host %q, not a service of compose.yaml", node, u.Hostname())
		return
	}
	cmd := str(redis["command"])
	for _, want := range []string{"requirepass", "appendonly yes", "noeviction"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("service %s: its command lacks %q", u.Hostname(), want)
		}
	}
	if redis["ports"] != nil {
		t.Errorf("service %s: publishes ports; only the nodes need it", u.Hostname())
	}
	if !slices.ContainsFunc(list(redis["volumes"]), func(v any) bool { return strings.HasSuffix(str(v), ":/data") }) {
		t.Errorf("service %s: /data is not on a volume; its append-only file would end with the container", u.Hostname())
	}
}

// parseComposePort reads the short syntax [ip:]host:container[/proto]
// into the host and container sides as ports ("3478/udp").
func parseComposePort(s string) (host, inside port, err error) {
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", &portError{s}
	}
	h, c := parts[len(parts)-2], parts[len(parts)-1]
	return port(h + "/" + proto), port(c + "/" + proto), nil
}

type portError struct{ s string }

func (e *portError) Error() string {
	return "port " + strconv.Quote(e.s) + ": want [ip:]host:container[/proto]"
}

// expand lists each port of "50000-50002/udp".
func expand(p port) []string {
	spec, proto, _ := strings.Cut(string(p), "/")
	lo, hi, isRange := strings.Cut(spec, "-")
	if !isRange {
		return []string{string(p)}
	}
	a, _ := strconv.Atoi(lo)
	b, _ := strconv.Atoi(hi)
	var out []string
	for n := a; n <= b; n++ {
		out = append(out, strconv.Itoa(n)+"/"+proto)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// envFile reads KEY=VALUE lines, skipping comments.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
			continue
		}
		out[k] = v
	}
	return out
}
