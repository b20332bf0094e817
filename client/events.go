package client

import (
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// EventType names what happened in a Call.
type EventType string

// Events a Call reports. Offers, answers and candidates are handled inside
// the Call and never show up here.
const (
	// EventPeerJoined: the peer connected to signaling (Peer.Reconnect set
	// when it replaced an earlier session of its own).
	EventPeerJoined EventType = "peer-joined"
	// EventPeerLeft: the peer left signaling (Reason "bye" or why the server
	// dropped it). The PeerConnection stays: the peer may come back.
	EventPeerLeft EventType = "peer-left"
	// EventMeta: the peer sent opaque Data. Without a room secret that is
	// all a meta message becomes (an encrypted name, the HMAC of a DTLS
	// fingerprint, a sealed mute state); with one, those are consumed
	// (EventPeerName, EventPeerMute, the fingerprint check) and only kinds
	// the SDK does not know arrive here.
	EventMeta EventType = "meta"
	// EventPeerConnectionReplaced: the Call started over with a new
	// PeerConnection because the peer came back with a new one of its own
	// (a reloaded tab) or had closed its side. PeerConnection returns the
	// new one, remote tracks arrive again through OnTrack, and
	// WaitConnected waits for the new one.
	EventPeerConnectionReplaced EventType = "peer-connection-replaced"
	// EventError: the server reported a problem with something we sent
	// (Err is a *SignalError). The session may go on.
	EventError EventType = "error"
	// EventClosing: the server is about to end the session (Reason: room
	// deleted, window ended, shutdown).
	EventClosing EventType = "closing"
	// EventSignalLost: the signaling session ended without Close (Err says
	// why). Media may still flow; call Reconnect to resume signaling.
	EventSignalLost EventType = "signal-lost"
)

// Event is one thing that happened in a Call. Which fields are set depends
// on Type.
type Event struct {
	Type   EventType
	Peer   protocol.Peer
	Reason string
	Data   string
	Err    error
	// Mute is the participant's mute state (EventPeerMute).
	Mute e2ee.MuteState
}
