package client

import (
	"reflect"
	"testing"

	"github.com/konsil/konsil/protocol"
)

// While a Conference reconnects, its old session is no longer read: what
// it would have said about the others comes from comparing the peers
// before with the new welcome's.
func TestMissedPeerEvents(t *testing.T) {
	chair := protocol.Peer{ID: "p-chair", Role: protocol.RoleHost, KID: 5}
	cardio := protocol.Peer{ID: "p-cardio", Role: protocol.RoleGuest, KID: 6}
	patho := protocol.Peer{ID: "p-patho", Role: protocol.RoleGuest, KID: 8}
	chairBack := protocol.Peer{ID: "p-chair", Role: protocol.RoleHost, KID: 7}
	chairReturned := chairBack
	chairReturned.Reconnect = true
	peers := func(ps ...protocol.Peer) map[string]protocol.Peer {
		m := map[string]protocol.Peer{}
		for _, p := range ps {
			m[p.ID] = p
		}
		return m
	}
	for _, tc := range []struct {
		name          string
		before, after map[string]protocol.Peer
		want          []Event
	}{
		{"nobody came or went", peers(chair, cardio), peers(chair, cardio), nil},
		{"both left", peers(chair, cardio), peers(), []Event{
			{Type: EventPeerLeft, Peer: cardio}, {Type: EventPeerLeft, Peer: chair}}},
		{"one joined", peers(chair), peers(chair, patho), []Event{{Type: EventPeerJoined, Peer: patho}}},
		{"one left, one joined", peers(chair, cardio), peers(chair, patho), []Event{
			{Type: EventPeerLeft, Peer: cardio}, {Type: EventPeerJoined, Peer: patho}}},
		{"one came back with a new KID", peers(chair, cardio), peers(chairBack, cardio), []Event{
			{Type: EventPeerJoined, Peer: chairReturned}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missedPeerEvents(tc.before, tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
