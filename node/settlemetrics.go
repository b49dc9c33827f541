package node

import (
	"time"

	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/prometheus/client_golang/prometheus"
)

// settleCollector exports the receipt pool's gossip verdicts and, with the
// chain, the submitter's work and the chain's progress as Prometheus
// metrics, read when scraped.
type settleCollector struct {
	pool *pool.Pool
	sub  *chain.Submitter // nil without the chain
	now  func() time.Time

	gossip, txs, receipts, included, refused, height, age *prometheus.Desc
}

func newSettleCollector(p *pool.Pool, sub *chain.Submitter, now func() time.Time) *settleCollector {
	return &settleCollector{
		pool: p, sub: sub, now: now,
		gossip: prometheus.NewDesc("fomo_pool_gossip_receipts_total",
			"Receipts heard by gossip, by verdict (accepted, rejected, ignored) and reason.", []string{"verdict", "reason"}, nil),
		txs: prometheus.NewDesc("fomo_submitter_txs_total",
			"SubmitReceipts transactions this node broadcast, by result (sent, failed).", []string{"result"}, nil),
		receipts: prometheus.NewDesc("fomo_submitter_receipts_total",
			"Receipts this node submitted: its own the first time (submitted) or again, taken up at start or on behalf of another node (resubmitted).", []string{"kind"}, nil),
		included: prometheus.NewDesc("fomo_chain_receipts_included_total",
			"Receipts included in the blocks this node applied.", nil, nil),
		refused: prometheus.NewDesc("fomo_chain_receipts_refused_total",
			"Receipts refused in the blocks this node applied, by reason.", []string{"reason"}, nil),
		height: prometheus.NewDesc("fomo_chain_height",
			"Height of the last block this node applied.", nil, nil),
		age: prometheus.NewDesc("fomo_chain_last_block_age_seconds",
			"Seconds since the time of the last block this node applied.", nil, nil),
	}
}

func (c *settleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.gossip, c.txs, c.receipts, c.included, c.refused, c.height, c.age} {
		ch <- d
	}
}

func (c *settleCollector) Collect(ch chan<- prometheus.Metric) {
	ps := c.pool.Stats()
	ch <- prometheus.MustNewConstMetric(c.gossip, prometheus.CounterValue, float64(ps.Accepted), "accepted", "")
	for reason, v := range ps.Rejected {
		ch <- prometheus.MustNewConstMetric(c.gossip, prometheus.CounterValue, float64(v), "rejected", reason)
	}
	for reason, v := range ps.Ignored {
		ch <- prometheus.MustNewConstMetric(c.gossip, prometheus.CounterValue, float64(v), "ignored", reason)
	}
	if c.sub == nil {
		return
	}
	st := c.sub.Stats()
	ch <- prometheus.MustNewConstMetric(c.txs, prometheus.CounterValue, float64(st.TxsSent), "sent")
	ch <- prometheus.MustNewConstMetric(c.txs, prometheus.CounterValue, float64(st.TxsFailed), "failed")
	ch <- prometheus.MustNewConstMetric(c.receipts, prometheus.CounterValue, float64(st.Submitted), "submitted")
	ch <- prometheus.MustNewConstMetric(c.receipts, prometheus.CounterValue, float64(st.Resubmitted), "resubmitted")
	ch <- prometheus.MustNewConstMetric(c.included, prometheus.CounterValue, float64(st.Included))
	for code, v := range st.Refused {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(v), string(code))
	}
	if st.Height > 0 {
		ch <- prometheus.MustNewConstMetric(c.height, prometheus.GaugeValue, float64(st.Height))
		age := c.now().Sub(time.UnixMilli(st.TimeMs)).Seconds()
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, max(age, 0))
	}
}
