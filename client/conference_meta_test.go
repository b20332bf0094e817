package client

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// What a conference member makes of the meta messages others send: with
// the room secret, names and mute states open into events; a state older
// than the one held, or one sealed under another room secret, changes
// nothing and says nothing; kinds it does not know go on as EventMeta.
func TestConferenceMetaNamesAndNewestMute(t *testing.T) {
	keys, err := e2ee.DeriveKeys(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e2ee.DeriveKeys(bytes.Repeat([]byte{2}, 32))
	c := &Conference{keys: &keys, log: slog.New(slog.DiscardHandler), events: make(chan Event, 16), heard: map[string]e2ee.MuteState{}}
	const sender = "p-cardio"
	name := func(k e2ee.Keys, s string) protocol.Message {
		sealed, _ := e2ee.SealName(k.Names, sender, s)
		return protocol.Message{Type: protocol.TypeMeta, From: sender, Data: e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaName, Value: sealed})}
	}
	mute := func(k e2ee.Keys, micOff bool, ms int64) protocol.Message {
		state, _ := e2ee.MuteState{MicOff: micOff, At: time.UnixMilli(ms)}.Encode()
		sealed, _ := e2ee.SealMute(k.Names, sender, state)
		return protocol.Message{Type: protocol.TypeMeta, From: sender, Data: e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaMute, Value: sealed})}
	}
	future := protocol.Message{Type: protocol.TypeMeta, From: sender, Data: e2ee.EncodeMeta(e2ee.Meta{Kind: "future", Value: []byte{1}})}

	for _, m := range []protocol.Message{
		name(other, "Mallory"),  // another room's secret: nothing
		name(keys, "Dr. Berg"),  // EventPeerName
		mute(keys, true, 2000),  // EventPeerMute, mic off
		mute(keys, false, 1000), // older: nothing
		mute(other, false, 3000),
		mute(keys, false, 2000), // as new as the held one, and later: replaces it
		future,                  // EventMeta
	} {
		c.onMeta(m)
	}
	close(c.events)
	var got []Event
	for e := range c.events {
		got = append(got, e)
	}
	want := []Event{
		{Type: EventPeerName, Peer: protocol.Peer{ID: sender}, Data: "Dr. Berg"},
		{Type: EventPeerMute, Peer: protocol.Peer{ID: sender}, Mute: e2ee.MuteState{MicOff: true, At: time.UnixMilli(2000)}},
		{Type: EventPeerMute, Peer: protocol.Peer{ID: sender}, Mute: e2ee.MuteState{At: time.UnixMilli(2000)}},
		{Type: EventMeta, Peer: protocol.Peer{ID: sender}, Data: future.Data},
	}
	if len(got) != len(want) {
		t.Fatalf("events = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
