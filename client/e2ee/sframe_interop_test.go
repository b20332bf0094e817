package e2ee

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// interopScript is the JavaScript half, run with node (DESIGN.md: the
// browser's SFrame and this one must agree byte for byte).
var interopScript = filepath.Join("..", "web", "test", "sframe-interop.mjs")

type interopKey struct {
	Suite   Suite  `json:"suite"`
	KID     string `json:"kid"`
	BaseKey string `json:"base_key"`
	Codec   string `json:"codec"`
}

type interopOpen struct {
	interopKey
	Frame     string `json:"frame"`
	Want      string `json:"want,omitempty"`
	WantError string `json:"want_error,omitempty"`
}

type interopSeal struct {
	interopKey
	Frames []string `json:"frames"`
}

type interopRequest struct {
	Open []interopOpen `json:"open"`
	Seal []interopSeal `json:"seal"`
}

type interopResponse struct {
	Opened []struct {
		KID   string `json:"kid"`
		Frame string `json:"frame"`
		Error string `json:"error"`
	} `json:"opened"`
	Sealed   [][]string `json:"sealed"`
	Failures []string   `json:"failures"`
}

// A browser and a Go client in one conference: frames Go encrypts (VP8
// keyframes and delta frames, Opus; every suite; KIDs small and 64-bit)
// decrypt in the JavaScript module to the same bytes, and frames the
// JavaScript module encrypts decrypt here.
func TestSFrameInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the Go↔JavaScript SFrame test needs Node 20 (CI has it)")
	}
	codecFrames := map[Codec][][]byte{
		CodecVP8:  {vp8Keyframe(1200), vp8Delta(600), vp8Delta(3), vp8Keyframe(10), vp8Delta(1100)},
		CodecOpus: {opusFrame(120), opusFrame(1), opusFrame(40)},
	}
	kids := []uint64{0, 7, 0x1234, math.MaxUint64 - 1, 1 << 53, 3}

	var req interopRequest
	for i, s := range allSuites {
		kid, base := kids[i%len(kids)], sframeTestKey(byte(10*i))
		key := interopKey{Suite: s, KID: strconv.FormatUint(kid, 10), BaseKey: hex.EncodeToString(base)}
		ctx := newSFrameContext(t, s, map[uint64][]byte{kid: base})
		for _, codec := range []Codec{CodecVP8, CodecOpus} {
			key.Codec = codec.String()
			seal := interopSeal{interopKey: key}
			for _, f := range codecFrames[codec] {
				enc, err := ctx.EncryptFrame(nil, kid, codec, f)
				if err != nil {
					t.Fatal(err)
				}
				req.Open = append(req.Open, interopOpen{interopKey: key, Frame: hex.EncodeToString(enc), Want: hex.EncodeToString(f)})
				seal.Frames = append(seal.Frames, hex.EncodeToString(f))
			}
			req.Seal = append(req.Seal, seal)
			// The same frame with the wrong key must not open there either.
			wrong := req.Open[len(req.Open)-1]
			wrong.BaseKey, wrong.Want, wrong.WantError = hex.EncodeToString(sframeTestKey(0xee)), "", "auth"
			req.Open = append(req.Open, wrong)
		}
	}

	res := runInterop(t, node, req)
	if len(res.Failures) > 0 {
		t.Errorf("JavaScript could not decrypt what Go encrypted:\n%q", res.Failures)
	}
	if len(res.Opened) != len(req.Open) {
		t.Fatalf("JavaScript answered %d of %d decryptions", len(res.Opened), len(req.Open))
	}
	for i, o := range req.Open {
		got := res.Opened[i]
		if o.WantError != "" {
			if got.Error != o.WantError {
				t.Errorf("open[%d] %v with a wrong key: JavaScript said %+v, want error %q", i, o.Suite, got, o.WantError)
			}
			continue
		}
		if got.Error != "" || got.Frame != o.Want || got.KID != o.KID {
			t.Errorf("open[%d] %v %s KID %s: JavaScript gave KID %s, error %q, frame equal %v", i, o.Suite, o.Codec, o.KID, got.KID, got.Error, got.Frame == o.Want)
		}
	}

	if len(res.Sealed) != len(req.Seal) {
		t.Fatalf("JavaScript answered %d of %d encryptions", len(res.Sealed), len(req.Seal))
	}
	for i, s := range req.Seal {
		kid, _ := strconv.ParseUint(s.KID, 10, 64)
		base, _ := hex.DecodeString(s.BaseKey)
		codec, _ := ParseCodec(s.Codec)
		ctx := newSFrameContext(t, s.Suite, map[uint64][]byte{kid: base})
		if len(res.Sealed[i]) != len(s.Frames) {
			t.Fatalf("seal[%d]: %d frames back, want %d", i, len(res.Sealed[i]), len(s.Frames))
		}
		for j, encHex := range res.Sealed[i] {
			enc, _ := hex.DecodeString(encHex)
			p := ClearPrefixLen(codec, enc)
			if h, _, err := DecodeHeader(enc[p:]); err != nil || h.KID != kid || h.CTR != uint64(j) {
				t.Errorf("seal[%d] frame %d: header %+v, %v; want KID %d CTR %d", i, j, h, err, kid, j)
			}
			gotKID, got, err := ctx.DecryptFrame(nil, codec, enc)
			want, _ := hex.DecodeString(s.Frames[j])
			if err != nil || gotKID != kid || !bytes.Equal(got, want) {
				t.Errorf("seal[%d] %v %v frame %d from JavaScript: KID %d, %v, frame equal %v", i, s.Suite, codec, j, gotKID, err, bytes.Equal(got, want))
			}
		}
	}
	t.Logf("%d frames Go→JavaScript (%d with a wrong key), %d JavaScript→Go", len(req.Open), len(allSuites)*2, countFrames(req.Seal))
}

func countFrames(seals []interopSeal) int {
	n := 0
	for _, s := range seals {
		n += len(s.Frames)
	}
	return n
}

func runInterop(t *testing.T, node string, req interopRequest) interopResponse {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, interopScript, "--stdio")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && stdout.Len() > 0) {
		t.Fatalf("node %s: %v\nstderr: %s", interopScript, err, stderr.String())
	}
	var res interopResponse
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("node %s printed no JSON (%v): %q\nstderr: %s", interopScript, err, stdout.String(), stderr.String())
	}
	return res
}
