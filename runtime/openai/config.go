package openai

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// Defaults applied by DefaultConfig and, for zero fields, by New.
const (
	DefaultRequestTimeout   = 10 * time.Minute
	DefaultConnectTimeout   = 10 * time.Second
	DefaultFirstByteTimeout = 2 * time.Minute
	DefaultIdleTimeout      = 2 * time.Minute
	// DefaultMaxResponseBytes bounds a non-streaming response body and the
	// total size of a stream.
	DefaultMaxResponseBytes = 128 << 20
	// DefaultMaxEventBytes bounds one server-sent event of a stream.
	DefaultMaxEventBytes = 8 << 20
)

// Config describes one upstream OpenAI-compatible server (vLLM, llama.cpp's
// server, SGLang, Ollama, …).
//
// Durations are time.Duration values; with github.com/BurntSushi/toml they
// decode from strings such as "90s" or "10m". A zero duration or size means
// its default.
type Config struct {
	// Name names the runtime in logs, errors and model listings. Required.
	Name string `toml:"name"`
	// URL is the upstream's base URL, e.g. http://127.0.0.1:8000, with or
	// without a trailing /v1. Required.
	URL string `toml:"url"`
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string `toml:"api_key"`
	// Models lists the served model names. Empty: discover them from the
	// upstream's GET /v1/models on every Models call.
	Models []string `toml:"models"`
	// RequestTimeout bounds a whole non-streaming request.
	RequestTimeout time.Duration `toml:"request_timeout"`
	// ConnectTimeout bounds establishing a TCP connection. It applies to the
	// runtime's own transport, not to one given with WithHTTPClient.
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	// FirstByteTimeout bounds the wait for the response headers of a
	// streaming request.
	FirstByteTimeout time.Duration `toml:"first_byte_timeout"`
	// IdleTimeout bounds the gap between two reads of a stream (events and
	// keep-alive comments alike).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// MaxResponseBytes bounds a non-streaming response body and the total
	// bytes of a stream.
	MaxResponseBytes int64 `toml:"max_response_bytes"`
}

// DefaultConfig returns a Config with every default filled in; Name and URL
// are left for the caller.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:   DefaultRequestTimeout,
		ConnectTimeout:   DefaultConnectTimeout,
		FirstByteTimeout: DefaultFirstByteTimeout,
		IdleTimeout:      DefaultIdleTimeout,
		MaxResponseBytes: DefaultMaxResponseBytes,
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.RequestTimeout = cmp.Or(c.RequestTimeout, d.RequestTimeout)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, d.ConnectTimeout)
	c.FirstByteTimeout = cmp.Or(c.FirstByteTimeout, d.FirstByteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, d.IdleTimeout)
	c.MaxResponseBytes = cmp.Or(c.MaxResponseBytes, d.MaxResponseBytes)
	return c
}

// Validate checks c. Each error names the offending field by its TOML key.
func (c Config) Validate() error {
	var p runtime.ConfigProblems
	if strings.TrimSpace(c.Name) == "" {
		p.Add("name", "required")
	}
	if c.URL == "" {
		p.Add("url", "required")
	} else if _, err := baseURL(c.URL); err != nil {
		p.Add("url", "%v", err)
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		switch {
		case strings.TrimSpace(m) == "":
			p.Add(fmt.Sprintf("models[%d]", i), "empty model name")
		case seen[m]:
			p.Add(fmt.Sprintf("models[%d]", i), "model %q listed twice", m)
		}
		seen[m] = true
	}
	p.NotNegative("request_timeout", c.RequestTimeout)
	p.NotNegative("connect_timeout", c.ConnectTimeout)
	p.NotNegative("first_byte_timeout", c.FirstByteTimeout)
	p.NotNegative("idle_timeout", c.IdleTimeout)
	if c.MaxResponseBytes < 0 {
		p.Add("max_response_bytes", "must not be negative, got %d", c.MaxResponseBytes)
	}
	if err := p.Err(); err != nil {
		if c.Name != "" {
			return fmt.Errorf("openai runtime %q: %w", c.Name, err)
		}
		return fmt.Errorf("openai runtime: %w", err)
	}
	return nil
}

// baseURL normalises a configured URL to the server root: no trailing slash
// and no trailing /v1.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("URL %q must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("URL %q must not have a query, fragment or user info", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/v1")
	u.Path, u.RawPath = p, ""
	return strings.TrimRight(u.String(), "/"), nil
}
