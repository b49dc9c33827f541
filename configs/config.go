// Package configs owns the node's configuration: the TOML schema, the
// defaults, strict loading (an unknown key is an error that names it), the
// layering defaults → file → FOMO_* environment → flags, and validation whose
// errors name the offending key. It also writes the commented config file that
// `fomo init` creates.
package configs

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/multiformats/go-multiaddr"
)

// Version is the config schema version this build reads.
const Version = 1

// Config is the whole node configuration.
type Config struct {
	Version int       `toml:"version"`
	Node    Node      `toml:"node"`
	API     API       `toml:"api"`
	Auth    Auth      `toml:"auth"`
	P2P     P2P       `toml:"p2p"`
	Chain   Chain     `toml:"chain"`
	GPU     GPU       `toml:"gpu"`
	Store   Store     `toml:"store"`
	Runtime []Runtime `toml:"runtime"`
}

// Node holds process-wide settings.
type Node struct {
	// DataDir holds keys, the datastore and logs; relative paths are
	// resolved against the home directory. Empty means the home directory.
	DataDir string `toml:"data_dir"`
	// KeyFile is the node's Ed25519 key, relative to DataDir.
	KeyFile string `toml:"key_file"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format"`
	// ShutdownTimeout bounds each part's stop during shutdown.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// StreamGrace is how long in-flight responses may continue after a
	// shutdown starts before they are cut.
	StreamGrace Duration `toml:"stream_grace"`
}

// API configures the HTTP API.
type API struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string `toml:"listen"`
	// MaxBodyBytes limits request bodies.
	MaxBodyBytes ByteSize `toml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading request headers.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body. It does
	// not bound the response: streams may run longer.
	ReadTimeout Duration `toml:"read_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxConns bounds the connections open at once; more wait to be
	// accepted.
	MaxConns int `toml:"max_conns"`
	// ModelRefresh is how often the served-model list is re-read from the runtimes.
	ModelRefresh Duration `toml:"model_refresh"`
}

// Auth configures who may use the node's inference API and how requests are
// paid for: every request carries an authorization signed for a paying
// account, and the node returns a signed receipt for it.
type Auth struct {
	// Accounts is the local account registry (accounts with their credit
	// and session keys), relative to the data dir; empty means none. It is
	// read again when it changes.
	Accounts string `toml:"accounts"`
	// OpenAccessKey is a session key (fomo_sk_…) that pays for requests
	// that carry no API key. Empty (the default) answers them 401. Only for
	// development networks: whoever reaches the API spends its credit.
	OpenAccessKey string `toml:"open_access_key"`
	// DefaultMaxTokens caps the output of a request that sets no max_tokens;
	// it bounds the authorization's max_output_tokens and max_charge.
	DefaultMaxTokens int `toml:"default_max_tokens"`
	// AuthorizationTTL is how long an authorization the node signs stays
	// valid (at most 10m).
	AuthorizationTTL Duration `toml:"authorization_ttl"`
}

// P2P configures the libp2p host.
type P2P struct {
	// Network is the network to join: "devnet" (built in) or the path of a
	// genesis file. Its hash is the network id in every protocol and topic.
	Network string `toml:"network"`
	// Listen lists multiaddrs to listen on.
	Listen []string `toml:"listen"`
	// Bootstrap lists peers (multiaddrs with /p2p/<id>) to connect to at start.
	Bootstrap []string `toml:"bootstrap"`
	// ConnLow and ConnHigh are the connection manager's water marks.
	ConnLow  int `toml:"conn_low"`
	ConnHigh int `toml:"conn_high"`
	// DHTMode is server, client or auto.
	DHTMode string `toml:"dht_mode"`
	// AutoNAT detects reachability per address (AutoNAT v2) and answers peers' checks.
	AutoNAT bool `toml:"autonat"`
	// HolePunching upgrades relayed connections to direct ones (DCUtR).
	HolePunching bool `toml:"hole_punching"`
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	NATPortMap bool `toml:"nat_port_map"`
	// StaticRelays are relays (multiaddrs with /p2p/<id>) used while not publicly reachable.
	StaticRelays []string `toml:"static_relays"`
	// RelayService makes this node a circuit relay for others while it is public.
	RelayService bool `toml:"relay_service"`
	// ForceReachability skips detection: "public", "private", or "" to detect.
	ForceReachability string `toml:"force_reachability"`
	// RequireManifest makes the node announce a model to the network only
	// when the model's signed manifest is in the DHT and, for the built-in
	// engine, the local weights match its sha256.
	RequireManifest bool `toml:"require_manifest"`
	// AdvertInterval is how often the node publishes its signed capacity advert.
	AdvertInterval Duration `toml:"advert_interval"`
}

