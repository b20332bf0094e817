package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/bench"
)

func writeFileT(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A scenario file sets what the flags would; flags on the command line
// win over it.
func TestConfigFile(t *testing.T) {
	p := writeFileT(t, `
scenario: conference
rooms: 4
participants: 5
video-kbps: 800
fps: 15
duration: 12s
e2ee: false
find-limit: true
limit-dim: rooms
limit-step: 2
limit-loss: 0.5
`)
	cfg, o, err := parseFlags([]string{"--config", p, "--rooms", "2"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scenario != bench.Conference || cfg.Rooms != 2 || cfg.VideoPublishers != 5 || cfg.VideoBitrate != 800_000 ||
		cfg.FrameRate != 15 || cfg.Duration != 12*time.Second || cfg.E2EE {
		t.Errorf("config from file (rooms from the flag): %+v", cfg)
	}
	if !o.findLimit || o.limit.Dimension != bench.DimRooms || o.limit.Step != 2 || o.limit.MaxLoss != 0.005 {
		t.Errorf("find-limit from file: %v %+v", o.findLimit, o.limit)
	}
	p = writeFileT(t, "preset: lk-1v6ax40\nduration: 5s\n")
	if cfg, _, err = parseFlags([]string{"--config", p}, &bytes.Buffer{}); err != nil || cfg.Subscribers != 40 || cfg.AudioPublishers != 6 {
		t.Errorf("preset from file: %+v, %v", cfg, err)
	}
}

// Bad files are refused with an error that says what is wrong.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown field", "rooms: 2\nparticipnts: 5\n", `unknown field "participnts"`},
		{"config in config", "config: other.yaml\n", `unknown field "config"`},
		{"wrong type", "rooms: many\n", `field "rooms"`},
		{"list", "rooms: [1, 2]\n", `field "rooms": want a single value`},
		{"empty value", "duration:\n", `field "duration": no value`},
		{"not a mapping", "- rooms\n", "scenario file"},
		{"too many rooms", "rooms: 5000\nparticipants: 3\n", "rooms 5000 out of range"},
		{"too many participants", "rooms: 900\nparticipants: 3\n", "at most 2000 participants"},
		{"room too big", "participants: 80\n", "at most 50 participants"},
		{"endless", "duration: 48h\n", "duration 48h0m0s out of range"},
		{"ramp too fast", "ramp: 100000\n", "ramp 100000 joins/s out of range"},
		{"unbounded search", "find-limit: true\nlimit-max-steps: 500\n", "max steps 500 out of range"},
		{"bad dimension", "find-limit: true\nlimit-dim: moons\n", `unknown dimension "moons"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseFlags([]string{"--config", writeFileT(t, tc.body)}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	_, _, err := parseFlags([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &bytes.Buffer{})
	if !errors.Is(err, ErrConfigFile) {
		t.Errorf("missing file: %v", err)
	}
}
