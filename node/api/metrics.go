package api

import (
	"github.com/fomonet/fomo/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	tokens   *prometheus.CounterVec
	infer    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fomo_http_requests_total", Help: "HTTP requests by route and status class.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fomo_http_request_duration_seconds", Help: "HTTP request latency by route (whole response, streams included).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fomo_inference_in_flight", Help: "Inference requests being served now.",
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fomo_inference_tokens_total", Help: "Tokens metered, by model and kind (prompt, completion).",
		}, []string{"model", "kind"}),
		infer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fomo_inference_requests_total", Help: "Inference requests by model, endpoint and finish reason.",
		}, []string{"model", "api", "finish"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inFlight, m.tokens, m.infer)
	return m
}

func (m *metrics) countUsage(req *runtime.Request, u runtime.Usage) {
	m.tokens.WithLabelValues(req.Model, "prompt").Add(float64(u.PromptTokens))
	m.tokens.WithLabelValues(req.Model, "completion").Add(float64(u.CompletionTokens))
}

func (m *metrics) countRequest(req *runtime.Request, finish runtime.FinishReason) {
	if finish == "" {
		finish = runtime.FinishStop
	}
	m.infer.WithLabelValues(req.Model, string(req.API), string(finish)).Inc()
}
