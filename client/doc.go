// Package client is the Go client SDK for Konsil: it joins a room over the
// REST API (Join), speaks the signaling protocol over WebSocket (Signal),
// runs a peer-to-peer consultation on one pion PeerConnection (Call) and
// takes part in a case conference through the SFU (Conference: simulcast
// publishing, SFrame end-to-end encryption, chat, Reconnect onto a new
// session and PeerConnection).
//
// It is what tests, the load harness and other Go programs use to act as a
// participant. It imports only protocol, pion and gorilla/websocket, never
// server code, so it sees the server exactly as a browser does. Media
// leaves it as given. With Options.RoomSecret it speaks the browser app's
// end-to-end layer (client/e2ee, docs/SECURITY.md): sealed chat and
// names, and the DTLS fingerprint check; in conferences SFrame media and
// sealed mute states (Conference.SetMute). Without, chat is sent as
// given. docs/SDK.md is the guide; examples/sdk-call a program to start
// from.
package client
