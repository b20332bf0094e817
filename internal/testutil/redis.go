package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server of one test: its own process on a free
// 127.0.0.1 port, its own directory, no persistence. StartRedis stops it
// in t.Cleanup.
type Redis struct {
	// Addr is host:port; URL is redis://Addr/0, for KONSIL_REDIS_URL.
	Addr string
	URL  string

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
	log      *SyncBuffer
}

const (
	// redisReadyTimeout bounds the wait for a fresh redis-server to answer
	// PING; it starts in milliseconds, but the machine may be busy.
	redisReadyTimeout = 10 * time.Second
	// redisStartTries: the free port is found by binding and closing it,
	// so another process may take it before redis-server binds it.
	redisStartTries = 3
)

// StartRedis starts Debian's redis-server for the test. Without it the
// test is skipped, or fails when CI=true: CI installs it (.ci/run), so
// a missing binary there is a broken set-up, not a reason to skip.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found (apt-get install redis-server); the Redis tests need a real one"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var errs []error
	for range redisStartTries {
		r, err := startRedis(bin, t.TempDir())
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		errs = append(errs, err)
	}
	t.Fatalf("start redis-server: %v", errors.Join(errs...))
	return nil
}

func startRedis(bin, dir string) (*Redis, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r := &Redis{Addr: addr, URL: "redis://" + addr + "/0", exited: make(chan struct{}), log: &SyncBuffer{}}
	r.cmd = exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "yes",
		"--logfile", "", "--loglevel", "warning",
		"--pidfile", filepath.Join(dir, "redis.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	if err := r.waitReady(); err != nil {
		r.Stop()
		return nil, fmt.Errorf("%w (output: %s)", err, strings.TrimSpace(r.log.String()))
	}
	return r, nil
}

// waitReady polls PING until the server answers PONG, it exits, or
// redisReadyTimeout passes.
func (r *Redis) waitReady() error {
	deadline := time.Now().Add(redisReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("redis-server on %s exited at start", r.Addr)
		default:
		}
		if last = ping(r.Addr); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s not ready after %s: %w", r.Addr, redisReadyTimeout, last)
}

// Stop ends the server and waits for it to exit; calling it again does
// nothing. Tests may call it to take Redis away from a running node.
func (r *Redis) Stop() {
	r.stopOnce.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(redisReadyTimeout):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
}

// ping sends one inline PING and reads the reply.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
