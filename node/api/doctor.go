package api

import (
	"context"
	"net/http"
	"time"
)

// The statuses of a Check.
const (
	// CheckOK: nothing to do.
	CheckOK = "ok"
	// CheckWarn: the node earns, but less than it could, or a check could
	// not decide; the remedy says what to look at.
	CheckWarn = "warn"
	// CheckFail: this stands between the node and earning.
	CheckFail = "fail"
)

// Check is one finding of GET /api/v1/doctor: what was checked, its
// status (CheckOK, CheckWarn, CheckFail), what was found and, unless it
// is ok, what to do about it.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Remedy string `json:"remedy,omitempty"`
}

// DoctorReport is the body of GET /api/v1/doctor.
type DoctorReport struct {
	PeerID    string    `json:"peer_id"`
	CheckedAt time.Time `json:"checked_at"`
	Checks    []Check   `json:"checks"`
}

// Count returns how many checks have the status.
func (r DoctorReport) Count(status string) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == status {
			n++
		}
	}
	return n
}

// Doctor diagnoses what stands between the node and earning.
type Doctor interface {
	// Diagnose runs every check and returns them in a stable order. It
	// returns within the deadline of ctx, reporting a check it could not
	// finish as CheckWarn.
	Diagnose(ctx context.Context) DoctorReport
}

// WithDoctor serves GET /api/v1/doctor from d.
func WithDoctor(d Doctor) Option { return func(o *options) { o.Doctor = d } }

// doctorTimeout bounds a diagnosis: the DHT and chain lookups it makes.
const doctorTimeout = 30 * time.Second

func (s *Server) doctor(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), doctorTimeout)
	defer cancel()
	rep := s.opts.Doctor.Diagnose(ctx)
	if rep.Checks == nil {
		rep.Checks = []Check{}
	}
	writeJSON(w, http.StatusOK, rep)
}
