package sfu

import "github.com/pion/webrtc/v4"

// SetForwardTap makes s show tap every payload it forwards, as read from
// the publisher (it never changes a payload). Set it before any Join.
func (s *SFU) SetForwardTap(tap func(kind webrtc.RTPCodecType, payload []byte)) { s.tap = tap }

// heldChat is the number of chat messages held for p until its channel
// opens.
func (p *Participant) heldChat() int {
	p.chatOut.mu.Lock()
	defer p.chatOut.mu.Unlock()
	return len(p.chatOut.held)
}