// Chain configures the node's part in the settlement chain: an embedded
// CometBFT node, a validator when the chain's validator set names this
// node's key, a full node otherwise.
type Chain struct {
	// Enabled runs the settlement chain. The network's genesis must name
	// its validators. Without it the node reads accounts and credit from
	// auth.accounts.
	Enabled bool `toml:"enabled"`
	// Dir holds CometBFT's configuration and block store, relative to the
	// data dir.
	Dir string `toml:"dir"`
	// Listen is CometBFT's peer-to-peer address, tcp://host:port (port 0
	// picks a free one).
	Listen string `toml:"listen"`
	// ExternalAddress is the host:port other nodes dial; empty advertises
	// the listen address (other nodes substitute the address they reach
	// this node's libp2p host at for an unspecified host).
	ExternalAddress string `toml:"external_address"`
	// Peers are CometBFT peers ("<node id>@host:port"); more are learned
	// from the libp2p network.
	Peers []string `toml:"peers"`
	// BlockInterval is the pause after each committed block.
	BlockInterval Duration `toml:"block_interval"`
}

// GPU configures GPU monitoring.
type GPU struct {
	// Enabled turns NVML monitoring on; off, the node behaves as a host without GPUs.
	Enabled bool `toml:"enabled"`
	// SampleInterval is the time between samples.
	SampleInterval Duration `toml:"sample_interval"`
}

// Store configures the node's datastore.
type Store struct {
	// Backend is pebble (on disk, the default) or memory (lost on exit).
	Backend string `toml:"backend"`
	// Path is the pebble directory, relative to the data dir.
	Path string `toml:"path"`
}

// Runtime kinds.
const (
	KindOpenAI    = "openai"
	KindSupervise = "supervise"
	KindEngine    = "engine"
)

