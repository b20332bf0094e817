package deploy_test

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// unit is a systemd unit file: each section's keys with every value given.
type unit map[string]map[string][]string

func parseUnit(text string) unit {
	u := unit{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, _ := strings.Cut(line, "=")
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is a key's effective value (the last assignment wins in systemd).
func (u unit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// checkSystemd holds konsil.service to the hardening it promises and to
// the server's flags: the data directory is the state directory, and a
// capability is kept only for a port below 1024.
func checkSystemd(t *testing.T, srv server) {
	u := parseUnit(readFile(t, "konsil.service"))
	want := map[string]string{
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"SystemCallArchitectures": "native",
		"UMask":                   "0077",
	}
	for k, v := range want {
		if got, _ := u.last("Service", k); got != v {
			t.Errorf("konsil.service: %s=%q, want %q", k, got, v)
		}
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		t.Error("konsil.service: no SystemCallFilter=@system-service")
	}
	if fam, _ := u.last("Service", "RestrictAddressFamilies"); fam == "" || strings.Contains(fam, "AF_PACKET") {
		t.Errorf("konsil.service: RestrictAddressFamilies=%q", fam)
	}
	if _, ok := u.last("Service", "EnvironmentFile"); !ok {
		t.Error("konsil.service: no EnvironmentFile for the KONSIL_* settings")
	}
	if exec, _ := u.last("Service", "ExecStart"); !strings.HasSuffix(exec, "konsil serve") {
		t.Errorf("konsil.service: ExecStart=%q does not run konsil serve", exec)
	}

	dyn, _ := u.last("Service", "DynamicUser")
	user, _ := u.last("Service", "User")
	if dyn != "yes" && (user == "" || user == "root" || user == "0") {
		t.Error("konsil.service: neither DynamicUser=yes nor a User other than root")
	}

	env := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			env[k] = v
		}
	}
	state, _ := u.last("Service", "StateDirectory")
	if state == "" {
		t.Error("konsil.service: no StateDirectory")
	} else if data := srv.config(env)["KONSIL_DATA"]; data != path.Join("/var/lib", state) {
		// The key file sits beside the store unless --key-file moves it.
		t.Errorf("konsil.service: the store and key file go to %q, not the state directory /var/lib/%s", data, state)
	}
	if mode, _ := u.last("Service", "StateDirectoryMode"); mode != "0700" {
		t.Errorf("konsil.service: StateDirectoryMode=%q, want 0700", mode)
	}

	low := false
	for _, p := range listenPorts(t, srv.config(env)) {
		n, _ := strconv.Atoi(strings.Split(string(p), "/")[0])
		low = low || n < 1024
	}
	caps, ok := u.last("Service", "CapabilityBoundingSet")
	switch {
	case !ok:
		t.Error("konsil.service: no CapabilityBoundingSet (the default keeps them all)")
	case low && caps != "CAP_NET_BIND_SERVICE":
		t.Errorf("konsil.service: a port below 1024 needs CapabilityBoundingSet=CAP_NET_BIND_SERVICE, got %q", caps)
	case !low && caps != "":
		t.Errorf("konsil.service: every port is above 1023, so CapabilityBoundingSet should be empty, got %q", caps)
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// checkDockerfile holds the Dockerfile to a static, trimmed build with the
// version stamped, and a final stage that runs as non-root on distroless
// or scratch and exposes exactly the ports its environment makes.
func checkDockerfile(t *testing.T, srv server) {
	ins := parseDockerfile(readFile(t, "Dockerfile"))
	final := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			final = i
		}
	}
	var build strings.Builder
	for _, in := range ins[:final] {
		if in.cmd == "RUN" || in.cmd == "ENV" {
			build.WriteString(in.args + " ")
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version="} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("Dockerfile: the build stage lacks %s", want)
		}
	}

	base := strings.Fields(ins[final].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("Dockerfile: final stage FROM %s, want distroless static or scratch", base)
	}
	user := ""
	env := map[string]string{}
	var exposed []port
	for _, in := range ins[final+1:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				exposed = append(exposed, port(p))
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("Dockerfile: final stage USER %q, want a non-root user", user)
	}
	if want := listenPorts(t, srv.config(env)); !slices.Equal(sortedPorts(exposed), want) {
		t.Errorf("Dockerfile: EXPOSE %v, the server listens on %v with the image's ENV", sortedPorts(exposed), want)
	}
}
