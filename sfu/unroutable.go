package sfu

import (
	"strings"

	"github.com/pion/logging"
)

// pion v4 gives a PeerConnection's owner no event when it cannot route an
// incoming stream that no a=ssrc line declares: a simulcast layer whose
// packets carry neither the MID nor the RID header extension (pion's own
// senders write neither unless told to) is probed for a few packets, then
// dropped with an error in pion's log, and OnTrack never fires. The
// publisher would see a connected call and nobody would see its video.
// unroutableWatch passes every log line on unchanged and calls report
// when the "pc" scope logs that failure, so the SFU can tell the client.
type unroutableWatch struct {
	inner  logging.LoggerFactory
	report func()
}

func (f unroutableWatch) NewLogger(scope string) logging.LeveledLogger {
	l := f.inner.NewLogger(scope)
	if scope != "pc" {
		return l
	}
	return unroutableLogger{LeveledLogger: l, report: f.report}
}

type unroutableLogger struct {
	logging.LeveledLogger
	report func()
}

// Errorf logs, and reports the errors of pion's simulcast probe
// (peerconnection.go handleIncomingSSRC): "incoming SSRC failed Simulcast
// probing", "mid RTP Extensions required for Simulcast", "stream id RTP
// Extensions required for Simulcast". The test that publishes without
// the extensions fails if pion words them otherwise.
func (l unroutableLogger) Errorf(format string, args ...any) {
	l.LeveledLogger.Errorf(format, args...)
	for _, a := range args {
		if err, ok := a.(error); ok && strings.Contains(err.Error(), "Simulcast") {
			l.report()
			return
		}
	}
}
