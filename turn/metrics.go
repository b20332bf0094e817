package turn

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the embedded relay. Labels are bounded: transport is udp,
// tcp or tls; reason is one of the refusal reasons; direction is
// to_peer or from_peer.
type Metrics struct {
	Allocations      prometheus.Gauge
	AllocationsTotal *prometheus.CounterVec
	Refusals         *prometheus.CounterVec
	RelayedBytes     *prometheus.CounterVec

	toPeer, fromPeer prometheus.Counter
}

// NewMetrics registers the relay's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Allocations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "konsil_turn_allocations", Help: "TURN allocations alive now.",
		}),
		AllocationsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_turn_allocations_total", Help: "TURN allocations made, by client transport (udp, tcp, tls).",
		}, []string{"transport"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_turn_refusals_total",
			Help: "TURN requests and relayed packets refused, by reason (expired, malformed, bad_credential, revoked, quota, peer_denied, own_address, own_port, unsupported).",
		}, []string{"reason"}),
		RelayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_turn_relayed_bytes_total", Help: "Payload bytes relayed, by direction (to_peer, from_peer).",
		}, []string{"direction"}),
	}
	reg.MustRegister(m.Allocations, m.AllocationsTotal, m.Refusals, m.RelayedBytes)
	m.toPeer = m.RelayedBytes.WithLabelValues("to_peer")
	m.fromPeer = m.RelayedBytes.WithLabelValues("from_peer")
	for _, r := range []string{reasonExpired, reasonMalformed, reasonBadCredential, reasonRevoked, reasonQuota,
		reasonPeerDenied, reasonOwnAddress, reasonOwnPort, reasonUnsupported} {
		m.Refusals.WithLabelValues(r)
	}
	return m
}

func (m *Metrics) refuse(reason string) { m.Refusals.WithLabelValues(reason).Inc() }
