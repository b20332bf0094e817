package client

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// ErrFingerprintMismatch is the security failure of the fingerprint check
// (Options.RoomSecret): the peer's MAC does not match the DTLS fingerprint
// in the SDP we received, or no MAC came. Either the two participants do
// not hold the same room secret, or the signaling path swapped the SDP's
// certificate. The Call is closed; WaitConnected returns this error.
var ErrFingerprintMismatch = errors.New("client: DTLS fingerprint check failed (wrong room secret or tampered signaling)")

// EventSecurity: the fingerprint check failed (Err wraps
// ErrFingerprintMismatch). The Call closes itself right after.
const EventSecurity EventType = "security"

// EventPeerName: a participant's display name arrived and decrypted
// (Data; Peer names the participant). Calls and conferences with a room
// secret only.
const EventPeerName EventType = "peer-name"

// verifyTimeout bounds the wait for the peer's MAC after its SDP.
const verifyTimeout = 15 * time.Second

// secure is the end-to-end layer of a Call with a room secret, shared
// with the browser app (docs/SECURITY.md): chat sealed with the chat key,
// the display name sealed with the names key, and the fingerprint check.
// Its state is guarded by mu: the loop and pion's data-channel goroutine
// both use it.
type secure struct {
	keys e2ee.Keys
	name string

	mu sync.Mutex
	// lastOffered is the fingerprint of the latest SDP the peer sent; a
	// MAC always follows its SDP on the ordered signaling session.
	lastOffered string
	proven      map[string]bool
	timer       *time.Timer
	failed      error
}

func newSecure(secret []byte, name string) (*secure, error) {
	keys, err := e2ee.DeriveKeys(secret)
	if err != nil {
		return nil, err
	}
	return &secure{keys: keys, name: name, proven: map[string]bool{}}, nil
}

// sealChat encrypts an outgoing chat message (SendChat).
func (c *Call) sealChat(b []byte) ([]byte, error) {
	if c.sec == nil {
		return b, nil
	}
	if !c.Verified() {
		return nil, ErrChatNotOpen
	}
	return e2ee.SealChat(c.sec.keys.Chat, c.Self(), b)
}

// openChat decrypts an incoming chat message; ok is false for one that
// does not decrypt (dropped and logged).
func (c *Call) openChat(b []byte) ([]byte, bool) {
	if c.sec == nil {
		return b, true
	}
	pt, err := e2ee.OpenChat(c.sec.keys.Chat, c.Peer(), b)
	if err != nil {
		c.log.Warn("dropping chat message that does not decrypt", "err", err)
		return nil, false
	}
	return pt, true
}

// afterDescription runs on the loop after we sent an offer or answer:
// the MAC of our own fingerprint, and our sealed name, follow it.
func (c *Call) afterDescription(sdp string) {
	if c.sec == nil {
		return
	}
	fp, err := e2ee.Fingerprint(sdp)
	if err != nil {
		c.log.Error("own SDP has no fingerprint", "err", err)
		return
	}
	mac := e2ee.FingerprintMAC(c.sec.keys.Fingerprint, fp)
	c.sendMetaQuiet(e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaFingerprint, Value: mac}))
	if c.sec.name != "" {
		sealed, err := e2ee.SealName(c.sec.keys.Names, c.Self(), c.sec.name)
		if err == nil {
			c.sendMetaQuiet(e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaName, Value: sealed}))
		}
	}
}

func (c *Call) sendMetaQuiet(data string) {
	if err := c.send(protocol.Message{Type: protocol.TypeMeta, Data: data}); err != nil {
		c.log.Debug("send meta", "err", err)
	}
}

// noteRemoteDescription runs on the loop for every offer or answer from
// the peer, before it is applied. An SDP without a usable fingerprint
// fails the check at once.
func (c *Call) noteRemoteDescription(sdp string) bool {
	if c.sec == nil {
		return true
	}
	fp, err := e2ee.Fingerprint(sdp)
	if err != nil {
		c.securityFailure(fmt.Errorf("%w: %v", ErrFingerprintMismatch, err))
		return false
	}
	s := c.sec
	s.mu.Lock()
	s.lastOffered = fp
	if !s.proven[fp] {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.timer = time.AfterFunc(verifyTimeout, func() {
			s.mu.Lock()
			ok := s.proven[fp]
			s.mu.Unlock()
			if !ok {
				_ = c.do(func() error {
					c.securityFailure(fmt.Errorf("%w: no MAC for the peer's fingerprint within %v", ErrFingerprintMismatch, verifyTimeout))
					return nil
				})
			}
		})
	}
	s.mu.Unlock()
	return true
}

// onSecureMeta handles a meta message from the peer when a room secret
// is set: fingerprint MACs and names are consumed, anything else goes on
// as EventMeta.
func (c *Call) onSecureMeta(m protocol.Message) bool {
	if c.sec == nil {
		return false
	}
	meta, err := e2ee.DecodeMeta(m.Data)
	if err != nil {
		return false
	}
	s := c.sec
	switch meta.Kind {
	case e2ee.MetaFingerprint:
		s.mu.Lock()
		fp := s.lastOffered
		ok := fp != "" && e2ee.VerifyFingerprintMAC(s.keys.Fingerprint, fp, meta.Value)
		if ok {
			s.proven[fp] = true
		}
		s.mu.Unlock()
		if !ok {
			c.securityFailure(fmt.Errorf("%w: the peer's MAC does not match the fingerprint in its SDP", ErrFingerprintMismatch))
			return true
		}
		c.log.Info("peer fingerprint verified")
		// Wake WaitConnected, which also waits for the check.
		c.update(c.PeerConnection(), func() {})
		return true
	case e2ee.MetaName:
		name, err := e2ee.OpenName(s.keys.Names, m.From, meta.Value)
		if err == nil {
			c.emit(Event{Type: EventPeerName, Peer: protocol.Peer{ID: m.From}, Data: name})
		}
		return true
	}
	return false
}

// Verified tells whether the fingerprint of the applied remote
// description was proven by the peer's MAC; always true without a room
// secret.
func (c *Call) Verified() bool {
	if c.sec == nil {
		return true
	}
	desc := c.PeerConnection().RemoteDescription()
	if desc == nil {
		return false
	}
	fp, err := e2ee.Fingerprint(desc.SDP)
	if err != nil {
		return false
	}
	c.sec.mu.Lock()
	defer c.sec.mu.Unlock()
	return c.sec.failed == nil && c.sec.proven[fp]
}

// securityFailure stops the call: the event is reported and the Call
// closes itself (its PeerConnection, signaling with bye).
func (c *Call) securityFailure(err error) {
	s := c.sec
	s.mu.Lock()
	first := s.failed == nil
	if first {
		s.failed = err
	}
	s.mu.Unlock()
	if !first {
		return
	}
	c.log.Error("security check failed; closing the call", "err", err)
	c.emit(Event{Type: EventSecurity, Err: err})
	// Close from another goroutine: it waits for the loop we run on.
	go c.Close()
}

// securityErr is the failure of the check, if any.
func (c *Call) securityErr() error {
	if c.sec == nil {
		return nil
	}
	c.sec.mu.Lock()
	defer c.sec.mu.Unlock()
	return c.sec.failed
}
