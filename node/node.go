package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/store"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version is the node's version, stamped at build time.
var Version = "dev"

// APIAddrFile is the file in the data dir where a running node writes the
// address its HTTP API listens on (useful with api.listen port 0).
const APIAddrFile = "api.addr"

// Node is one fomo node.
type Node struct {
	cfg     configs.Config
	dataDir string
	log     *slog.Logger
	opts    options

	key     crypto.PrivKey
	id      peer.ID
	reg     *prometheus.Registry
	started time.Time

	mu      sync.Mutex
	state   int
	stops   []stopFunc
	store   ds.Batching
	host    *p2p.Host
	genesis *networks.Genesis
	net     *network
	chain   *settlement // nil without chain.enabled
	gpus    gpu.Source
	monitor *gpu.Monitor
	models  *runtime.Registry
	httpSrv *http.Server
	apiAddr string
	cancel  context.CancelFunc // cancels background loops and in-flight requests
	bgCtx   context.Context    // lives until Stop; for work started by requests
	// modelFiles maps engine runtime names to their weights files.
	modelFiles map[string]string
	wg         sync.WaitGroup

	// doctorMu guards weightsChecked: the weights files the doctor
	// hashed, read again only when they change.
	doctorMu       sync.Mutex
	weightsChecked map[string]weightsCheck
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

type stopFunc struct {
	name  string
	fn    func(ctx context.Context) error
	extra time.Duration // added to node.shutdown_timeout for this part
}

// New builds a node from cfg. home is the node's home directory; the data
// dir is resolved against it. New loads (or creates) the node key but starts
// nothing.
func New(cfg configs.Config, home string, opts ...Option) (*Node, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dataDir := cfg.Node.DataDir
	if dataDir == "" {
		dataDir = home
	} else if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(home, dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	keyPath := cfg.Node.KeyFile
	if !filepath.IsAbs(keyPath) {
		keyPath = filepath.Join(dataDir, keyPath)
	}
	key, created, err := identity.LoadOrCreate(keyPath)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, dataDir: dataDir, log: o.logger, opts: o, key: key, id: identity.PeerID(key)}
	if created {
		n.log.Info("created node key", "path", keyPath, "peer_id", n.id)
	}
	return n, nil
}

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// DataDir returns the resolved data directory.
func (n *Node) DataDir() string { return n.dataDir }

// APIAddr returns the address the HTTP API listens on, once started.
func (n *Node) APIAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apiAddr
}

// Models returns the runtime registry (nil before Start).
func (n *Node) Models() *runtime.Registry { return n.models }

// Start starts every part in order. If one fails, the parts already started
// are stopped in reverse and the error is returned.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.state != stateNew {
		n.mu.Unlock()
		return errors.New("node: Start called on a node that was already started or stopped")
	}
	n.state = stateRunning
	n.mu.Unlock()
	n.started = n.opts.now()

	bg, cancel := context.WithCancel(context.Background())
	n.cancel, n.bgCtx = cancel, bg
	n.onStop("background", func(context.Context) error { cancel(); n.wg.Wait(); return nil })

	steps := []struct {
		name string
		fn   func(context.Context, context.Context) error
	}{
		{"metrics", n.startMetrics},
		{"datastore", n.startStore},
		{"gpu", n.startGPU},
		{"p2p", n.startP2P},
		// A gateway on another network than its peers finds none of their
		// models: it refuses to start.
		{"network check", n.checkNetwork},
		{"chain", n.startChain},
		{"runtimes", n.startRuntimes},
		{"network", n.startNetwork},
		{"api", n.startAPI},
	}
	for _, s := range steps {
		t0 := n.opts.now()
		if err := s.fn(ctx, bg); err != nil {
			n.log.Error("start failed; stopping", "part", s.name, "err", err)
			sctx, c := context.WithTimeout(context.Background(), n.cfg.Node.ShutdownTimeout.D())
			defer c()
			_ = n.Stop(sctx)
			return fmt.Errorf("node: starting %s: %w", s.name, err)
		}
		n.log.Debug("started", "part", s.name, "took", n.opts.now().Sub(t0))
	}
	n.log.Info("node started", "peer_id", n.id, "api", "http://"+n.apiAddr, "version", Version,
		"models", len(n.models.Models()), "gpus", len(n.gpus.Devices()))
	return nil
}

