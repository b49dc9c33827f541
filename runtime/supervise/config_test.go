package supervise

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestValidate(t *testing.T) {
	ok := func(mod func(*Config)) Config {
		c := DefaultConfig()
		c.Command = []string{"llama-server", "--port", "8001"}
		c.HealthURL = "http://127.0.0.1:8001/health"
		if mod != nil {
			mod(&c)
		}
		return c
	}
	for name, tc := range map[string]struct {
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		"defaults":        {cfg: ok(nil)},
		"zero durations":  {cfg: Config{Command: []string{"x"}, HealthURL: "https://h/health"}},
		"gpus and memory": {cfg: ok(func(c *Config) { c.GPUs, c.MinFreeMemory = []int{0, 3}, 40<<30 })},
		"env":             {cfg: ok(func(c *Config) { c.Env = []string{"A=1", "B=", "C=x=y"} })},
		"empty":           {cfg: Config{}, want: []string{"command: required", "health_url: required"}},
		"empty program":   {cfg: ok(func(c *Config) { c.Command = []string{" ", "x"} }), want: []string{"command: program name (first element) is empty"}},
		"bad env":         {cfg: ok(func(c *Config) { c.Env = []string{"A=1", "NOVALUE", "=x"} }), want: []string{"env[1]: want K=V", "env[2]: bad variable name"}},
		"cuda env and gpus": {cfg: ok(func(c *Config) { c.GPUs, c.Env = []int{0}, []string{"CUDA_VISIBLE_DEVICES=1"} }),
			want: []string{"env[0]: CUDA_VISIBLE_DEVICES is set from gpus"}},
		"cuda env alone":      {cfg: ok(func(c *Config) { c.Env = []string{"CUDA_VISIBLE_DEVICES=1"} })},
		"bad gpus":            {cfg: ok(func(c *Config) { c.GPUs = []int{1, -1, 1} }), want: []string{"gpus: index -1 is negative", "gpus: index 1 listed twice"}},
		"memory without gpus": {cfg: ok(func(c *Config) { c.MinFreeMemory = 1 }), want: []string{"min_free_memory: set without gpus"}},
		"health url scheme":   {cfg: ok(func(c *Config) { c.HealthURL = "127.0.0.1:8001/health" }), want: []string{"health_url: "}},
		"health url no host":  {cfg: ok(func(c *Config) { c.HealthURL = "http:///health" }), want: []string{"health_url: no host"}},
		"health url junk":     {cfg: ok(func(c *Config) { c.HealthURL = "http://[::1/health" }), want: []string{"health_url: "}},
		"negative durations": {cfg: ok(func(c *Config) {
			c.StartTimeout, c.HealthInterval, c.StopTimeout = -1, -time.Second, -2
			c.RestartBackoffMin, c.RestartBackoffMax, c.HealthFailures = -1, -1, -1
		}), want: []string{"start_timeout: must not be negative", "health_interval: must not be negative",
			"stop_timeout: must not be negative", "restart_backoff_min: must not be negative",
			"restart_backoff_max: must not be negative", "health_failures: must not be negative"}},
		"backoff order": {cfg: ok(func(c *Config) { c.RestartBackoffMin, c.RestartBackoffMax = time.Minute, time.Second }),
			want: []string{"restart_backoff_max: 1s is less than restart_backoff_min 1m0s"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tc.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tc.want) {
				t.Errorf("%d errors, want %d: %v", got, len(tc.want), err)
			}
			if _, err := New(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), "supervise: ") {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := New(Config{Command: []string{"/opt/bin/vllm", "serve"}, HealthURL: "http://127.0.0.1:1/health",
		RestartBackoffMin: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.RestartBackoffMin, want.RestartBackoffMax = 2*time.Minute, 2*time.Minute
	got := s.cfg
	if got.StartTimeout != want.StartTimeout || got.HealthInterval != want.HealthInterval ||
		got.HealthFailures != want.HealthFailures || got.StopTimeout != want.StopTimeout ||
		got.RestartBackoffMin != want.RestartBackoffMin || got.RestartBackoffMax != want.RestartBackoffMax {
		t.Fatalf("defaults applied: %+v", got)
	}
	if s.Name() != "vllm" {
		t.Fatalf("Name() = %q", s.Name())
	}
	if h := s.Health(); h.OK || h.Status != StatusDown || h.Detail != "not started" {
		t.Fatalf("%+v", h)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigTOML(t *testing.T) {
	const doc = `
command = ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8001"]
env = ["HF_HOME=/models"]
dir = "/srv"
gpus = [0, 1]
min_free_memory = 42949672960
health_url = "http://127.0.0.1:8001/health"
start_timeout = "20m"
health_interval = "2s"
health_failures = 5
restart_backoff_min = "500ms"
restart_backoff_max = "2m"
stop_timeout = "30s"
`
	c := DefaultConfig()
	md, err := toml.Decode(doc, &c)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) != 0 {
		t.Fatalf("keys not decoded: %v", und)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.StartTimeout != 20*time.Minute || c.HealthInterval != 2*time.Second || c.HealthFailures != 5 ||
		c.RestartBackoffMin != 500*time.Millisecond || c.RestartBackoffMax != 2*time.Minute ||
		c.StopTimeout != 30*time.Second || c.MinFreeMemory != 40<<30 || len(c.GPUs) != 2 || c.Dir != "/srv" ||
		len(c.Command) != 5 || c.Env[0] != "HF_HOME=/models" {
		t.Fatalf("decoded %+v", c)
	}
	// Keys left out keep their defaults.
	c = DefaultConfig()
	if _, err := toml.Decode(`command = ["x"]`+"\n"+`health_url = "http://h/"`, &c); err != nil {
		t.Fatal(err)
	}
	if c.StartTimeout != DefaultStartTimeout || c.StopTimeout != DefaultStopTimeout {
		t.Fatalf("defaults lost: %+v", c)
	}
	if _, err := toml.Decode(`start_timeout = "soon"`, &c); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 10*time.Second)
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	b.reset()
	got = append(got, b.next(), b.next())
	want := []time.Duration{1e9, 2e9, 4e9, 8e9, 10e9, 10e9, 1e9, 2e9}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}
