package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/turn"
)

// The local server runs in a child process (this binary, re-executed), so
// that the CPU its /metrics reports is the server's alone, never the
// bench's. The child prints one JSON line with its URL and tenant key and
// serves until its stdin closes.
const childEnv = "KONSIL_BENCH_LOCAL_SERVER"

// childHello is the child's one line on stdout.
type childHello struct {
	URL string `json:"url"`
	Key string `json:"key"`
	Err string `json:"err,omitempty"`
}

// localServer is the parent's handle on the child.
type localServer struct {
	childHello
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func (l *localServer) pid() int { return l.cmd.Process.Pid }

// stop closes the child's stdin, which shuts it down, and waits for it;
// a child that does not stop within ten seconds is killed.
func (l *localServer) stop() {
	l.stdin.Close()
	done := make(chan struct{})
	go func() { _ = l.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = l.cmd.Process.Kill()
		<-done
	}
}

func startChild(ctx context.Context, stderr io.Writer) (*localServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start local server: %w", err)
	}
	l := &localServer{cmd: cmd, stdin: stdin}
	hello := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &l.childHello)
		}
		if err == nil && l.Err != "" {
			err = errors.New(l.Err)
		}
		hello <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-hello:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(30 * time.Second):
		err = errors.New("no answer within 30 s")
	}
	if err != nil {
		l.stop()
		return nil, fmt.Errorf("local server: %w", err)
	}
	return l, nil
}

// serveChild is the child: a Konsil server on 127.0.0.1 with a fresh
// store, the SFU on one UDP port and the TURN relay (for --relay), all
// on loopback, the bootstrap tenant's key handed to the parent.
func serveChild(stdin io.Reader, stdout io.Writer) int {
	enc := json.NewEncoder(stdout)
	fail := func(err error) int {
		_ = enc.Encode(childHello{Err: err.Error()})
		return 1
	}
	dir, err := os.MkdirTemp("", "konsil-bench-*")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: dir,
		SFUMedia: turn.MediaConfig{UDPAddr: "127.0.0.1:0"},
		TURN: &turn.Config{
			UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0",
			RelayIP: lo, AllowPeers: []netip.Prefix{netip.PrefixFrom(lo, 32)},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	if srv.Bootstrap == nil {
		return fail(errors.New("fresh store without bootstrap keys"))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := enc.Encode(childHello{URL: "http://" + ln.Addr().String(), Key: srv.Bootstrap.TenantKey}); err != nil {
		return 1
	}
	// Serve until the parent closes stdin (or dies).
	_, _ = io.Copy(io.Discard, stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "local server shutdown:", err)
	}
	if err := <-served; err != nil {
		fmt.Fprintln(os.Stderr, "local server:", err)
		return 1
	}
	return 0
}