func (n *Node) onStop(name string, fn func(context.Context) error) {
	n.onStopWithin(name, 0, fn)
}

// onStopWithin registers a stop that may take extra time beyond
// node.shutdown_timeout (the API's stream grace).
func (n *Node) onStopWithin(name string, extra time.Duration, fn func(context.Context) error) {
	n.mu.Lock()
	n.stops = append(n.stops, stopFunc{name, fn, extra})
	n.mu.Unlock()
}

// Stop stops the started parts in reverse order, giving each at most
// node.shutdown_timeout (the API node.stream_grace more), and never more
// than ctx allows. It returns the
// errors of the parts that failed or overran, each named.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	if n.state == stateStopped {
		n.mu.Unlock()
		return nil
	}
	n.state = stateStopped
	stops := n.stops
	n.stops = nil
	n.mu.Unlock()

	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		s := stops[i]
		limit := n.cfg.Node.ShutdownTimeout.D() + s.extra
		pctx, cancel := context.WithTimeout(ctx, limit)
		done := make(chan error, 1)
		t0 := n.opts.now()
		go func() { done <- s.fn(pctx) }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", s.name, err))
				n.log.Warn("stop failed", "part", s.name, "err", err)
			} else {
				n.log.Debug("stopped", "part", s.name, "took", n.opts.now().Sub(t0))
			}
		case <-pctx.Done():
			errs = append(errs, fmt.Errorf("stopping %s: did not finish within %s", s.name, limit))
			n.log.Error("stop overran its deadline; moving on", "part", s.name, "timeout", limit)
		}
		cancel()
	}
	n.log.Info("node stopped", "peer_id", n.id)
	return errors.Join(errs...)
}

func (n *Node) startMetrics(context.Context, context.Context) error {
	n.reg = prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fomo_build_info", Help: "Build information; always 1.",
	}, []string{"version", "peer_id"})
	build.WithLabelValues(Version, n.id.String()).Set(1)
	started := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fomo_start_time_seconds", Help: "Unix time the node started.",
	})
	started.Set(float64(n.started.Unix()))
	return errors.Join(
		n.reg.Register(build), n.reg.Register(started),
		n.reg.Register(collectors.NewGoCollector()),
		n.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "fomo"})),
	)
}

func (n *Node) startStore(context.Context, context.Context) error {
	switch n.cfg.Store.Backend {
	case "memory":
		n.store = store.NewMemory()
	default:
		p := n.cfg.Store.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.dataDir, p)
		}
		db, err := store.OpenPebble(p, store.WithLogger(n.sub("store")))
		if err != nil {
			return err
		}
		n.store = db
	}
	n.onStop("datastore", func(context.Context) error { return n.store.Close() })
	return nil
}

// Store returns the node's datastore (nil before Start).
func (n *Node) Store() ds.Batching { return n.store }

func (n *Node) startP2P(context.Context, context.Context) error {
	g, err := loadNetwork(n.cfg.P2P.Network, n.dataDir)
	if err != nil {
		return err
	}
	n.genesis = g
	h, err := p2p.New(p2p.Config{
		NetworkID:          g.ID(),
		Listen:             n.cfg.P2P.Listen,
		Bootstrap:          append(slices.Clone(n.cfg.P2P.Bootstrap), g.Bootstrap...),
		ConnLow:            n.cfg.P2P.ConnLow,
		ConnHigh:           n.cfg.P2P.ConnHigh,
		UserAgent:          "fomo/" + Version,
		AutoNAT:            n.cfg.P2P.AutoNAT,
		HolePunching:       n.cfg.P2P.HolePunching,
		NATPortMap:         n.cfg.P2P.NATPortMap,
		StaticRelays:       n.cfg.P2P.StaticRelays,
		EnableRelayService: n.cfg.P2P.RelayService,
		ForceReachability:  n.cfg.P2P.ForceReachability,
		DHTMode:            n.cfg.P2P.DHTMode,
		Datastore:          namespace.Wrap(n.store, ds.NewKey("/p2p/dht")),
		Validators:         map[string]record.Validator{models.Namespace: models.Validator{}},
	}, n.key, n.sub("p2p"))
	if err != nil {
		return err
	}
	n.host = h
	n.onStop("p2p", func(context.Context) error { return h.Close() })
	return nil
}

