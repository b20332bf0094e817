// Package rtcpfb reads RTCP feedback that the SFU and the client SDK
// both act on, without allocating.
package rtcpfb

import "github.com/pion/rtcp"

// AsksKeyframe tells whether a compound RTCP packet asks for a keyframe:
// a PLI (RFC 4585 §6.3.1) or a FIR (RFC 5104 §4.3.1) anywhere in it. It
// walks the common headers only (RFC 3550 §6.4.1) and allocates nothing;
// a malformed packet asks for nothing.
func AsksKeyframe(b []byte) bool {
	for len(b) >= 4 {
		var h rtcp.Header
		if err := h.Unmarshal(b); err != nil {
			return false
		}
		size := (int(h.Length) + 1) * 4
		if size > len(b) {
			return false
		}
		if h.Type == rtcp.TypePayloadSpecificFeedback && (h.Count == rtcp.FormatPLI || h.Count == rtcp.FormatFIR) {
			return true
		}
		b = b[size:]
	}
	return false
}
