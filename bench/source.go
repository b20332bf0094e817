package bench

import (
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
)

// sampleWriter is a local track frames are written to:
// *webrtc.TrackLocalStaticSample, or *client.SFrameTrack which encrypts.
type sampleWriter interface {
	WriteSample(media.Sample) error
}

// layerSpec is one simulcast layer the bench publishes: its RID, its
// share of the video bitrate asked for, and how much smaller than the
// full frame its pictures are (a divisor of width and height).
type layerSpec struct {
	rid   string
	share float64
	scale uint16
}

// simulcastLayers are the three layers, lowest first, at shares of
// --video-kbps close to what browsers give a 1280×720 camera's layers
// (Chrome: about 150, 500 and 1,700 kbit/s of 2.35 Mbit/s, i.e. 6/21/72
// %): q 10 % at 320×180, h 25 % at 640×360, f 65 % at 1280×720. A
// function, not a variable: no package state.
func simulcastLayers() []layerSpec {
	return []layerSpec{{"q", 0.10, 4}, {"h", 0.25, 2}, {"f", 0.65, 1}}
}

// layerBitrate is the bitrate of layer i of n (n 1: the only one) when
// video as a whole is asked to send total bit/s.
func layerBitrate(total, i, n int) int {
	if n <= 1 {
		return total
	}
	return int(float64(total) * simulcastLayers()[i].share)
}

// forcedKeyframeGap: at most one keyframe forced by requests per layer
// in this time. The SFU paces its PLIs per layer already; this keeps a
// burst from another sender from turning the bench into a keyframe
// generator, as real encoders' own limits do.
const forcedKeyframeGap = 500 * time.Millisecond

// videoLayer is one encoding of the camera: a simulcast layer, or the
// only one. asked is set by the SDK's RTCP reader when a keyframe
// request comes; the rest is owned by source.run.
type videoLayer struct {
	rid   string // "" without simulcast
	index uint8
	w     sampleWriter
	shape *videoShape
	asked atomic.Bool

	lastForced time.Duration
	forcedOnce bool
}

// source is one participant's synthetic camera and microphone: it writes
// stamped frames at the frame rate and every 20 ms until stopped. One
// goroutine (run) owns the shapes; the counters are read by the report.
type source struct {
	layers    []*videoLayer // none: no video
	audio     sampleWriter  // nil: not sent
	ashape    *opusShape
	frameTime time.Duration
	now       func() time.Duration
	measuring *atomic.Bool

	vseq, aseq uint32
	// Counted while measuring: frames and clear bytes handed to the
	// tracks (each video frame once, however many layers carry it).
	videoFrames, videoBytes atomic.Uint64
	audioFrames, audioBytes atomic.Uint64
	writeErrors             atomic.Uint64
	// keyframesForced counts keyframes made for requests, in every phase.
	keyframesForced atomic.Uint64
	txBytes         *atomic.Uint64 // every phase, for the live line
}

// requestKeyframe notes a keyframe request for the layer rid of video
// ("" without simulcast); audio asks for nothing. It is called by the
// SDK on its RTCP reader, so it only sets a flag.
func (s *source) requestKeyframe(kind, rid string) {
	if kind != "video" {
		return
	}
	for _, l := range s.layers {
		if l.rid == rid {
			l.asked.Store(true)
			return
		}
	}
}

// run sends until stop is closed. A late wake-up sends the frames that
// are due at once, but never more than a second's worth: after a stall a
// real encoder drops frames rather than bursting.
func (s *source) run(stop <-chan struct{}) {
	start := s.now()
	nextV, nextA := start, start
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		now := s.now()
		if len(s.layers) > 0 {
			nextV = s.catchUp(nextV, now, s.frameTime)
			for ; nextV <= now; nextV += s.frameTime {
				s.sendVideo()
			}
		}
		if s.audio != nil {
			nextA = s.catchUp(nextA, now, opusFrame)
			for ; nextA <= now; nextA += opusFrame {
				s.sendAudio()
			}
		}
		next := nextA
		if s.audio == nil || (len(s.layers) > 0 && nextV < nextA) {
			next = nextV
		}
		timer.Reset(next - s.now())
	}
}

func (s *source) catchUp(next, now, step time.Duration) time.Duration {
	if now-next > time.Second {
		return now - now%step
	}
	return next
}

// sendVideo writes one frame on every layer, all with the same stamp
// but their layer, each a keyframe when the interval or a request (at
// most one per forcedKeyframeGap) says so.
func (s *source) sendVideo() {
	s.vseq++
	now := s.now()
	var bytes uint64
	failed := false
	for _, l := range s.layers {
		if l.asked.Load() && (!l.forcedOnce || now-l.lastForced >= forcedKeyframeGap) {
			l.asked.Store(false)
			l.lastForced, l.forcedOnce = now, true
			l.shape.force()
			s.keyframesForced.Add(1)
		}
		f := l.shape.next(stamp{seq: s.vseq, sent: now, layer: l.index})
		if err := l.w.WriteSample(media.Sample{Data: f, Duration: s.frameTime}); err != nil {
			failed = true
			continue
		}
		bytes += uint64(len(f))
	}
	if failed {
		s.writeErrors.Add(1)
	}
	s.count(bytes, &s.videoFrames, &s.videoBytes)
}

func (s *source) sendAudio() {
	s.aseq++
	f := s.ashape.next(stamp{seq: s.aseq, sent: s.now()})
	if err := s.audio.WriteSample(media.Sample{Data: f, Duration: opusFrame}); err != nil {
		s.writeErrors.Add(1)
		return
	}
	s.count(uint64(len(f)), &s.audioFrames, &s.audioBytes)
}

func (s *source) count(n uint64, frames, bytes *atomic.Uint64) {
	s.txBytes.Add(n)
	if s.measuring.Load() {
		frames.Add(1)
		bytes.Add(n)
	}
}
