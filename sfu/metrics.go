package sfu

import "github.com/prometheus/client_golang/prometheus"

// collector exports Stats to Prometheus at scrape time: the counters
// live on the forwarding path as plain atomics, and a scrape sums them,
// so forwarding pays nothing for metrics.
type collector struct {
	sfu *SFU

	participants, tracks, forwarded, forwardedBytes, dropped, retransmits, keyframeRequests, nackUpstream *prometheus.Desc
	subscriptions, refusedTracks                                                                          *prometheus.Desc
	layerSwitches, estimate                                                                               *prometheus.Desc
}

// RegisterMetrics registers the SFU's metrics with reg.
func (s *SFU) RegisterMetrics(reg prometheus.Registerer) error {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return reg.Register(&collector{
		sfu:              s,
		participants:     d("konsil_sfu_participants", "Participants with a PeerConnection to the SFU."),
		tracks:           d("konsil_sfu_tracks", "Published tracks being forwarded."),
		forwarded:        d("konsil_sfu_forwarded_packets_total", "RTP packets written to subscribers."),
		forwardedBytes:   d("konsil_sfu_forwarded_bytes_total", "RTP bytes (header and payload, before SRTP) written to subscribers."),
		dropped:          d("konsil_sfu_dropped_packets_total", "RTP packets not forwarded, by reason: queue_full (to one subscriber), bitrate_cap (a publisher's packet over the track cap, to all).", "reason"),
		retransmits:      d("konsil_sfu_nack_retransmits_total", "Packets resent to subscribers from a packet cache on their NACKs."),
		nackUpstream:     d("konsil_sfu_nack_upstream_total", "Sequence numbers asked of publishers because the packet cache lacked them."),
		keyframeRequests: d("konsil_sfu_keyframe_requests_total", "Keyframe requests (PLI) sent to publishers."),
		subscriptions:    d("konsil_sfu_subscriptions", "Published tracks forwarded, counted once per subscriber (capped by MaxSubscriptions)."),
		refusedTracks:    d("konsil_sfu_refused_tracks_total", "Published tracks not forwarded: more than one audio or one video per participant."),
		layerSwitches:    d("konsil_sfu_layer_switches_total", "Simulcast layer switches of subscribers' down tracks (each at a keyframe)."),
		estimate: d("konsil_sfu_subscriber_estimate_bits_per_second",
			"Subscribers' bandwidth estimates (GCC from TWCC feedback), one sample per subscriber per layer selection."),
	})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.participants, c.tracks, c.forwarded, c.forwardedBytes, c.dropped, c.retransmits, c.nackUpstream, c.keyframeRequests, c.subscriptions, c.refusedTracks, c.layerSwitches, c.estimate} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.sfu.Stats()
	g := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	n := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(c.participants, st.Participants)
	g(c.tracks, st.Tracks)
	g(c.subscriptions, st.Subscriptions)
	n(c.forwarded, st.Forwarded)
	n(c.forwardedBytes, st.ForwardedBytes)
	n(c.dropped, st.Dropped, "queue_full")
	n(c.dropped, st.BitrateCapped, "bitrate_cap")
	n(c.retransmits, st.Retransmitted)
	n(c.nackUpstream, st.NackedUpstream)
	n(c.keyframeRequests, st.KeyframeRequests)
	n(c.refusedTracks, st.RefusedTracks)
	n(c.layerSwitches, st.LayerSwitches)
	e := &c.sfu.estimates
	buckets := make(map[float64]uint64, len(estimateBuckets))
	for i, b := range estimateBuckets {
		buckets[b] = e.buckets[i].Load()
	}
	ch <- prometheus.MustNewConstHistogram(c.estimate, e.count.Load(), float64(e.sum.Load()), buckets)
}
