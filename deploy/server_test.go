package deploy_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/konsil/konsil/keyring"
)

// serverFlag is one flag of `konsil serve` as its help lists it.
type serverFlag struct {
	Name, Env, Default string
}

// server is what the built binary says about itself: its flags by
// environment variable, and the KONSIL_KEY_* names of its secrets.
type server struct {
	flags map[string]serverFlag // by environment variable
	keys  map[string]bool
}

// knows tells whether name is a variable the server reads.
func (s server) knows(name string) bool {
	_, ok := s.flags[name]
	return ok || s.keys[name]
}

// loadServer builds cmd/konsil and reads `konsil serve -h` in a clean
// environment, so the defaults are the binary's own, not this shell's.
func loadServer(t *testing.T) server {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build konsil: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "konsil")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/konsil/konsil/cmd/konsil")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build konsil: %v\n%s", err, out)
	}
	help := exec.Command(bin, "serve", "-h")
	help.Env = []string{"HOME=" + t.TempDir()}
	var out bytes.Buffer
	help.Stdout, help.Stderr = &out, &out
	_ = help.Run() // -h exits with status 2
	flags, err := parseHelp(out.String())
	if err != nil {
		t.Fatalf("konsil serve -h: %v\n%s", err, out.String())
	}
	keys := map[string]bool{}
	for _, n := range keyring.Names() {
		keys[keyring.EnvName(n)] = true
	}
	return server{flags: flags, keys: keys}
}

var (
	helpFlag    = regexp.MustCompile(`^  -([a-z0-9-]+)`)
	helpEnv     = regexp.MustCompile(`\(\$(KONSIL_[A-Z0-9_]+)\)`)
	helpDefault = regexp.MustCompile(`\(default (?:"(.*)"|([^)]*))\)\s*$`)
)

// parseHelp reads the flag package's PrintDefaults format: a line
// "  -name type" and the usage on the lines below, which end in
// "($KONSIL_NAME)" and, unless the default is the zero value,
// "(default ...)".
func parseHelp(help string) (map[string]serverFlag, error) {
	var blocks []string
	for _, line := range strings.Split(help, "\n") {
		if helpFlag.MatchString(line) {
			blocks = append(blocks, line)
		} else if len(blocks) > 0 {
			blocks[len(blocks)-1] += " " + strings.TrimSpace(line)
		}
	}
	out := map[string]serverFlag{}
	for _, b := range blocks {
		f := serverFlag{Name: helpFlag.FindStringSubmatch(b)[1]}
		env := helpEnv.FindAllStringSubmatch(b, -1)
		if len(env) == 0 {
			return nil, fmt.Errorf("flag -%s names no KONSIL_* variable", f.Name)
		}
		f.Env = env[len(env)-1][1]
		if d := helpDefault.FindStringSubmatch(b); d != nil {
			f.Default = d[1] + d[2]
		}
		out[f.Env] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no flags found")
	}
	return out, nil
}

// config is the value of every flag, by its variable: the defaults with
// env on top. Variables that are not flags are left out.
func (s server) config(env map[string]string) map[string]string {
	out := map[string]string{}
	for name, f := range s.flags {
		out[name] = f.Default
		if v, ok := env[name]; ok {
			out[name] = v
		}
	}
	return out
}

// port is a listening port as "8080/tcp" (or "50000-50199/udp").
type port string

// listenPorts are the fixed ports a node with this config listens on:
// HTTP, the TURN listeners and the SFU's two media ports. The TURN relay
// range is apart (relayPorts): it is published only where it can be.
func listenPorts(t *testing.T, cfg map[string]string) []port {
	t.Helper()
	var out []port
	add := func(name, proto string) {
		for _, addr := range strings.Split(cfg[name], ",") {
			if addr = strings.TrimSpace(addr); addr == "" {
				continue
			}
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s=%q: %v", name, addr, err)
			}
			out = append(out, port(p+"/"+proto))
		}
	}
	add("KONSIL_ADDR", "tcp")
	if on, _ := strconv.ParseBool(cfg["KONSIL_TURN"]); on {
		add("KONSIL_TURN_UDP", "udp")
		add("KONSIL_TURN_TCP", "tcp")
		if cfg["KONSIL_TURN_CERT"] != "" {
			add("KONSIL_TURN_TLS", "tcp")
		}
	}
	add("KONSIL_SFU_UDP", "udp")
	add("KONSIL_SFU_TCP", "tcp")
	return sortedPorts(out)
}

// relayPorts is the TURN relay's UDP range, or "" without the relay.
func relayPorts(cfg map[string]string) port {
	if on, _ := strconv.ParseBool(cfg["KONSIL_TURN"]); !on {
		return ""
	}
	return port(cfg["KONSIL_TURN_RELAY_PORTS"] + "/udp")
}

// httpPort is the port of --addr.
func httpPort(t *testing.T, cfg map[string]string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(cfg["KONSIL_ADDR"])
	if err != nil {
		t.Fatalf("KONSIL_ADDR=%q: %v", cfg["KONSIL_ADDR"], err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("KONSIL_ADDR=%q: %v", cfg["KONSIL_ADDR"], err)
	}
	return n
}

func sortedPorts(ps []port) []port {
	out := slices.Clone(ps)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

// readFile reads a file of deploy/ or fails.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseHelp(t *testing.T) {
	help := `Usage of serve:
  -addr string
    	HTTP listen address ($KONSIL_ADDR) (default "localhost:8080")
  -turn
    	run the embedded TURN relay (false: none) ($KONSIL_TURN) (default true)
  -key-file string
    	file of the server secrets; KONSIL_KEY_* variables override it ($KONSIL_KEY_FILE)
  -retention duration
    	how long room metadata is kept ($KONSIL_RETENTION) (default 48h0m0s)
`
	got, err := parseHelp(help)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]serverFlag{
		"KONSIL_ADDR":      {"addr", "KONSIL_ADDR", "localhost:8080"},
		"KONSIL_TURN":      {"turn", "KONSIL_TURN", "true"},
		"KONSIL_KEY_FILE":  {"key-file", "KONSIL_KEY_FILE", ""},
		"KONSIL_RETENTION": {"retention", "KONSIL_RETENTION", "48h0m0s"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	if _, err := parseHelp("  -orphan string\n    	no variable\n"); err == nil {
		t.Error("a flag without a KONSIL_* variable was accepted")
	}
}

// The pending list must not outlive its flag, nor hide one that lands
// under another variable.
func TestPendingFlag(t *testing.T) {
	before := server{flags: map[string]serverFlag{"KONSIL_ADDR": {Name: "addr", Env: "KONSIL_ADDR"}}}
	other := server{flags: map[string]serverFlag{"KONSIL_REDIS": {Name: "redis", Env: "KONSIL_REDIS"}}}
	landed := server{flags: map[string]serverFlag{"KONSIL_REDIS_URL": {Name: "redis", Env: "KONSIL_REDIS_URL"}}}
	for _, tc := range []struct {
		name string
		srv  server
		ok   bool
	}{{"not built", before, true}, {"other variable", other, false}, {"landed", landed, false}} {
		if why, ok := pendingState(tc.srv, "KONSIL_REDIS_URL", "redis"); ok != tc.ok {
			t.Errorf("%s: ok=%v (%s), want %v", tc.name, ok, why, tc.ok)
		}
	}
}
