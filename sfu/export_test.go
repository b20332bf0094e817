package sfu

import "github.com/pion/webrtc/v4"

// SetForwardTap makes s show tap every payload it forwards, as read from
// the publisher (it never changes a payload). Set it before any Join.
func (s *SFU) SetForwardTap(tap func(kind webrtc.RTPCodecType, payload []byte)) { s.tap = tap }
