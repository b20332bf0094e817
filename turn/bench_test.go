package turn_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pturn "github.com/pion/turn/v5"

	"github.com/konsil/konsil/turn"
)

// benchServerEnv makes the test binary a relay process for the benchmark:
// the relay runs in a child so that its CPU time is measured apart from
// the clients'.
const benchServerEnv = "KONSIL_TURN_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) != "" {
		os.Exit(benchServer())
	}
	os.Exit(m.Run())
}

// benchServer runs a relay on 127.0.0.1, prints "addr HOST:PORT", answers
// every "cpu" line on stdin with "cpu MICROSECONDS" (its user+system time
// from getrusage), and stops when stdin closes.
func benchServer() int {
	lo := netip.MustParseAddr("127.0.0.1")
	s, err := turn.New(turn.Config{
		Secret: os.Getenv(benchServerEnv), UDPAddr: "127.0.0.1:0", RelayIP: lo,
		AllowPeers: []netip.Prefix{netip.PrefixFrom(lo, 32)},
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer s.Close()
	fmt.Println("addr", s.UDPAddr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			fmt.Println("cpu", cpuMicros(syscall.RUSAGE_SELF))
		}
	}
	return 0
}

func cpuMicros(who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}

// benchRelay is the relay child process.
type benchRelay struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	addr  string
}

func startBenchRelay(b *testing.B, secret string) *benchRelay {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+secret)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := &benchRelay{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	b.Cleanup(r.stop)
	line := r.line(b)
	addr, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		b.Fatalf("relay process: %q", line)
	}
	r.addr = addr
	return r
}

func (r *benchRelay) line(b *testing.B) string {
	if !r.out.Scan() {
		b.Fatalf("relay process ended: %v", r.out.Err())
	}
	return r.out.Text()
}

// cpu returns the relay process's CPU time so far, in µs.
func (r *benchRelay) cpu(b *testing.B) int64 {
	fmt.Fprintln(r.stdin, "cpu")
	n, err := strconv.ParseInt(strings.TrimPrefix(r.line(b), "cpu "), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func (r *benchRelay) stop() {
	r.stdin.Close()
	r.cmd.Wait()
}

// BenchmarkRelayThroughput pushes 1,200-byte packets (a video packet's
// size) from one pion TURN client through its allocation to another
// client's allocation on the same relay, over 127.0.0.1 — the path of two
// relay-only browsers. Each op is one packet sent. The sender keeps at
// most 256 packets in flight and gives up waiting after 20 ms (UDP may
// drop); the run stops after 20 s whatever b.N is. It reports received
// throughput, loss, and the relay process's CPU time per relayed Mbit
// (getrusage in the relay child) next to the clients' own.
//
//	go test ./turn -run '^$' -bench RelayThroughput -benchtime 200000x
func BenchmarkRelayThroughput(b *testing.B) {
	const (
		size    = 1200
		window  = 256
		maxTime = 20 * time.Second
	)
	secret := "bench-secret"
	relay := startBenchRelay(b, secret)
	creds := turn.Credentials{Secret: []byte(secret)}
	until := time.Now().Add(time.Hour)
	ua, pa := creds.Issue(turn.Holder{Room: "r", Participant: "sender"}, until)
	ub, pb := creds.Issue(turn.Holder{Room: "r", Participant: "receiver"}, until)
	sender := benchClient(b, relay.addr, ua, pa)
	receiver := benchClient(b, relay.addr, ub, pb)
	from, to := sender.allocate(b), receiver.allocate(b)

	// Both ways once, so both clients bind channels (ChannelData, 4
	// bytes of header, instead of 36-byte Send/Data indications).
	var recvBytes, recvPkts atomic.Int64
	var last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1600)
		for {
			n, _, err := to.ReadFrom(buf)
			if err != nil {
				return
			}
			recvBytes.Add(int64(n))
			recvPkts.Add(1)
			last.Store(time.Now().UnixNano())
		}
	}()
	payload := make([]byte, size)
	to.WriteTo([]byte("hello"), from.LocalAddr())
	for range 100 {
		from.WriteTo(payload, to.LocalAddr())
		if recvPkts.Load() > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if recvPkts.Load() == 0 {
		b.Fatal("nothing arrives through the relay")
	}
	time.Sleep(100 * time.Millisecond) // channel bindings settle
	recvBytes.Store(0)
	recvPkts.Store(0)

	cpuRelay0, cpuSelf0 := relay.cpu(b), cpuMicros(syscall.RUSAGE_SELF)
	b.ResetTimer()
	start := time.Now()
	last.Store(start.UnixNano())
	var sent, lost int64
	for i := 0; i < b.N && time.Since(start) < maxTime; i++ {
		wait := time.Now()
		for sent-recvPkts.Load()-lost >= window {
			if time.Since(wait) > 20*time.Millisecond {
				lost = sent - recvPkts.Load()
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		if _, err := from.WriteTo(payload, to.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	// Wait for stragglers: until nothing arrived for 100 ms.
	for recvPkts.Load() < sent && time.Since(time.Unix(0, last.Load())) < 100*time.Millisecond {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Unix(0, last.Load()).Sub(start)
	b.StopTimer()
	cpuRelay, cpuSelf := relay.cpu(b)-cpuRelay0, cpuMicros(syscall.RUSAGE_SELF)-cpuSelf0

	mbit := float64(recvBytes.Load()) * 8 / 1e6
	if elapsed <= 0 || mbit == 0 {
		b.Fatal("nothing relayed")
	}
	b.ReportMetric(mbit/elapsed.Seconds(), "Mbps")
	b.ReportMetric(100*(1-float64(recvPkts.Load())/float64(sent)), "%loss")
	b.ReportMetric(float64(cpuRelay)/mbit, "relay-CPU-µs/Mbit")
	b.ReportMetric(float64(cpuSelf)/mbit, "clients-CPU-µs/Mbit")
	from.Close()
	to.Close()
	<-done
}

type benchTURNClient struct {
	*pturn.Client
	conn net.PacketConn
}

func benchClient(b *testing.B, addr, user, pass string) *benchTURNClient {
	b.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// Room for bursts: the default socket buffer drops at a few hundred
	// Mbit/s on loopback.
	if uc, ok := conn.(*net.UDPConn); ok {
		uc.SetReadBuffer(4 << 20)
		uc.SetWriteBuffer(4 << 20)
	}
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: user, Password: pass})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); conn.Close() })
	return &benchTURNClient{Client: c, conn: conn}
}

func (c *benchTURNClient) allocate(b *testing.B) net.PacketConn {
	b.Helper()
	relayConn, err := c.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	return relayConn
}