// loadNetwork returns the built-in network of that name, or reads a
// genesis file (relative paths against the data dir).
func loadNetwork(name, dataDir string) (*networks.Genesis, error) {
	if name == "devnet" {
		return networks.Devnet(), nil
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(dataDir, name)
	}
	g, err := networks.Load(name)
	if err != nil {
		return nil, fmt.Errorf("p2p.network: %w", err)
	}
	return g, nil
}

func (n *Node) sub(name string) *slog.Logger { return n.log.With("subsystem", name) }

func (n *Node) startAPI(_ context.Context, bg context.Context) error {
	opts := []api.Option{
		api.WithNodeID(n.id.String()),
		api.WithNetworkID(n.genesis.ID()),
		api.WithMaxBodyBytes(int64(n.cfg.API.MaxBodyBytes)),
		api.WithGPUs(n.monitor),
		api.WithInfo((*nodeInfo)(n)),
		api.WithReadiness((*readiness)(n)),
		api.WithRegistry(n.reg),
		api.WithLogger(n.sub("api")),
		api.WithDoctor((*doctor)(n)),
	}
	if n.net != nil {
		opts = append(opts,
			api.WithMeter(apiMeter{n.net.paid}),
			api.WithManifests((*manifestStore)(n)),
			api.WithReceipts(n.net.pool),
			api.WithPrices((*prices)(n)))
	}
	if n.chain != nil {
		opts = append(opts, api.WithChain(chainView{cons: n.chain.cons}))
	}
	srv := api.New(n.backend(), opts...)
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen %s: %w", n.cfg.API.Listen, err)
	}
	ln = api.LimitListener(ln, n.cfg.API.MaxConns)
	reqCtx, cancelReqs := context.WithCancel(bg)
	// ReadTimeout bounds reading the request, headers and body; the
	// server lifts it once the body is read, so it does not cut a long
	// response. No WriteTimeout: it would cut streams.
	n.httpSrv = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: n.cfg.API.ReadHeaderTimeout.D(),
		ReadTimeout:       n.cfg.API.ReadTimeout.D(),
		IdleTimeout:       n.cfg.API.IdleTimeout.D(),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(n.sub("api").Handler(), slog.LevelWarn),
	}
	n.mu.Lock()
	n.apiAddr = ln.Addr().String()
	n.mu.Unlock()
	addrFile := filepath.Join(n.dataDir, APIAddrFile)
	if err := os.WriteFile(addrFile, []byte(n.apiAddr+"\n"), 0o644); err != nil {
		ln.Close()
		cancelReqs()
		return err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server failed", "err", err)
		}
	}()
	n.onStopWithin("api", n.cfg.Node.StreamGrace.D(), func(ctx context.Context) error {
		os.Remove(addrFile)
		grace := n.cfg.Node.StreamGrace.D()
		gctx, cancel := context.WithTimeout(ctx, grace)
		defer cancel()
		err := n.httpSrv.Shutdown(gctx)
		if err != nil {
			n.log.Warn("in-flight requests outlived the stream grace; cutting them", "grace", grace)
		}
		cancelReqs() // ends every in-flight request's context: runtimes stop generating
		cerr := n.httpSrv.Close()
		<-served
		if errors.Is(err, context.DeadlineExceeded) {
			return cerr
		}
		return errors.Join(err, cerr)
	})
	return nil
}
