package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"strings"
	"testing"
)

// A TURN port that is taken stops konsil serve with an error that names
// the port and the flag that moves it.
func TestServeTURNPortInUse(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.LocalAddr().String()
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--turn-udp", addr, "--turn-tcp", "127.0.0.1:0", "--turn-relay-ip", "127.0.0.1"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("serve started with its TURN port taken")
	}
	for _, want := range []string{addr, "--turn-udp", "KONSIL_TURN_UDP", "--turn=false"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestTURNFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // error substring; "" = fine
	}{
		{[]string{"--turn-relay-ports", "60000-50000"}, "--turn-relay-ports"},
		{[]string{"--turn-relay-ip", "not-an-ip"}, "--turn-relay-ip"},
		{[]string{"--turn-allow-peers", "10.0.0.0/33"}, "--turn-allow-peers"},
		{[]string{"--turn=false", "--turn-urls", "turn:t.example.org:3478"}, "--turn-secret"},
		{[]string{"--turn-urls", "turn:t.example.org:3478", "--turn-secret", "s"}, "--turn=false"},
		{[]string{"--turn=false", "--turn-urls", "turn:t.example.org:3478", "--turn-secret", "s"}, ""},
		{[]string{"--turn-relay-ports", "40000-40100", "--turn-allow-peers", "10.0.0.0/8"}, ""},
	} {
		fs := newFlagSet()
		tf := newTURNFlags(envFlags{fs})
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		_, _, err := tf.config("")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	return fs
}
