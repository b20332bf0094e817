// Package e2e holds end-to-end tests: a real Konsil server in-process on
// 127.0.0.1 and real pion peers from the client SDK, connected over
// loopback ICE only. It has no code of its own outside tests.
package e2e