// Runtime is one [[runtime]] block: a model backend.
type Runtime struct {
	// Name identifies the runtime in logs and status.
	Name string `toml:"name"`
	// Kind is openai (an upstream by URL), supervise (a child process the
	// node starts, reached by URL) or engine (the built-in GGUF engine).
	Kind string `toml:"kind"`

	// URL is the upstream's base URL (openai, supervise).
	URL string `toml:"url,omitempty"`
	// APIKey is sent to the upstream as a bearer token (openai, supervise).
	APIKey string `toml:"api_key,omitempty"`
	// Models lists the model names to serve; empty asks the upstream (openai, supervise).
	Models []string `toml:"models,omitempty"`
	// RequestTimeout bounds a whole non-streaming request (openai, supervise).
	RequestTimeout Duration `toml:"request_timeout,omitempty"`
	// FirstByteTimeout bounds the wait for the upstream's response headers (openai, supervise).
	FirstByteTimeout Duration `toml:"first_byte_timeout,omitempty"`
	// IdleTimeout bounds the gap between stream events (openai, supervise).
	IdleTimeout Duration `toml:"idle_timeout,omitempty"`

	// Command is the backend's argv (supervise).
	Command []string `toml:"command,omitempty"`
	// Env adds K=V variables to the child's environment (supervise).
	Env []string `toml:"env,omitempty"`
	// Dir is the child's working directory (supervise).
	Dir string `toml:"dir,omitempty"`
	// GPUs are the GPU indices given to the child via CUDA_VISIBLE_DEVICES (supervise).
	GPUs []int `toml:"gpus,omitempty"`
	// MinFreeMemory is the free memory each assigned GPU must have before start (supervise).
	MinFreeMemory ByteSize `toml:"min_free_memory,omitempty"`
	// HealthURL is polled for readiness (supervise).
	HealthURL string `toml:"health_url,omitempty"`
	// StartTimeout bounds the wait for the child to become healthy (supervise).
	StartTimeout Duration `toml:"start_timeout,omitempty"`
	// StopTimeout is how long the child gets to exit after SIGTERM (supervise).
	StopTimeout Duration `toml:"stop_timeout,omitempty"`

	// Model is the path to a .gguf file (engine).
	Model string `toml:"model,omitempty"`
	// Threads is the number of compute threads; 0 uses every core (engine).
	Threads int `toml:"threads,omitempty"`
	// ChatTemplate names the chat template when the model's is not recognised (engine).
	ChatTemplate string `toml:"chat_template,omitempty"`
	// MaxQueue bounds queued requests (engine).
	MaxQueue int `toml:"max_queue,omitempty"`
	// ContextLength caps the context window; 0 uses the model's (engine).
	ContextLength int `toml:"context_length,omitempty"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Version: Version,
		Node: Node{
			KeyFile:         "keys/node.key",
			LogLevel:        "info",
			LogFormat:       "text",
			ShutdownTimeout: Duration(10e9),
			StreamGrace:     Duration(10e9),
		},
		API: API{
			Listen:            "127.0.0.1:8080",
			MaxBodyBytes:      4 << 20,
			ReadHeaderTimeout: Duration(10e9),
			ReadTimeout:       Duration(60e9),
			IdleTimeout:       Duration(120e9),
			MaxConns:          1024,
			ModelRefresh:      Duration(30e9),
		},
		Auth: Auth{DefaultMaxTokens: 4096, AuthorizationTTL: Duration(5 * 60e9)},
		P2P: P2P{
			Network:         "devnet",
			Listen:          []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
			Bootstrap:       []string{},
			ConnLow:         100,
			ConnHigh:        400,
			DHTMode:         "server",
			AutoNAT:         true,
			HolePunching:    true,
			NATPortMap:      true,
			StaticRelays:    []string{},
			AdvertInterval:  Duration(5e9),
			RequireManifest: true,
		},
		Chain: Chain{Dir: "chain", Listen: "tcp://0.0.0.0:26656", Peers: []string{}, BlockInterval: Duration(1e9)},
		GPU:   GPU{Enabled: true, SampleInterval: Duration(5e9)},
		Store: Store{Backend: "pebble", Path: "datastore"},
	}
}

// FieldError is a validation error for one key.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

var runtimeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks every value and returns all problems found, each naming
// its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Version != Version {
		add(fieldErr("version", "must be %d, got %d", Version, c.Version))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Node.LogLevel) {
		add(fieldErr("node.log_level", "must be one of debug, info, warn, error; got %q", c.Node.LogLevel))
	}
	if !slices.Contains([]string{"text", "json"}, c.Node.LogFormat) {
		add(fieldErr("node.log_format", "must be text or json; got %q", c.Node.LogFormat))
	}
	if c.Node.KeyFile == "" {
		add(fieldErr("node.key_file", "must not be empty"))
	}
	add(positive("node.shutdown_timeout", c.Node.ShutdownTimeout))
	if c.Node.StreamGrace < 0 {
		add(fieldErr("node.stream_grace", "must not be negative"))
	}
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		add(fieldErr("api.listen", "must be host:port, got %q", c.API.Listen))
	}
	if c.API.MaxBodyBytes < 1024 {
		add(fieldErr("api.max_body_bytes", "must be at least 1KiB, got %d", c.API.MaxBodyBytes))
	}
	add(positive("api.read_header_timeout", c.API.ReadHeaderTimeout))
	add(positive("api.read_timeout", c.API.ReadTimeout))
	add(positive("api.idle_timeout", c.API.IdleTimeout))
	if c.API.MaxConns < 1 {
		add(fieldErr("api.max_conns", "must be at least 1, got %d", c.API.MaxConns))
	}
	add(positive("api.model_refresh", c.API.ModelRefresh))
	if c.Auth.DefaultMaxTokens < 1 {
		add(fieldErr("auth.default_max_tokens", "must be at least 1, got %d", c.Auth.DefaultMaxTokens))
	}
	if ttl := c.Auth.AuthorizationTTL.D(); ttl < 1e9 || ttl > 10*60e9 {
		add(fieldErr("auth.authorization_ttl", "must be between 1s and 10m, got %s", ttl))
	}
	if k := c.Auth.OpenAccessKey; k != "" && !strings.HasPrefix(k, "fomo_sk_") {
		add(fieldErr("auth.open_access_key", "must be a session key (fomo_sk_…)"))
	}
	for i, a := range c.P2P.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			add(fieldErr(fmt.Sprintf("p2p.listen[%d]", i), "not a multiaddr: %v", err))
		}
	}
	for i, a := range c.P2P.Bootstrap {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			add(fieldErr(fmt.Sprintf("p2p.bootstrap[%d]", i), "not a multiaddr: %v", err))
			continue
		}
		if _, err := m.ValueForProtocol(multiaddr.P_P2P); err != nil {
			add(fieldErr(fmt.Sprintf("p2p.bootstrap[%d]", i), "must end in /p2p/<peer id>: %q", a))
		}
	}
	if c.P2P.ConnLow < 1 || c.P2P.ConnHigh < c.P2P.ConnLow {
		add(fieldErr("p2p.conn_high", "must be ≥ p2p.conn_low ≥ 1; got low %d high %d", c.P2P.ConnLow, c.P2P.ConnHigh))
	}
	if c.P2P.Network == "" {
		add(fieldErr("p2p.network", "must name a network (\"devnet\") or a genesis file"))
	}
	if !slices.Contains([]string{"server", "client", "auto"}, c.P2P.DHTMode) {
		add(fieldErr("p2p.dht_mode", "must be server, client or auto; got %q", c.P2P.DHTMode))
	}
	if !slices.Contains([]string{"", "public", "private"}, c.P2P.ForceReachability) {
		add(fieldErr("p2p.force_reachability", "must be \"\", public or private; got %q", c.P2P.ForceReachability))
	}
	for i, a := range c.P2P.StaticRelays {
		m, err := multiaddr.NewMultiaddr(a)
		if err == nil {
			_, err = m.ValueForProtocol(multiaddr.P_P2P)
		}
		if err != nil {
			add(fieldErr(fmt.Sprintf("p2p.static_relays[%d]", i), "must be a multiaddr ending in /p2p/<peer id>: %q", a))
		}
	}
	if c.P2P.AdvertInterval.D() < 100e6 {
		add(fieldErr("p2p.advert_interval", "must be at least 100ms, got %s", c.P2P.AdvertInterval.D()))
	}
	if c.Chain.Enabled {
		if c.Chain.Dir == "" {
			add(fieldErr("chain.dir", "must not be empty"))
		}
		if h, ok := strings.CutPrefix(c.Chain.Listen, "tcp://"); !ok {
			add(fieldErr("chain.listen", "must be tcp://host:port, got %q", c.Chain.Listen))
		} else if _, _, err := net.SplitHostPort(h); err != nil {
			add(fieldErr("chain.listen", "must be tcp://host:port, got %q", c.Chain.Listen))
		}
		for i, p := range c.Chain.Peers {
			if id, addr, ok := strings.Cut(p, "@"); !ok || len(id) != 40 {
				add(fieldErr(fmt.Sprintf("chain.peers[%d]", i), "must be <node id>@host:port, got %q", p))
			} else if _, _, err := net.SplitHostPort(addr); err != nil {
				add(fieldErr(fmt.Sprintf("chain.peers[%d]", i), "must be <node id>@host:port, got %q", p))
			}
		}
		if c.Chain.BlockInterval.D() < 10e6 {
			add(fieldErr("chain.block_interval", "must be at least 10ms, got %s", c.Chain.BlockInterval.D()))
		}
	}
	if c.GPU.SampleInterval.D() < 100e6 {
		add(fieldErr("gpu.sample_interval", "must be at least 100ms, got %s", c.GPU.SampleInterval.D()))
	}
	if !slices.Contains([]string{"pebble", "memory"}, c.Store.Backend) {
		add(fieldErr("store.backend", "must be pebble or memory; got %q", c.Store.Backend))
	}
	if c.Store.Backend == "pebble" && c.Store.Path == "" {
		add(fieldErr("store.path", "must not be empty with the pebble backend"))
	}
	names := map[string]int{}
	for i := range c.Runtime {
		add(c.Runtime[i].validate(fmt.Sprintf("runtime[%d]", i)))
		if j, dup := names[c.Runtime[i].Name]; dup && c.Runtime[i].Name != "" {
			add(fieldErr(fmt.Sprintf("runtime[%d].name", i), "%q is also the name of runtime[%d]", c.Runtime[i].Name, j))
		}
		names[c.Runtime[i].Name] = i
	}
	return errors.Join(errs...)
}

func positive(key string, d Duration) error {
	if d <= 0 {
		return fieldErr(key, "must be positive, got %s", d.D())
	}
	return nil
}

func (r *Runtime) validate(p string) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fieldErr(p+"."+key, format, args...))
	}
	if !runtimeName.MatchString(r.Name) {
		add("name", "must be 1-64 of [A-Za-z0-9._-], got %q", r.Name)
	}
	// only lists the keys set on a runtime of a kind that does not read them.
	only := func(kinds string, set map[string]bool) {
		for _, key := range slices.Sorted(func(yield func(string) bool) {
			for k := range set {
				if !yield(k) {
					return
				}
			}
		}) {
			if set[key] {
				add(key, "only applies to kind %s, this runtime is kind %q", kinds, r.Kind)
			}
		}
	}
	upstream := map[string]bool{
		"url": r.URL != "", "api_key": r.APIKey != "", "models": len(r.Models) > 0,
		"request_timeout": r.RequestTimeout != 0, "first_byte_timeout": r.FirstByteTimeout != 0,
		"idle_timeout": r.IdleTimeout != 0,
	}
	supervised := map[string]bool{
		"command": len(r.Command) > 0, "env": len(r.Env) > 0, "dir": r.Dir != "", "gpus": len(r.GPUs) > 0,
		"min_free_memory": r.MinFreeMemory != 0, "health_url": r.HealthURL != "",
		"start_timeout": r.StartTimeout != 0, "stop_timeout": r.StopTimeout != 0,
	}
	engine := map[string]bool{
		"model": r.Model != "", "threads": r.Threads != 0, "chat_template": r.ChatTemplate != "",
		"max_queue": r.MaxQueue != 0, "context_length": r.ContextLength != 0,
	}
	checkURL := func(key, u string) {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			add(key, "must be an http:// or https:// URL, got %q", u)
		}
	}
	for key, d := range map[string]Duration{"request_timeout": r.RequestTimeout, "first_byte_timeout": r.FirstByteTimeout,
		"idle_timeout": r.IdleTimeout, "start_timeout": r.StartTimeout, "stop_timeout": r.StopTimeout} {
		if d < 0 {
			add(key, "must not be negative")
		}
	}
	switch r.Kind {
	case KindOpenAI:
		checkURL("url", r.URL)
		only(KindSupervise, supervised)
		only(KindEngine, engine)
	case KindSupervise:
		checkURL("url", r.URL)
		if len(r.Command) == 0 || r.Command[0] == "" {
			add("command", "required: the backend's argv, e.g. [\"vllm\", \"serve\", \"MODEL\", \"--port\", \"8001\"]")
		}
		if r.HealthURL == "" {
			add("health_url", "required: the URL polled until the backend is ready, e.g. \"http://127.0.0.1:8001/health\"")
		} else {
			checkURL("health_url", r.HealthURL)
		}
		for i, g := range r.GPUs {
			if g < 0 {
				add(fmt.Sprintf("gpus[%d]", i), "must not be negative, got %d", g)
			}
		}
		for i, e := range r.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				add(fmt.Sprintf("env[%d]", i), "must be KEY=VALUE, got %q", e)
			}
		}
		only(KindEngine, engine)
	case KindEngine:
		if r.Model == "" {
			add("model", "required: path to a .gguf file")
		}
		if r.Threads < 0 || r.MaxQueue < 0 || r.ContextLength < 0 {
			add("threads", "threads, max_queue and context_length must not be negative")
		}
		only(KindOpenAI+" or "+KindSupervise, upstream)
		only(KindSupervise, supervised)
	default:
		add("kind", "must be one of openai, supervise, engine; got %q", r.Kind)
	}
	return errors.Join(errs...)
}
