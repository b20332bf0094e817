package pake

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// interopScript is the JavaScript peer, run with node; it drives
// client/web/static/js/e2ee/pake.js.
var interopScript = filepath.Join("..", "..", "web", "test", "pake-interop.mjs")

type jsRequest struct {
	ID       string `json:"id"`
	Op       string `json:"op"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
	IDA      string `json:"idA,omitempty"`
	IDB      string `json:"idB,omitempty"`
	AAD      string `json:"aad,omitempty"`
	Peer     string `json:"peer,omitempty"`
	Confirm  string `json:"confirm,omitempty"`
}

type jsAnswer struct {
	ID      string `json:"id"`
	Msg     string `json:"msg"`
	Confirm string `json:"confirm"`
	Key     string `json:"key"`
	Error   string `json:"error"`
}

// jsPeer is one node process answering requests line by line.
type jsPeer struct {
	enc *json.Encoder
	out *bufio.Scanner
}

func startJSPeer(t *testing.T) *jsPeer {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed; CI needs it for the Go/JavaScript PAKE test")
		}
		t.Skip("node is not installed: skipping the Go/JavaScript PAKE test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, node, interopScript, "--stdio")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // node's read loop ends, and so does node
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Errorf("node %s: %v", interopScript, err)
		}
		cancel()
	})
	return &jsPeer{enc: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}
}

func (p *jsPeer) do(t *testing.T, r jsRequest) jsAnswer {
	t.Helper()
	if err := p.enc.Encode(r); err != nil {
		t.Fatalf("send %s to node: %v", r.Op, err)
	}
	if !p.out.Scan() {
		t.Fatalf("node sent no answer to %s: %v", r.Op, p.out.Err())
	}
	var a jsAnswer
	if err := json.Unmarshal(p.out.Bytes(), &a); err != nil || a.ID != r.ID {
		t.Fatalf("answer to %s %s: %q (%v)", r.Op, r.ID, p.out.Text(), err)
	}
	return a
}

// The guest's browser and a Go client (or the clinician's browser and a Go
// guest) run one exchange with each other: Go as A against JavaScript as B
// and the other way round, with the same PIN (both end with the same key,
// each confirmation verifies on the other side) and with a wrong one (both
// sides see the confirmation fail and get no key).
func TestInterop(t *testing.T) {
	js := startJSPeer(t)
	for _, c := range []struct {
		name        string
		goRole      Role
		goPIN       string
		jsPIN       string
		wantSuccess bool
	}{
		{"Go A, JS B", RoleA, "482173", "482173", true},
		{"JS A, Go B", RoleB, "482173", "482173", true},
		{"Go A, JS B, wrong PIN", RoleA, "482173", "482137", false},
		{"JS A, Go B, wrong PIN", RoleB, "482173", "482137", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			newGo, jsRole := NewA, "B"
			if c.goRole == RoleB {
				newGo, jsRole = NewB, "A"
			}
			goEx, err := newGo([]byte(c.goPIN), clinician, patient, roomAAD)
			if err != nil {
				t.Fatal(err)
			}
			goMsg, err := goEx.Start()
			if err != nil {
				t.Fatal(err)
			}
			id := c.name
			started := js.do(t, jsRequest{ID: id, Op: "start", Role: jsRole, Password: c.jsPIN,
				IDA: hex.EncodeToString(clinician), IDB: hex.EncodeToString(patient), AAD: hex.EncodeToString(roomAAD)})
			if started.Error != "" {
				t.Fatalf("JS start: %s", started.Error)
			}
			goConfirm, err := goEx.Finish(unhex(t, started.Msg))
			if err != nil {
				t.Fatalf("Go Finish(JS message): %v", err)
			}
			finished := js.do(t, jsRequest{ID: id, Op: "finish", Peer: hex.EncodeToString(goMsg)})
			if finished.Error != "" {
				t.Fatalf("JS finish(Go message): %s", finished.Error)
			}
			goKey, goErr := goEx.Verify(unhex(t, finished.Confirm))
			verified := js.do(t, jsRequest{ID: id, Op: "verify", Confirm: hex.EncodeToString(goConfirm)})
			if !c.wantSuccess {
				if !errors.Is(goErr, ErrConfirmation) || goKey != nil {
					t.Errorf("Go Verify: key %x, err %v; want ErrConfirmation", goKey, goErr)
				}
				if verified.Error != "confirmation" || verified.Key != "" {
					t.Errorf("JS verify: %+v; want error confirmation", verified)
				}
				return
			}
			if goErr != nil {
				t.Fatalf("Go Verify(JS confirmation): %v", goErr)
			}
			if verified.Error != "" {
				t.Fatalf("JS verify(Go confirmation): %s", verified.Error)
			}
			if len(goKey) != KeySize || verified.Key != hex.EncodeToString(goKey) {
				t.Fatalf("keys differ: Go %x, JS %s", goKey, verified.Key)
			}
		})
	}
}
