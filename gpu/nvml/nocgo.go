//go:build !cgo

package nvml

import (
	"log/slog"

	"github.com/fomonet/fomo/gpu"
)

// Open reports, in one WARN line, that this binary has no NVML support and
// returns gpu.Null: NVML needs cgo.
func Open(log *slog.Logger, _ ...Option) gpu.Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reason := Reason(ErrNoCgo)
	log.Warn(noDriverMsg, "reason", reason)
	return gpu.Null{Reason: reason}
}
