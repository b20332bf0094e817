package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/konsil/konsil/bench"
)

// The test binary plays the local server when re-executed, as the
// command does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

func TestFlags(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--preset", "lk-4x20", "--video-kbps", "500", "--duration", "3s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Preset != "lk-4x20" || cfg.VideoPublishers != 4 || cfg.Subscribers != 20 || cfg.VideoBitrate != 500_000 || cfg.Duration != 3*time.Second {
		t.Errorf("preset: %+v", cfg)
	}
	cfg, _, err = parseFlags([]string{"--participants", "5", "--rooms", "2"}, &bytes.Buffer{})
	if err != nil || cfg.Scenario != bench.Conference || cfg.VideoPublishers != 5 || cfg.Subscribers != 0 || cfg.Rooms != 2 || !cfg.PublisherAudio {
		t.Errorf("conference: %+v, %v", cfg, err)
	}
	if _, _, err := parseFlags([]string{"--preset", "nope"}, &bytes.Buffer{}); err == nil {
		t.Error("unknown preset accepted")
	}
	if !cfg.Simulcast || cfg.ViewWidth != 1280 || cfg.ViewHeight != 720 {
		t.Errorf("default: simulcast %t, view %d×%d; want on, 1280×720", cfg.Simulcast, cfg.ViewWidth, cfg.ViewHeight)
	}
	cfg, _, err = parseFlags([]string{"--simulcast=false", "--view", "320x180"}, &bytes.Buffer{})
	if err != nil || cfg.Simulcast || cfg.ViewWidth != 320 || cfg.ViewHeight != 180 {
		t.Errorf("--simulcast=false --view 320x180: %+v, %v", cfg, err)
	}
	for _, v := range []string{"1280", "x720", "1280x720x1", "-1x5", "axb"} {
		if _, _, err := parseFlags([]string{"--view", v}, &bytes.Buffer{}); err == nil {
			t.Errorf("--view %q accepted", v)
		}
	}
}

// With no --url the command starts its own server in a child process,
// runs the default conference against it and prints the summary.
func TestLocalRun(t *testing.T) {
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	args := []string{"--duration", "2s", "--video-kbps", "200", "--quiet", "--json", dir + "/report.json", "--html", dir + "/report.html"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errs)
	}
	for _, want := range []string{"3/3 joined", "µs CPU per packet out", "µs CPU per Mbit out", "join rate"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, &out)
		}
	}
	var rep bench.Report
	raw, err := os.ReadFile(dir + "/report.json")
	if err != nil || json.Unmarshal(raw, &rep) != nil || len(rep.Timeline) == 0 {
		t.Errorf("JSON report: %v, %d timeline samples", err, len(rep.Timeline))
	}
	page, err := os.ReadFile(dir + "/report.html")
	if err != nil || !strings.Contains(string(page), "<svg") || strings.Contains(string(page), "http://") {
		t.Errorf("HTML report: %v, %d bytes", err, len(page))
	}
}

// --rooms with a preset asks for that many rooms of the preset's shape.
func TestPresetRooms(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--preset", "lk-4x20", "--rooms", "3"}, &bytes.Buffer{})
	if err != nil || cfg.Rooms != 3 || cfg.Subscribers != 20 {
		t.Errorf("%+v, %v", cfg, err)
	}
	if cfg, _, _ = parseFlags([]string{"--preset", "lk-4x20"}, &bytes.Buffer{}); cfg.Rooms != 1 {
		t.Errorf("preset alone: %d rooms", cfg.Rooms)
	}
}
