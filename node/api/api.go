// Package api serves the node's HTTP interface: the OpenAI-compatible
// inference endpoints (/v1/...), the admin API (/api/v1/...), Prometheus
// metrics (/metrics), liveness (/healthz) and readiness (/readyz).
// Inference requests are checked (size, JSON, model) and handed to a
// Backend as raw JSON; responses are relayed event by event, with one flush
// per server-sent event. The admin routes read through small read-model
// interfaces (Info, GPUs, Receipts, Prices, Manifests, Chain, Doctor,
// Readiness) that the node implements, and answer in this package's JSON
// types, which node/api/client decodes. /ui serves the dashboard (node/ui),
// a page over those routes.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/node/ui"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Backend serves inference requests; the node's runtime registry is one.
type Backend interface {
	runtime.Backend
	Models() []runtime.Model
	Model(id string) (runtime.Model, bool)
}

// GPUs reports the latest GPU statuses.
type GPUs interface {
	Latest() []gpu.Status
}

// Info supplies the node-level facts shown by /api/v1/status and /api/v1/peers.
type Info interface {
	// Status reports the node: identity, addresses, GPUs, models and
	// the health of its runtimes.
	Status(ctx context.Context) Status
	// Peers lists the connected peers.
	Peers() []PeerInfo
}

// Meter authenticates and meters inference requests.
type Meter interface {
	// Begin checks the request's credentials and makes its payment
	// (req.Payment). An error (401, 402, …) is sent to the client as is.
	Begin(r *http.Request, req *runtime.Request) (Ticket, *runtime.Error)
}

// Ticket is one metered request.
type Ticket interface {
	// ReceiptID is the id of the request's receipt, known once the
	// backend accepted the request (its authorization names the serving
	// node) and before the response starts (the X-Fomo-Receipt header).
	ReceiptID() string
	// Finish is called once the response's last event was read, before
	// the end is sent. It returns the request's receipt, checked and
	// stored, for the fomo object of the response (nil when there is
	// none).
	Finish(ctx context.Context, s runtime.Stream) (*receipt.SignedReceipt, error)
	// Pricing returns the model's list prices and the account's staking
	// discount (bps) at the authorization's issue time, for the fomo
	// object (zeros when unknown).
	Pricing() (listIn, listOut uint64, discountBps uint32)
	// Close releases what Begin held; it is called once, at the end.
	Close()
}

// Server is the HTTP handler of the node.
type Server struct {
	opts    options
	mux     *http.ServeMux
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
}

// New builds the handler over backend, which serves inference; the
// options add the node's identity, its read models and the admin routes
// that go with them.
func New(backend Backend, opts ...Option) *Server {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.Backend = backend
	s := &Server{opts: o, mux: http.NewServeMux(), log: o.Logger, now: o.Now}
	s.metrics = newMetrics(o.Registry)

	s.mux.HandleFunc("POST /v1/chat/completions", s.inference(runtime.APIChat))
	s.mux.HandleFunc("POST /v1/completions", s.inference(runtime.APICompletion))
	s.mux.HandleFunc("POST /v1/embeddings", s.inference(runtime.APIEmbedding))
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("GET /v1/models/{id...}", s.getModel)
	s.mux.HandleFunc("GET /api/v1/status", s.status)
	s.mux.HandleFunc("GET /api/v1/gpus", s.gpus)
	s.mux.HandleFunc("GET /api/v1/peers", s.peers)
	s.healthRoutes()
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	dashboard := ui.Handler()
	s.mux.Handle("GET /ui", dashboard)
	s.mux.Handle("GET /ui/", dashboard)
	if o.Manifests != nil {
		s.manifestRoutes()
	}
	if o.Receipts != nil {
		s.receiptRoutes()
	}
	if o.Receipts != nil || o.Chain != nil {
		s.mux.HandleFunc("GET /api/v1/receipts/{id}/proof", s.receiptProof)
	}
	if o.Prices != nil {
		s.mux.HandleFunc("GET /api/v1/prices/{model}", s.price)
	}
	if o.Doctor != nil {
		s.mux.HandleFunc("GET /api/v1/doctor", s.doctor)
	}
	if o.Chain != nil {
		s.chainRoutes()
		s.econRoutes()
		s.stakeRoutes()
		s.rewardRoutes()
		s.discountRoutes()
	}
	for _, p := range []string{"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/api/v1/status", "/api/v1/gpus", "/api/v1/peers", "/metrics", "/ui", "/ui/"} {
		s.mux.HandleFunc(p, methodNotAllowed)
	}
	s.mux.HandleFunc("/", notFound)
	return s
}

// ServeHTTP logs and counts every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	if s.opts.NodeID != "" {
		w.Header().Set("X-Fomo-Node", s.opts.NodeID)
	}
	s.mux.ServeHTTP(rec, r)
	elapsed := s.now().Sub(start)
	pattern := r.Pattern // set by the mux while routing
	if pattern == "" || pattern == "/" {
		pattern = "other"
	}
	s.metrics.requests.WithLabelValues(pattern, statusClass(rec.status)).Inc()
	s.metrics.latency.WithLabelValues(pattern).Observe(elapsed.Seconds())
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status,
		"latency_ms", float64(elapsed.Microseconds()) / 1000, "bytes", rec.bytes, "remote", r.RemoteAddr}
	if rec.model != "" {
		attrs = append(attrs, "model", rec.model)
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "http request", attrs...)
}

// recorder captures the status and size of a response. It forwards Flush
// so server-sent events are not buffered.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
	model       string
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *runtime.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.JSON())
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, runtime.Errorf(http.StatusMethodNotAllowed, runtime.ErrTypeInvalidRequest, "",
		"method %s is not allowed on %s", r.Method, r.URL.Path))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "",
		"no endpoint %s %s", r.Method, r.URL.Path).WithCode("unknown_url"))
}
