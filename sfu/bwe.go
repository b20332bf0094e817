package sfu

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/internal/pionlog"
)

// Bandwidth estimation. Every subscriber's PeerConnection has a
// send-side estimator, pion's Google Congestion Control (pkg/gcc): the
// writer stamps a transport-wide sequence number on every packet
// (writer.send), the subscriber reports when each arrived (TWCC
// feedback, RTCP), and GCC turns delay growth and loss into a target
// bitrate that the subscriber's LayerSelector spends. GCC's pacer is
// replaced by its no-op one: the writer sends at once, as before, so
// estimation adds no latency and only a bookkeeping call per packet.
//
// In the other direction the SFU sends publishers TWCC feedback on what
// they send, so that a browser's own estimator lets it send its bigger
// simulcast layers.

// Bounds of the estimate. It starts where a consultation-grade camera
// fits (a new subscriber sees a good picture at once, and GCC lowers it
// within a second on a worse link) and never goes below what audio and
// the smallest layer need.
const (
	initialEstimate = 1_500_000
	minEstimate     = 100_000
	maxEstimate     = 50_000_000
)

// newPeerConnection makes a PeerConnection with the SFU's codecs and an
// interceptor chain of its own: RTCP reports, TWCC feedback for what it
// receives, and GCC for what it sends, whose estimator it returns.
// unroutable is called when pion drops an incoming stream it cannot
// route (unroutableWatch).
// Interceptors added later sit nearer the application: GCC records each
// packet before sendHook (tests) may lose it, as a real network would.
func (s *SFU) newPeerConnection(unroutable func()) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, nil, err
	}
	if s.cfg.sendHook != nil {
		ir.Add(s.cfg.sendHook)
	}
	feedback, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("twcc feedback: %w", err)
	}
	ir.Add(feedback)
	logs := pionlog.Factory(s.log, slog.LevelDebug)
	var bwe cc.BandwidthEstimator
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
			gcc.SendSideBWEInitialBitrate(initialEstimate),
			gcc.SendSideBWEMinBitrate(minEstimate),
			gcc.SendSideBWEMaxBitrate(maxEstimate),
			gcc.WithLoggerFactory(logs),
		)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("congestion control: %w", err)
	}
	// Called from inside NewPeerConnection, on this goroutine: each
	// PeerConnection has a registry, so the estimator is this one's.
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { bwe = e })
	ir.Add(ccf)
	ir.Add(reusedAttributesFactory{})
	se := s.settings // a copy: the watch is this PeerConnection's
	se.LoggerFactory = unroutableWatch{inner: se.LoggerFactory, report: unroutable}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(s.media), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: s.cfg.ICEServers})
	if err != nil {
		return nil, nil, err
	}
	return pc, bwe, nil
}

// reusedAttributes hands every write of a local stream the same
// interceptor.Attributes. pion passes none, and GCC's pacer wrapper
// (gcc.SendSideBWE.AddStream) then makes a map per packet only to store
// the stream's transport-wide extension id in it, a constant. Reusing
// one map per stream is safe because a stream has one writer (the
// subscriber's writer goroutine) and nothing on the send path keeps
// per-packet values in the attributes. It must sit outside GCC, so it
// is added after it.
type reusedAttributes struct{ interceptor.NoOp }

// reusedAttributesFactory makes one reusedAttributes per PeerConnection.
type reusedAttributesFactory struct{}

func (reusedAttributesFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &reusedAttributes{}, nil
}

func (*reusedAttributes) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	attrs := interceptor.Attributes{}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		return w.Write(h, payload, attrs)
	})
}

// estimateBuckets are the upper bounds, in bits per second, of the
// subscriber estimate histogram.
var estimateBuckets = [...]float64{250e3, 500e3, 1e6, 2e6, 4e6, 8e6}

// estimateStats is a histogram of subscribers' estimates, one sample per
// subscriber per selection: how much room the SFU's subscribers have,
// without naming any of them.
type estimateStats struct {
	buckets [len(estimateBuckets)]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64
}

func (e *estimateStats) observe(bps int) {
	e.count.Add(1)
	e.sum.Add(uint64(max(bps, 0)))
	for i, b := range estimateBuckets {
		if float64(bps) <= b {
			e.buckets[i].Add(1)
		}
	}
}
