package signaling

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the signaling hub.
type Metrics struct {
	Rooms    prometheus.Gauge
	Sessions prometheus.Gauge
	Messages *prometheus.CounterVec
	Errors   *prometheus.CounterVec
}

// NewMetrics creates the hub's metrics and registers them with reg when it
// is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "konsil_signaling_rooms",
			Help: "Rooms with at least one live session on this node.",
		}),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "konsil_signaling_sessions",
			Help: "Live signaling sessions on this node.",
		}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_signaling_messages_total",
			Help: "Signaling messages received, by type.",
		}, []string{"type"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "konsil_signaling_errors_total",
			Help: "Signaling errors sent to clients, by code.",
		}, []string{"code"}),
	}
	if reg != nil {
		reg.MustRegister(m.Rooms, m.Sessions, m.Messages, m.Errors)
	}
	return m
}

// message counts a received message; Decode has already refused unknown
// types, so the label set stays bounded.
func (m *Metrics) message(typ string) {
	m.Messages.WithLabelValues(typ).Inc()
}
