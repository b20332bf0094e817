package sfu

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/konsil/konsil/client/e2ee"
)

func TestVP8Keyframe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"keyframe, plain descriptor", []byte{0x10, 0x50, 0x02}, true},
		{"delta frame", []byte{0x10, 0x51, 0x02}, false},
		{"not a partition start", []byte{0x00, 0x50}, false},
		{"partition 1", []byte{0x11, 0x50}, false},
		{"15-bit picture id", []byte{0x90, 0x80, 0x81, 0x02, 0x50}, true},
		{"7-bit picture id, TL0PICIDX, TID", []byte{0x90, 0xe0, 0x05, 0x01, 0x40, 0x51}, false},
		{"extension cut short", []byte{0x90, 0x80}, false},
		{"descriptor only", []byte{0x10}, false},
	} {
		if got := vp8Keyframe(tc.payload); got != tc.want {
			t.Errorf("%s: vp8Keyframe(% x) = %t, want %t", tc.name, tc.payload, got, tc.want)
		}
	}
}

// A publisher encrypts its frames with SFrame: what the SFU forwards is
// ciphertext beyond each frame's clear prefix, and it still finds the
// keyframes, in that prefix.
func TestForwardsOnlyCiphertext(t *testing.T) {
	verifyNoLeaks(t)
	s := newTestSFU(t)
	marker := []byte("plaintext-marker")
	plain := func(n int, key bool) []byte {
		f := bytes.Repeat(marker, n/len(marker)+1)[:n]
		f[0] = 0x51 // VP8 frame tag, delta frame
		if key {
			f[0] = 0x50
		}
		return f
	}
	var seen, leaked, keyed atomic.Int64
	var mu sync.Mutex
	var first string
	s.SetForwardTap(func(kind webrtc.RTPCodecType, payload []byte) {
		seen.Add(1)
		if kind == webrtc.RTPCodecTypeVideo && len(payload) > 1 && payload[1]&1 == 0 {
			keyed.Add(1)
		}
		if bytes.Contains(payload, marker[:8]) {
			leaked.Add(1)
			mu.Lock()
			if first == "" {
				first = fmt.Sprintf("%s % x", kind, payload[:min(len(payload), 32)])
			}
			mu.Unlock()
		}
	})

	ctx, err := e2ee.NewContext(e2ee.DefaultSuite)
	if err != nil {
		t.Fatal(err)
	}
	const kid = 7
	if err := ctx.AddKey(kid, e2ee.SenderBaseKey(bytes.Repeat([]byte{1}, 32), kid)); err != nil {
		t.Fatal(err)
	}
	video, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pub")
	audio, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "pub")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			v, _ := ctx.EncryptFrame(nil, kid, e2ee.CodecVP8, plain(900, i%10 == 0))
			_ = video.WriteSample(media.Sample{Data: v, Duration: 20 * time.Millisecond})
			a, _ := ctx.EncryptFrame(nil, kid, e2ee.CodecOpus, plain(80, false))
			_ = audio.WriteSample(media.Sample{Data: a, Duration: 20 * time.Millisecond})
		}
	}()
	defer func() { close(stop); <-done }()

	joinPeer(t, s, "enc", "pub", video, audio)
	sub, _ := joinPeer(t, s, "enc", "sub")
	waitFor(t, 15*time.Second, func() string { return describeCounts([]*testPeer{sub}) }, func() bool {
		return sub.count("pub", webrtc.RTPCodecTypeVideo) > 25 && sub.count("pub", webrtc.RTPCodecTypeAudio) > 25 && keyed.Load() > 0
	})
	if n := leaked.Load(); n > 0 {
		t.Errorf("%d of %d forwarded payloads carry plaintext, first: %s", n, seen.Load(), first)
	}
	if st := s.Stats(); st.Keyframes == 0 {
		t.Errorf("the SFU saw no keyframe in the clear prefix of encrypted frames: %+v", st)
	}
}
