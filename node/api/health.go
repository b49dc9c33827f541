package api

import (
	"context"
	"net/http"
	"time"
)

// Readiness reports whether the node is ready to take traffic, one ReadyCheck
// per condition (its runtimes, its chain).
type Readiness interface {
	// Ready runs the node's readiness checks within ctx.
	Ready(ctx context.Context) []ReadyCheck
}

// ReadyCheck is one readiness condition: its name ("runtime vllm", "chain"),
// whether it holds and, when it does not, why.
type ReadyCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Readyz is the body of GET /readyz: Ready is true when every check holds;
// Failing names the checks that do not.
type Readyz struct {
	Ready   bool         `json:"ready"`
	Failing []string     `json:"failing"`
	Checks  []ReadyCheck `json:"checks"`
}

// readyTimeout bounds the readiness checks of one request (a runtime's
// health probe may reach an upstream server).
const readyTimeout = 3 * time.Second

// healthRoutes serves GET /healthz, 200 while the process serves HTTP,
// and GET /readyz, 200 when every readiness check holds and 503 naming
// the failing checks otherwise.
func (s *Server) healthRoutes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("/healthz", methodNotAllowed)
	s.mux.HandleFunc("/readyz", methodNotAllowed)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	body := Readyz{Ready: true, Failing: []string{}, Checks: []ReadyCheck{}}
	if s.opts.Readiness != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		body.Checks = append(body.Checks, s.opts.Readiness.Ready(ctx)...)
	}
	for _, c := range body.Checks {
		if !c.OK {
			body.Ready = false
			body.Failing = append(body.Failing, c.Name)
		}
	}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}
