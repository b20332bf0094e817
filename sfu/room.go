package sfu

import (
	"sync"

	"github.com/konsil/konsil/protocol"
)

// Room is one conference: its participants and the tracks they publish.
// Both are guarded by mu. The room only keeps the lists; each Participant
// reconciles its own subscriptions against them on its negotiation loop.
type Room struct {
	sfu *SFU
	id  string
	// speakers picks the active speaker from the audio levels of the
	// room's publishers; it has a lock of its own.
	speakers *speakerDetector

	mu           sync.Mutex
	participants map[string]*Participant
	tracks       []*Track
}

func newRoom(s *SFU, id string) *Room {
	return &Room{sfu: s, id: id, participants: map[string]*Participant{}, speakers: newSpeakerDetector()}
}

// add makes p the room's participant under its id and returns the one it
// replaces, if any.
func (rm *Room) add(p *Participant) (old *Participant) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	old = rm.participants[p.id]
	rm.participants[p.id] = p
	return old
}

// remove drops p if it is still the current participant under its id.
func (rm *Room) remove(p *Participant) {
	rm.mu.Lock()
	current := rm.participants[p.id] == p
	if current {
		delete(rm.participants, p.id)
	}
	rm.mu.Unlock()
	if current {
		rm.speakers.forget(p.id)
	}
	rm.sfu.dropRoomIfEmpty(rm)
}

func (rm *Room) empty() bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.participants) == 0
}

func (rm *Room) members() []*Participant {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := make([]*Participant, 0, len(rm.participants))
	for _, p := range rm.participants {
		out = append(out, p)
	}
	return out
}

// publish adds a track and tells everyone else to subscribe.
func (rm *Room) publish(t *Track) {
	rm.mu.Lock()
	rm.tracks = append(rm.tracks, t)
	others := rm.othersLocked(t.publisher)
	rm.mu.Unlock()
	for _, p := range others {
		p.renegotiate()
	}
}

// unpublish removes a track and tells everyone else to drop it. It
// reports whether the track was there.
func (rm *Room) unpublish(t *Track) bool {
	rm.mu.Lock()
	found := false
	for i, x := range rm.tracks {
		if x == t {
			rm.tracks = append(rm.tracks[:i], rm.tracks[i+1:]...)
			found = true
			break
		}
	}
	others := rm.othersLocked(t.publisher)
	rm.mu.Unlock()
	if found {
		for _, p := range others {
			p.renegotiate()
		}
	}
	return found
}

func (rm *Room) othersLocked(p *Participant) []*Participant {
	out := make([]*Participant, 0, len(rm.participants))
	for _, q := range rm.participants {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// tracksFor returns the tracks p should receive: everything published in
// the room by someone else, in publishing order so that offers list
// m-lines in a stable order.
func (rm *Room) tracksFor(p *Participant) []*Track {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := make([]*Track, 0, len(rm.tracks))
	for _, t := range rm.tracks {
		if t.publisher != p {
			out = append(out, t)
		}
	}
	return out
}

// addStats adds the counters of the room's live participants.
func (rm *Room) addStats(st *Stats) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	st.Participants += len(rm.participants)
	st.Tracks += len(rm.tracks)
	for _, p := range rm.participants {
		st.Forwarded += p.writer.forwarded.Load()
		st.Dropped += p.writer.dropped.Load()
		st.Retransmitted += p.writer.retransmitted.Load()
		st.ForwardedBytes += p.writer.forwardedBytes.Load()
	}
}

// announceSpeaker tells every participant, the speaker too, who speaks
// now. It runs on the reader of the speaker's audio, rarely (at most once
// per speakerHold); send never blocks.
func (rm *Room) announceSpeaker(id string) {
	for _, p := range rm.members() {
		p.send(protocol.Message{Type: protocol.TypeSpeaker, Peer: &protocol.Peer{ID: id}})
	}
}

// subscriptionCost is how many forwarded subscriptions a participant
// joining the room adds at most: it receives every track published,
// and each other participant receives its audio and video.
func (rm *Room) subscriptionCost() int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.tracks) + 2*len(rm.participants)
}
