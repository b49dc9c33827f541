package node

import (
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/infer"
	"github.com/prometheus/client_golang/prometheus"
)

// netCollector exports the node's peers by transport and the router's
// forwarding as Prometheus metrics, read when scraped.
type netCollector struct {
	host   *p2p.Host
	router *infer.Router

	peers, attempts, retries, failures *prometheus.Desc
}

func newNetCollector(h *p2p.Host, r *infer.Router) *netCollector {
	return &netCollector{
		host: h, router: r,
		peers: prometheus.NewDesc("fomo_p2p_peers",
			"Connected peers, by the transport of their first connection (tcp, quic, relay).", []string{"transport"}, nil),
		attempts: prometheus.NewDesc("fomo_forward_attempts_total",
			"Providers a request for a model not served here was sent to, first tries and retries.", nil, nil),
		retries: prometheus.NewDesc("fomo_forward_retries_total",
			"Forwarded requests tried on a second provider after the first failed before its first chunk.", nil, nil),
		failures: prometheus.NewDesc("fomo_forward_failures_total",
			"Failed forwarding, by reason (no_provider, unreachable, provider_error, broken).", []string{"reason"}, nil),
	}
}

func (c *netCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peers, c.attempts, c.retries, c.failures} {
		ch <- d
	}
}

func (c *netCollector) Collect(ch chan<- prometheus.Metric) {
	byTransport := map[string]int{"tcp": 0, "quic": 0, "relay": 0}
	for _, p := range c.host.Peers() {
		byTransport[p.Transport]++
	}
	for t, n := range byTransport {
		ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(n), t)
	}
	st := c.router.Stats()
	ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(st.Attempts))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(st.Retries))
	for _, reason := range []string{infer.FailNoProvider, infer.FailUnreachable, infer.FailProvider, infer.FailBroken} {
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures[reason]), reason)
	}
}
