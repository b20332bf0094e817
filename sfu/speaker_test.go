package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// levels is one publisher's audio levels every step, from its first
// packet on; empty strings in the script are steps without a packet.
type levelStep struct {
	at    time.Duration
	id    string
	level uint8
}

// talk is id speaking at level every 20 ms (one Opus frame) in [from, to).
func talk(id string, level uint8, from, to time.Duration) []levelStep {
	var out []levelStep
	for at := from; at < to; at += 20 * time.Millisecond {
		out = append(out, levelStep{at: at, id: id, level: level})
	}
	return out
}

// merge interleaves scripts by time.
func merge(scripts ...[]levelStep) []levelStep {
	var out []levelStep
	for _, s := range scripts {
		out = append(out, s...)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].at < out[j-1].at; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestSpeakerDetector(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name   string
		script []levelStep
		// want are the speakers announced, in order.
		want []string
	}{
		{"silence names nobody", merge(talk("a", 127, 0, 3*sec), talk("b", 90, 0, 3*sec)), nil},
		{"background noise names nobody", talk("a", silenceLevel, 0, 3*sec), nil},
		{"one voice", merge(talk("a", 30, 0, 2*sec), talk("b", 127, 0, 2*sec)), []string{"a"}},
		{"the louder of two wins", merge(talk("a", 50, 0, 3*sec), talk("b", 20, 0, 3*sec)), []string{"b"}},
		{"a cough does not take over", merge(talk("a", 30, 0, 3*sec), talk("b", 5, sec, sec+60*time.Millisecond)), []string{"a"}},
		{"equal voices do not flap", merge(talk("a", 30, 0, 5*sec), talk("b", 31, 100*time.Millisecond, 5*sec)), []string{"a"}},
		{"turn taking", merge(talk("a", 30, 0, 2*sec), talk("b", 30, 2*sec, 4*sec), talk("a", 127, 2*sec, 4*sec)), []string{"a", "b"}},
		{"no change within the hold", merge(talk("a", 40, 0, 1200*time.Millisecond), talk("b", 10, 300*time.Millisecond, 1200*time.Millisecond)), []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newSpeakerDetector()
			t0 := time.Unix(1000, 0)
			var got []string
			var changes []time.Duration
			for _, s := range tt.script {
				if id, changed := d.observe(s.id, s.level, t0.Add(s.at)); changed {
					got = append(got, id)
					changes = append(changes, s.at)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("announced %v at %v, want %v", got, changes, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("announced %v at %v, want %v", got, changes, tt.want)
				}
			}
			for i := 1; i < len(changes); i++ {
				if changes[i]-changes[i-1] < speakerHold {
					t.Errorf("changes at %v: closer than %v", changes, speakerHold)
				}
			}
		})
	}
}

// A speaker that leaves is forgotten; the next voice takes over at once.
func TestSpeakerDetectorForget(t *testing.T) {
	d := newSpeakerDetector()
	t0 := time.Unix(1000, 0)
	for _, s := range talk("a", 20, 0, time.Second) {
		d.observe(s.id, s.level, t0.Add(s.at))
	}
	if d.speaker() != "a" {
		t.Fatalf("speaker %q, want a", d.speaker())
	}
	d.forget("a")
	var got string
	for _, s := range talk("b", 40, time.Second, 1500*time.Millisecond) {
		if id, ok := d.observe(s.id, s.level, t0.Add(s.at)); ok {
			got = id
		}
	}
	if got != "b" {
		t.Errorf("after a left, announced %q, want b", got)
	}
}

// levelPacket is a parsed audio packet carrying an RFC 6464 level under
// extension id.
func levelPacket(t testing.TB, id, level uint8, voice bool) *packet {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, SSRC: 7}
	b := level
	if voice {
		b |= 0x80
	}
	if err := h.SetExtension(id, []byte{b}); err != nil {
		t.Fatal(err)
	}
	pkt := newPacketPool().get()
	n, err := h.MarshalTo(pkt.buf[:])
	if err != nil {
		t.Fatal(err)
	}
	n += copy(pkt.buf[n:], "opus")
	if !pkt.parse(n) {
		t.Fatal("parse failed")
	}
	return pkt
}

func TestAudioLevel(t *testing.T) {
	tests := []struct {
		name      string
		extID     uint8 // in the packet
		negotiate uint8 // what the SFU reads
		level     uint8
		voice     bool
		want      uint8
		ok        bool
	}{
		{"loud with voice bit", 3, 3, 12, true, 12, true},
		{"silence", 3, 3, 127, false, 127, true},
		{"another id", 4, 3, 12, true, 0, false},
		{"not negotiated", 3, 0, 12, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := audioLevel(levelPacket(t, tt.extID, tt.level, tt.voice), tt.negotiate)
			if got != tt.want || ok != tt.ok {
				t.Errorf("level %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if id := audioLevelID(webrtc.RTPParameters{HeaderExtensions: []webrtc.RTPHeaderExtensionParameter{
		{URI: sdesMID, ID: 1}, {URI: audioLevelURI, ID: 5}}}); id != 5 {
		t.Errorf("audioLevelID = %d, want 5", id)
	}
}

// Reading the level and feeding the detector allocate nothing once the
// publisher is known: it runs for every audio packet.
func TestSpeakerPathDoesNotAllocate(t *testing.T) {
	pkt := levelPacket(t, 3, 25, true)
	tr := &Track{levelID: 3, speakers: newSpeakerDetector(), publisher: &Participant{id: "pub"}}
	at := time.Unix(1000, 0)
	// Another voice, louder, is the speaker and stays it: pub's level
	// goes through smoothing and the comparison with it every time.
	for range 50 {
		at = at.Add(20 * time.Millisecond)
		tr.speakers.observe("other", 0, at)
	}
	if tr.speakers.speaker() != "other" {
		t.Fatal("no speaker to compare with")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		at = at.Add(20 * time.Millisecond)
		tr.speakers.observe("other", 0, at)
		pkt.at = at
		tr.observeLevel(pkt)
	})
	if tr.speakers.speaker() != "other" {
		t.Fatal("the quieter publisher took over")
	}
	if allocs > 0 {
		t.Errorf("%.1f allocations per audio packet", allocs)
	}
}
