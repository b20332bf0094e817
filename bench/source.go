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

// source is one participant's synthetic camera and microphone: it writes
// stamped frames at the frame rate and every 20 ms until stopped. One
// goroutine (run) owns the shapes; the counters are read by the report.
type source struct {
	video, audio sampleWriter // nil: not sent
	vshape       *videoShape
	ashape       *opusShape
	frameTime    time.Duration
	now          func() time.Duration
	measuring    *atomic.Bool

	vseq, aseq uint32
	// Counted while measuring: frames and clear bytes handed to the tracks.
	videoFrames, videoBytes atomic.Uint64
	audioFrames, audioBytes atomic.Uint64
	writeErrors             atomic.Uint64
	txBytes                 *atomic.Uint64 // every phase, for the live line
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
		if s.video != nil {
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
		if s.audio == nil || (s.video != nil && nextV < nextA) {
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

func (s *source) sendVideo() {
	s.vseq++
	f := s.vshape.next(stamp{seq: s.vseq, sent: s.now()})
	s.write(s.video, f, s.frameTime, &s.videoFrames, &s.videoBytes)
}

func (s *source) sendAudio() {
	s.aseq++
	f := s.ashape.next(stamp{seq: s.aseq, sent: s.now()})
	s.write(s.audio, f, opusFrame, &s.audioFrames, &s.audioBytes)
}

func (s *source) write(w sampleWriter, f []byte, d time.Duration, frames, bytes *atomic.Uint64) {
	if err := w.WriteSample(media.Sample{Data: f, Duration: d}); err != nil {
		s.writeErrors.Add(1)
		return
	}
	s.txBytes.Add(uint64(len(f)))
	if s.measuring.Load() {
		frames.Add(1)
		bytes.Add(uint64(len(f)))
	}
}
