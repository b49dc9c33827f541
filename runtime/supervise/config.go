package supervise

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// Defaults applied by DefaultConfig and, for zero values, by New.
const (
	DefaultStartTimeout      = 10 * time.Minute
	DefaultHealthInterval    = 5 * time.Second
	DefaultHealthFailures    = 3
	DefaultRestartBackoffMin = time.Second
	DefaultRestartBackoffMax = time.Minute
	DefaultStopTimeout       = 15 * time.Second
)

// Config describes the child process to supervise.
//
// Durations are time.Duration values. With github.com/BurntSushi/toml they
// decode from Go duration strings ("10s", "10m") as well as from integers
// (nanoseconds). A zero duration or count means its default, so a Config
// filled only partly is valid.
type Config struct {
	// Command is the child's argv: the program and its arguments, e.g.
	// ["vllm", "serve", "MODEL", "--port", "8001"]. Required.
	Command []string `toml:"command"`
	// Env adds K=V variables to the inherited environment; they override
	// inherited values of the same name.
	Env []string `toml:"env"`
	// Dir is the child's working directory; empty is the node's.
	Dir string `toml:"dir"`
	// GPUs are the indices of the GPUs the child may use. They are passed as
	// CUDA_VISIBLE_DEVICES (with CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA numbers
	// GPUs as the driver does). Empty means the child runs without a GPU
	// assignment and inherits CUDA_VISIBLE_DEVICES, if any, unchanged.
	GPUs []int `toml:"gpus"`
	// MinFreeMemory is the free memory in bytes each assigned GPU must have
	// before the child is started; 0 disables the check.
	MinFreeMemory uint64 `toml:"min_free_memory"`
	// HealthURL is polled until it answers 2xx (readiness) and then every
	// HealthInterval (liveness). Required.
	HealthURL string `toml:"health_url"`
	// StartTimeout bounds the wait for the first healthy answer after the
	// child is started. Model loading is slow: default 10m.
	StartTimeout time.Duration `toml:"start_timeout"`
	// HealthInterval is the period of liveness probes; each probe also times
	// out after this long (at least 1s, at most 10s). Default 5s.
	HealthInterval time.Duration `toml:"health_interval"`
	// HealthFailures is how many liveness probes in a row must fail before
	// the child is restarted. Default 3.
	HealthFailures int `toml:"health_failures"`
	// RestartBackoffMin is the wait before the first restart; each further
	// restart doubles it up to RestartBackoffMax. The wait returns to the
	// minimum once a child has stayed ready for RestartBackoffMax.
	// Defaults 1s and 1m.
	RestartBackoffMin time.Duration `toml:"restart_backoff_min"`
	RestartBackoffMax time.Duration `toml:"restart_backoff_max"`
	// StopTimeout is how long the child's process group gets to exit after
	// SIGTERM before it is sent SIGKILL. Default 15s.
	StopTimeout time.Duration `toml:"stop_timeout"`
}

// DefaultConfig returns a Config with every default filled in and no
// command or health URL.
func DefaultConfig() Config {
	return Config{
		StartTimeout:      DefaultStartTimeout,
		HealthInterval:    DefaultHealthInterval,
		HealthFailures:    DefaultHealthFailures,
		RestartBackoffMin: DefaultRestartBackoffMin,
		RestartBackoffMax: DefaultRestartBackoffMax,
		StopTimeout:       DefaultStopTimeout,
	}
}

// withDefaults returns c with zero durations and counts replaced by their
// defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.StartTimeout = cmp.Or(c.StartTimeout, d.StartTimeout)
	c.HealthInterval = cmp.Or(c.HealthInterval, d.HealthInterval)
	c.HealthFailures = cmp.Or(c.HealthFailures, d.HealthFailures)
	c.RestartBackoffMin = cmp.Or(c.RestartBackoffMin, d.RestartBackoffMin)
	c.RestartBackoffMax = cmp.Or(c.RestartBackoffMax, max(d.RestartBackoffMax, c.RestartBackoffMin))
	c.StopTimeout = cmp.Or(c.StopTimeout, d.StopTimeout)
	return c
}

// Validate checks the configuration and returns every problem found, each
// prefixed with the key it concerns ("command: required"). Zero durations
// and counts are valid: they stand for the defaults.
func (c Config) Validate() error {
	var p runtime.ConfigProblems

	switch {
	case len(c.Command) == 0:
		p.Add("command", "required")
	case strings.TrimSpace(c.Command[0]) == "":
		p.Add("command", "program name (first element) is empty")
	}

	gpusSet := len(c.GPUs) > 0
	for i, kv := range c.Env {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			p.Add(fmt.Sprintf("env[%d]", i), "want K=V, got %q", kv)
		case k == "" || strings.ContainsAny(k, " \t\n\x00"):
			p.Add(fmt.Sprintf("env[%d]", i), "bad variable name %q", k)
		case k == "CUDA_VISIBLE_DEVICES" && gpusSet:
			p.Add(fmt.Sprintf("env[%d]", i), "CUDA_VISIBLE_DEVICES is set from gpus; set one or the other")
		}
	}

	seen := map[int]bool{}
	for _, g := range c.GPUs {
		if g < 0 {
			p.Add("gpus", "index %d is negative", g)
			continue
		}
		if seen[g] {
			p.Add("gpus", "index %d listed twice", g)
		}
		seen[g] = true
	}
	if c.MinFreeMemory > 0 && !gpusSet {
		p.Add("min_free_memory", "set without gpus")
	}

	if c.HealthURL == "" {
		p.Add("health_url", "required")
	} else if u, err := url.Parse(c.HealthURL); err != nil {
		p.Add("health_url", "%v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		p.Add("health_url", "want an http:// or https:// URL, got %q", c.HealthURL)
	} else if u.Host == "" {
		p.Add("health_url", "no host in %q", c.HealthURL)
	}

	p.NotNegative("start_timeout", c.StartTimeout)
	p.NotNegative("health_interval", c.HealthInterval)
	p.NotNegative("restart_backoff_min", c.RestartBackoffMin)
	p.NotNegative("restart_backoff_max", c.RestartBackoffMax)
	p.NotNegative("stop_timeout", c.StopTimeout)
	if c.HealthFailures < 0 {
		p.Add("health_failures", "must not be negative, got %d", c.HealthFailures)
	}
	if c.RestartBackoffMin > 0 && c.RestartBackoffMax > 0 && c.RestartBackoffMin > c.RestartBackoffMax {
		p.Add("restart_backoff_max", "%s is less than restart_backoff_min %s", c.RestartBackoffMax, c.RestartBackoffMin)
	}
	return p.Err()
}
