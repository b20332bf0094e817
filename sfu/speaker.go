package sfu

import (
	"math"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// audioLevelURI is the RFC 6464 client-to-mixer audio level extension:
// one byte, V (voice activity) and the level, 0..127 -dBov. The SFU
// reads it to pick the active speaker; it is never forwarded (writer.go
// drops every extension).
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// Tuning of the speaker detector.
const (
	// silenceLevel: levels at or above this many -dBov count as silence
	// (RFC 6464 gives 127 for digital silence; background noise of a
	// quiet room is around -60 dBov, speech -20..-40).
	silenceLevel = 70
	// speakerSmoothing is the time constant of the moving average:
	// about one spoken syllable, so a cough or a door does not win.
	speakerSmoothing = 400 * time.Millisecond
	// speakerMinLoudness is the smoothed loudness (dB above
	// silenceLevel) a participant needs to become the speaker at all.
	speakerMinLoudness = 10
	// speakerMargin is how much louder (dB) a challenger must be than the
	// current speaker, and speakerHold the least time between two
	// changes: together they keep two people talking at once from
	// making the speaker flap.
	speakerMargin = 6
	speakerHold   = time.Second
)

// audioLevelID finds the id the publisher's answer negotiated for the
// audio level extension; 0 when it did not.
func audioLevelID(params webrtc.RTPParameters) uint8 {
	for _, e := range params.HeaderExtensions {
		if e.URI == audioLevelURI && e.ID > 0 && e.ID < 256 {
			return uint8(e.ID)
		}
	}
	return 0
}

// audioLevel reads the RFC 6464 level of a packet's header: 0 (loudest)
// to 127 -dBov; ok is false without the extension. It reads the header
// the reader parsed already, so it costs no allocation.
func audioLevel(pkt *packet, id uint8) (level uint8, ok bool) {
	if id == 0 {
		return 0, false
	}
	b := pkt.hdr.GetExtension(id)
	if len(b) == 0 {
		return 0, false
	}
	return b[0] & 0x7f, true
}

// speakerDetector picks a room's active speaker from its publishers'
// audio levels: each publisher's loudness (dB above silenceLevel) is
// smoothed over speakerSmoothing, and a publisher takes over when it is
// loud enough and louder than the current speaker by speakerMargin, at
// most once per speakerHold. Time comes with each level (the packet's
// arrival, from the SFU's clock), so tests drive it without sleeping.
//
// Its state is guarded by mu: every publisher's reader reports to it.
type speakerDetector struct {
	mu        sync.Mutex
	scores    map[string]*speakerScore
	current   string
	changedAt time.Time
}

// speakerScore is one publisher's smoothed loudness as of at.
type speakerScore struct {
	loudness float64
	at       time.Time
}

func newSpeakerDetector() *speakerDetector {
	return &speakerDetector{scores: map[string]*speakerScore{}}
}

// observe takes one audio level of participant id, read at at, and
// reports the speaker when this level made it change. It allocates only
// for a participant's first level.
func (d *speakerDetector) observe(id string, level uint8, at time.Time) (speaker string, changed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sc := d.scores[id]
	if sc == nil {
		sc = &speakerScore{at: at}
		d.scores[id] = sc
	}
	sample := 0.0
	if level < silenceLevel {
		sample = float64(silenceLevel - level)
	}
	if dt := at.Sub(sc.at); dt > 0 {
		sc.loudness = sample + (sc.loudness-sample)*decay(dt)
		sc.at = at
	}
	if id == d.current || sc.loudness < speakerMinLoudness {
		return "", false
	}
	if d.current != "" && at.Sub(d.changedAt) < speakerHold {
		return "", false
	}
	if cur := d.scores[d.current]; cur != nil && sc.loudness < d.loudnessAt(cur, at)+speakerMargin {
		return "", false
	}
	d.current, d.changedAt = id, at
	return id, true
}

// loudnessAt is a score as of at: a publisher that sent nothing since
// (it left, or its DTX sends nothing in silence) fades as if silent.
func (d *speakerDetector) loudnessAt(sc *speakerScore, at time.Time) float64 {
	if dt := at.Sub(sc.at); dt > 0 {
		return sc.loudness * decay(dt)
	}
	return sc.loudness
}

// decay is the weight the moving average keeps after dt.
func decay(dt time.Duration) float64 {
	return math.Exp(-float64(dt) / float64(speakerSmoothing))
}

// speaker returns the current speaker; "" before the first.
func (d *speakerDetector) speaker() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// forget drops a participant that left. When it was the speaker, the
// room has none until someone speaks up: nobody is told, peer-left says
// enough.
func (d *speakerDetector) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.scores, id)
	if d.current == id {
		d.current = ""
	}
}
