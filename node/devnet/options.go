package devnet

import (
	"io"
	"time"
)

// Defaults of the options; "fomo devnet" shows them as its flags' defaults.
const (
	// DefaultNodes is the usual network size: four validators keep making
	// blocks with one of them down (more than 2/3 of the voting power).
	DefaultNodes         = 4
	DefaultStartTimeout  = 60 * time.Second
	DefaultModelPreset   = "small"
	DefaultModelType     = "q8_0"
	DefaultEpoch         = 20 * time.Second
	DefaultBlockInterval = 500 * time.Millisecond
	DefaultTraffic       = 2 * time.Second
)

// Option customises a Devnet.
type Option func(*options)

type options struct {
	dir           string
	binary        string
	out           io.Writer
	startTimeout  time.Duration
	set           []string
	serveOn       int
	serveOnSet    bool
	noModel       bool
	modelPreset   string
	modelType     string
	noChain       bool
	epoch         time.Duration
	blockInterval time.Duration
	traffic       time.Duration
	unbonding     *uint32 // nil: the network's default
	keepGoing     bool
	fresh         bool
}

func defaultOptions() options {
	return options{
		out:           io.Discard,
		startTimeout:  DefaultStartTimeout,
		modelPreset:   DefaultModelPreset,
		modelType:     DefaultModelType,
		epoch:         DefaultEpoch,
		blockInterval: DefaultBlockInterval,
		traffic:       DefaultTraffic,
	}
}

// WithDir puts the devnet in dir; "" (the default) is a new temporary
// directory.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithBinary sets the fomo binary the nodes run as ("<path> node --home
// …"); "" (the default) is the running executable.
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithOutput sets where the devnet writes its progress, node lines and
// epoch tables (default: nowhere).
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithStartTimeout sets how long each node may take to start.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startTimeout = d } }

// WithConfigSet adds config overrides ("key=value", as "fomo node --set"
// takes them) applied last to every node's config.toml.
func WithConfigSet(kv ...string) Option {
	return func(o *options) { o.set = append(o.set, kv...) }
}

// WithFresh starts a new network over the devnet's directory: what an
// earlier run left there (genesis, keys, the nodes' homes and chains) is
// removed first. A directory that holds something else is refused.
func WithFresh() Option { return func(o *options) { o.fresh = true } }

// WithServeOn runs the built-in model on the first k nodes only; a
// negative k or one above the node count means all of them. Without it,
// the first DefaultServeOn(n) of n nodes serve it.
func WithServeOn(k int) Option { return func(o *options) { o.serveOn, o.serveOnSet = k, true } }

// DefaultServeOn is how many of n nodes serve the model unless WithServeOn
// says otherwise: half of them, at least one. The devnet's traffic enters
// through every node in turn, so the requests that enter through the
// others are forwarded and their entry nodes earn routing fees.
func DefaultServeOn(n int) int { return max(1, n/2) }

// WithoutModel serves no model: no synthetic model, no announcement, no
// traffic.
func WithoutModel() Option { return func(o *options) { o.noModel = true } }

// WithModel sets the synthetic model's shape (a synth preset) and weight
// type (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k).
func WithModel(preset, typ string) Option {
	return func(o *options) { o.modelPreset, o.modelType = preset, typ }
}

// WithoutChain runs no settlement chain: the nodes take their accounts from
// DIR/accounts.toml.
func WithoutChain() Option { return func(o *options) { o.noChain = true } }

// WithEpoch sets the settlement epoch length of a new genesis.
func WithEpoch(d time.Duration) Option { return func(o *options) { o.epoch = d } }

// WithBlockInterval sets the chain's pause after each block
// (chain.block_interval).
func WithBlockInterval(d time.Duration) Option { return func(o *options) { o.blockInterval = d } }

// WithTraffic sends a chat request through the nodes in turn every d; 0
// sends none.
func WithTraffic(d time.Duration) Option { return func(o *options) { o.traffic = d } }

// WithUnbondingEpochs sets the unbonding_epochs of a new genesis: how many
// epochs an unstake takes before fomo stake claim pays it. Without it the
// network's default holds.
func WithUnbondingEpochs(n uint32) Option { return func(o *options) { o.unbonding = &n } }

// KeepGoing keeps the devnet running when a node exits (it can be restarted
// by hand); without it Wait returns an error.
func KeepGoing() Option { return func(o *options) { o.keepGoing = true } }
