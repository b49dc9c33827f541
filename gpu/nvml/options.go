package nvml

import (
	"errors"
	"log/slog"
	"time"
)

// Errors that Open and New report; test with errors.Is.
var (
	// ErrLibraryNotFound means libnvidia-ml.so.1 could not be loaded.
	ErrLibraryNotFound = errors.New("NVML library not found")
	// ErrDriverNotLoaded means NVML is installed but the kernel driver is not running.
	ErrDriverNotLoaded = errors.New("NVIDIA driver not loaded")
	// ErrNotSupported means the driver does not support a call on a device.
	ErrNotSupported = errors.New("not supported by the driver")
	// ErrGPULost means a GPU stopped answering and needs a reset.
	ErrGPULost = errors.New("GPU is lost")
	// ErrClosed is returned by Sample after Close.
	ErrClosed = errors.New("nvml: source closed")
	// ErrNoCgo is returned where the binary was built without cgo.
	ErrNoCgo = errors.New("built without cgo")
)

// defaultIgnoredXids are the Xids an application causes on its own (illegal
// memory access, MMU fault, and the like): they do not make a GPU unhealthy.
var defaultIgnoredXids = []uint64{13, 31, 43, 45, 68, 109}

// DefaultIgnoredXids returns the Xids that do not mark a GPU unhealthy
// unless configured otherwise: 13, 31, 43, 45, 68 and 109.
func DefaultIgnoredXids() []uint64 { return append([]uint64{}, defaultIgnoredXids...) }

// Option configures a Source.
type Option func(*config)

type config struct {
	log         *slog.Logger
	now         func() time.Time
	ignoredXids map[uint64]bool
	xidEvents   bool
}

func newConfig(opts []Option) config {
	c := config{
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		ignoredXids: map[uint64]bool{},
		xidEvents:   true,
	}
	for _, x := range defaultIgnoredXids {
		c.ignoredXids[x] = true
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithLogger sets the logger for driver warnings and Xid events.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the clock that stamps samples (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithIgnoredXids replaces the set of Xids that are recorded in
// Sample.LastXid but do not mark a GPU unhealthy (default
// DefaultIgnoredXids). Pass none to treat every Xid as critical.
func WithIgnoredXids(xids ...uint64) Option {
	return func(c *config) {
		c.ignoredXids = make(map[uint64]bool, len(xids))
		for _, x := range xids {
			c.ignoredXids[x] = true
		}
	}
}

// WithoutXidEvents turns off Xid event registration; samples then list
// gpu.FieldXidEvents as unsupported.
func WithoutXidEvents() Option {
	return func(c *config) { c.xidEvents = false }
}

// Reason turns an error from New into the short reason Open gives for
// serving on CPU.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrLibraryNotFound):
		return "NVML library libnvidia-ml.so.1 not found"
	case errors.Is(err, ErrDriverNotLoaded):
		return "NVIDIA kernel driver not loaded"
	case errors.Is(err, ErrNoCgo):
		return ErrNoCgo.Error()
	default:
		return err.Error()
	}
}

// noDriverMsg is the one WARN line Open logs when it falls back to gpu.Null.
const noDriverMsg = "no NVIDIA driver; serving on CPU"
