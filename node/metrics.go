package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/p2p"
)

// metrics are the node's own Prometheus series; libp2p, Go runtime and
// process series are registered beside them on the same registry.
type metrics struct {
	capacityPublishes *prometheus.CounterVec
	capacitySeq       prometheus.Gauge
	capacityExpiry    prometheus.Gauge
	sessionIncidents  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, nw *p2p.Network) *metrics {
	m := &metrics{
		capacityPublishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lucid_capacity_publish_total",
			Help: "Capacity record publications to the DHT, by result.",
		}, []string{"result"}),
		capacitySeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lucid_capacity_seq",
			Help: "Sequence number of the last published capacity record.",
		}),
		capacityExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lucid_capacity_expiry_timestamp_seconds",
			Help: "Expiry of the last published capacity record (Unix time).",
		}),
	}
	m.sessionIncidents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lucid_session_incidents_total",
		Help: "Session policy violations and protocol incidents, by kind.",
	}, []string{"kind"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lucid_build_info",
		Help: "Always 1; labels carry the version and architecture.",
	}, []string{"version", "arch"})
	buildInfo.WithLabelValues(Version, Arch()).Set(1)
	reg.MustRegister(
		m.capacityPublishes, m.capacitySeq, m.capacityExpiry, m.sessionIncidents, buildInfo,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lucid_peers_connected",
			Help: "Peers with at least one open connection.",
		}, func() float64 { return float64(len(nw.Host.Network().Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lucid_dht_routing_table_peers",
			Help: "Peers in the Kademlia routing table.",
		}, func() float64 { return float64(nw.DHT.RoutingTable().Size()) }),
	)
	return m
}
