// Package protocol defines what crosses the wire between Konsil clients and
// the server: the JSON bodies of the REST API and the signaling messages on
// the WebSocket (docs/PROTOCOL.md). Server and client SDK both import it; it
// imports neither, so the client never depends on server code.
package protocol
