package runtime

import (
	"errors"
	"fmt"
	"time"
)

// ConfigProblems collects what is wrong with a backend's configuration,
// each problem prefixed with the TOML key it concerns ("url: required").
// The zero value is ready to use.
type ConfigProblems struct {
	errs []error
}

// Add records a problem with key.
func (p *ConfigProblems) Add(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// NotNegative records a problem with key if the duration v is negative.
func (p *ConfigProblems) NotNegative(key string, v time.Duration) {
	if v < 0 {
		p.Add(key, "must not be negative, got %s", v)
	}
}

// Err returns the problems joined, or nil if there are none.
func (p *ConfigProblems) Err() error { return errors.Join(p.errs...) }
