package sfu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/protocol"
)

// The CPU benchmark runs the SFU in a child process (this test binary,
// re-executed) so that its CPU time is the SFU's alone: the publisher and
// the subscribers, real pion peers on loopback, stay in the parent. The
// two talk signaling over the child's stdin and stdout, one JSON object
// per line.
//
//	go test ./sfu -run '^$' -bench ForwardCPU -benchtime 5000x
//	KONSIL_SFU_BENCH_PPS=100 go test ./sfu -run '^$' -bench ForwardCPU -benchtime 1000x
//
// It reports the child's CPU time (user + system, getrusage) per packet
// written to a subscriber ("µs/fwd"), and per packet read from the
// publisher ("µs/in"), plus allocations per forwarded packet. It is a
// measurement, not a test: nothing fails on a number.

const childEnv = "KONSIL_SFU_BENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		runChild(os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pipeMsg is one line on the pipe.
type pipeMsg struct {
	Op  string           `json:"op"` // join, signal, msg, usage
	ID  string           `json:"id,omitempty"`
	Msg protocol.Message `json:"msg,omitzero"`
	// usage answers
	CPUNanos  int64  `json:"cpu_ns,omitempty"`
	Forwarded uint64 `json:"forwarded,omitempty"`
	Dropped   uint64 `json:"dropped,omitempty"`
	Mallocs   uint64 `json:"mallocs,omitempty"`
}

// runChild is the SFU side: it serves the parent until stdin closes.
func runChild(in io.Reader, out io.Writer) {
	if os.Getenv("KONSIL_SFU_BENCH_MEMPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	s, err := New(Config{SettingEngine: LoopbackSettingEngine()})
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(m pipeMsg) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	parts := map[string]*Participant{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m pipeMsg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.Op {
		case "join":
			id := m.ID
			p, err := s.Join("bench", id, func(msg protocol.Message) { write(pipeMsg{Op: "msg", ID: id, Msg: msg}) })
			if err != nil {
				panic(err)
			}
			parts[id] = p
		case "signal":
			if p := parts[m.ID]; p != nil {
				p.Signal(m.Msg)
			}
		case "profile":
			// KONSIL_SFU_BENCH_CPUPROFILE=file: profile the measured run.
			if path := os.Getenv("KONSIL_SFU_BENCH_CPUPROFILE"); path != "" && m.ID == "start" {
				if f, err := os.Create(path); err == nil {
					_ = pprof.StartCPUProfile(f)
					defer f.Close()
				}
			} else if m.ID == "stop" {
				pprof.StopCPUProfile()
				// KONSIL_SFU_BENCH_MEMPROFILE=file: where allocations
				// came from (every one, when the variable is set).
				if path := os.Getenv("KONSIL_SFU_BENCH_MEMPROFILE"); path != "" {
					if f, err := os.Create(path); err == nil {
						_ = pprof.Lookup("allocs").WriteTo(f, 0)
						f.Close()
					}
				}
			}
		case "usage":
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := s.Stats()
			write(pipeMsg{Op: "usage", CPUNanos: ru.Utime.Nano() + ru.Stime.Nano(),
				Forwarded: st.Forwarded, Dropped: st.Dropped, Mallocs: ms.Mallocs})
		}
	}
	s.Close()
}

// sfuProcess is the parent's handle on the child.
type sfuProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	enc   *json.Encoder
	peers sync.Map // id -> *testPeer
	usage chan pipeMsg
	done  chan struct{}
}

func startSFUProcess(b *testing.B) *sfuProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &sfuProcess{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), usage: make(chan pipeMsg), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m pipeMsg
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			switch m.Op {
			case "msg":
				if peer, ok := p.peers.Load(m.ID); ok {
					peer.(*testPeer).deliver(m.Msg)
				}
			case "usage":
				p.usage <- m
			}
		}
	}()
	b.Cleanup(func() {
		stdin.Close()
		<-p.done
		_ = cmd.Wait()
	})
	return p
}

func (p *sfuProcess) send(m pipeMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(m)
}

func (p *sfuProcess) join(b *testing.B, id string, tracks ...webrtc.TrackLocal) *testPeer {
	peer := newTestPeer(b, id, tracks...)
	peer.toSFU = func(m protocol.Message) { p.send(pipeMsg{Op: "signal", ID: id, Msg: m}) }
	p.peers.Store(id, peer)
	peer.run()
	b.Cleanup(peer.close)
	p.send(pipeMsg{Op: "join", ID: id})
	peer.offerFirst(b)
	return peer
}

func (p *sfuProcess) readUsage() pipeMsg {
	p.send(pipeMsg{Op: "usage"})
	return <-p.usage
}

func BenchmarkForwardCPU(b *testing.B) {
	pps := 1000
	if v, err := strconv.Atoi(os.Getenv("KONSIL_SFU_BENCH_PPS")); err == nil && v > 0 {
		pps = v
	}
	for _, n := range []int{1, 10, 20} {
		b.Run(fmt.Sprintf("subscribers=%d/pps=%d", n, pps), func(b *testing.B) { benchForward(b, n, pps) })
	}
}

// benchForward publishes one VP8-shaped track (1,200-byte payloads) at
// pps packets per second to n subscribers and measures the SFU's CPU
// over b.N packets.
func benchForward(b *testing.B, n, pps int) {
	proc := startSFUProcess(b)
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pub")
	if err != nil {
		b.Fatal(err)
	}
	proc.join(b, "pub", video)
	subs := make([]*testPeer, n)
	for i := range subs {
		subs[i] = proc.join(b, fmt.Sprintf("sub%02d", i))
	}

	payload := make([]byte, 1200)
	payload[0] = 0x10
	seq := uint16(0)
	sendOne := func() {
		seq++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 900, Marker: true}, Payload: payload}
		_ = video.WriteRTP(&pkt)
	}
	// Warm up until every subscriber receives.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sendOne()
		time.Sleep(5 * time.Millisecond)
		ready := true
		for _, s := range subs {
			if s.count("pub", webrtc.RTPCodecTypeVideo) < 20 {
				ready = false
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("subscribers not receiving:%s", describeCounts(subs))
		}
	}

	proc.send(pipeMsg{Op: "profile", ID: "start"})
	u0 := proc.readUsage()
	b.ResetTimer()
	// Pace in 1 ms steps: a burst of pps/1000 packets each.
	start := time.Now()
	for i := range b.N {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(pps))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sendOne()
	}
	time.Sleep(200 * time.Millisecond) // let the queues drain
	b.StopTimer()
	u1 := proc.readUsage()
	proc.send(pipeMsg{Op: "profile", ID: "stop"})

	cpu := float64(u1.CPUNanos-u0.CPUNanos) / 1e3
	fwd := float64(u1.Forwarded - u0.Forwarded)
	if fwd == 0 {
		b.Fatal("nothing forwarded")
	}
	b.ReportMetric(cpu/fwd, "µs/fwd")
	b.ReportMetric(cpu/float64(b.N), "µs/in")
	b.ReportMetric(float64(u1.Mallocs-u0.Mallocs)/fwd, "allocs/fwd")
	b.ReportMetric(float64(u1.Dropped-u0.Dropped), "dropped")
	b.ReportMetric(fwd/float64(b.N*n), "delivered")
}
