package node

import (
	"context"
	"sync"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/capacity"
	"github.com/fomonet/fomo/p2p/infer"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/pool"
)

// network is the node's part in the peer-to-peer network: model provider
// records in the DHT, signed capacity adverts, the inference protocol
// server, and the router that forwards requests for models this node does
// not serve.
type network struct {
	models   *models.Service
	capacity *capacity.Service
	server   *infer.Server
	router   *infer.Router
	combined *infer.Combined

	meter *capacity.Meter
	paid  *meter.Meter
	pool  *pool.Pool

	mu       sync.Mutex
	provided map[string]bool
	prices   map[string][2]uint64 // model → manifest input, output price
	held     map[string]string    // model → why it is not announced (logged once)
}

// backend is what the HTTP API serves from: local runtimes first, then the
// network.
func (n *Node) backend() api.Backend {
	if n.net != nil {
		return n.net.combined
	}
	return n.models
}

func (n *Node) startNetwork(ctx context.Context, bg context.Context) error {
	h := n.host
	nw := &network{provided: map[string]bool{}, held: map[string]string{}, prices: map[string][2]uint64{},
		meter: capacity.NewMeter(capacity.WithMeterClock(n.opts.now))}
	nw.models = models.NewService(h.DHT(), models.WithLogger(n.sub("models")))
	n.onStop("model records", func(context.Context) error { return nw.models.Close() })
	paid, err := n.startMetering(nw)
	if err != nil {
		return err
	}
	// Local requests are paid (settle/meter), then counted for the
	// capacity adverts (p2p/capacity), then run (runtime).
	local := paid.Wrap(nw.meter.Wrap(n.models))

	capSvc, err := capacity.New(h, h.PubSub(), h.Topic("capacity"), capacity.SourceFunc(func() capacity.AdvertContent { return n.advertContent(nw) }),
		capacity.WithInterval(n.cfg.P2P.AdvertInterval.D()), capacity.WithKey(n.key),
		capacity.WithLogger(n.sub("capacity")), capacity.WithTopicScoreParams(p2p.TopicScoreParams()))
	if err != nil {
		return err
	}
	nw.capacity = capSvc
	n.onStop("capacity adverts", func(context.Context) error { return capSvc.Close() })

	proto := h.ProtocolID("infer", "1.0.0")
	nw.server = infer.NewServer(h, proto, local, infer.WithServerLogger(n.sub("infer")))
	n.onStop("inference server", func(context.Context) error { return nw.server.Close() })
	entry := n.id.String()
	if n.opts.gateway {
		entry = ""
	}
	nw.router = infer.NewRouter(h, proto, infer.ProvidersFrom(h, nw.models.FindProviders), capSvc,
		infer.WithEntryNode(entry), infer.WithRouterLogger(n.sub("router")))
	if err := n.reg.Register(newNetCollector(h, nw.router)); err != nil {
		return err
	}
	nw.combined = infer.NewCombined(n.models, nw.router, capSvc, infer.WithSelf(n.id.String()), infer.WithLocalBackend(local))
	n.net = nw
	if n.chain != nil {
		n.wg.Go(func() { n.runSubmitter(bg) })
	}

	pending := n.provideModels(ctx)
	n.wg.Go(func() {
		// Models not announced yet (no peers to store the record on, no
		// manifest yet) are retried with backoff from 1 s up to
		// api.model_refresh; announced ones are revisited every refresh.
		refresh := n.cfg.API.ModelRefresh.D()
		retry := min(time.Second, refresh)
		for {
			wait := refresh
			if pending {
				wait = retry
				retry = min(2*retry, refresh)
			} else {
				retry = min(time.Second, refresh)
			}
			t := time.NewTimer(wait)
			select {
			case <-bg.Done():
				t.Stop()
				return
			case <-t.C:
				pending = n.provideModels(bg)
			}
		}
	})
	return nil
}

// provideModels announces in the DHT every model this node serves that it
// has not announced yet, and stops announcing models it no longer serves.
// The models service re-provides them every 12 h. It reports whether some
// served model is still not announced.
func (n *Node) provideModels(ctx context.Context) (pending bool) {
	nw := n.net
	served := map[string]bool{}
	for _, m := range n.models.Models() {
		served[m.ID] = true
		nw.mu.Lock()
		done := nw.provided[m.ID]
		nw.mu.Unlock()
		if done {
			continue
		}
		signed, err := n.servable(ctx, m)
		if err != nil {
			nw.mu.Lock()
			if nw.held[m.ID] != err.Error() {
				nw.held[m.ID] = err.Error()
				n.log.Warn("serving model locally only; not announcing it to the network", "model", m.ID, "reason", err)
			}
			nw.mu.Unlock()
			pending = true
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = nw.models.Provide(pctx, m.ID)
		cancel()
		if err != nil {
			n.log.Warn("announcing model in the DHT failed; will retry", "model", m.ID, "err", err)
			pending = true
			continue
		}
		nw.mu.Lock()
		nw.provided[m.ID] = true
		delete(nw.held, m.ID)
		if signed != nil {
			nw.prices[m.ID] = [2]uint64{signed.Manifest.InputPrice, signed.Manifest.OutputPrice}
		}
		nw.mu.Unlock()
		n.log.Info("serving model on the network", "model", m.ID)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for name := range nw.provided {
		if !served[name] {
			nw.models.StopProviding(name)
			delete(nw.provided, name)
		}
	}
	return pending
}

// advertContent is this node's capacity: its models with queue depth and
// measured speed, and a GPU summary.
func (n *Node) advertContent(nw *network) capacity.AdvertContent {
	var c capacity.AdvertContent
	c.ChainAddr = n.chainAddr()
	byName := map[string]runtime.Runtime{}
	for _, rt := range n.models.Runtimes() {
		byName[rt.Name()] = rt
	}
	for _, m := range n.models.Models() {
		mc := capacity.ModelCapacity{Name: m.ID}
		if nw != nil {
			nw.mu.Lock()
			announced, prices := nw.provided[m.ID], nw.prices[m.ID]
			nw.mu.Unlock()
			if !announced {
				continue // served locally only
			}
			mc.InputPrice, mc.OutputPrice = prices[0], prices[1]
			mc.QueueDepth, mc.TokensPerSecondMilli = nw.meter.Capacity(m.ID)
		}
		if lr, ok := byName[m.Runtime].(runtime.LoadReporter); ok {
			// The runtime knows its pure decode speed and its queue exactly.
			st := lr.Load()
			mc.QueueDepth = uint32(st.Queued)
			if st.Running {
				mc.QueueDepth++
			}
			if st.DecodeTokensPerSecond > 0 {
				mc.TokensPerSecondMilli = uint64(st.DecodeTokensPerSecond * 1000)
			}
		}
		c.Models = append(c.Models, mc)
	}
	c.GPU = capacity.SummarizeGPUs(n.monitor.Latest())
	return c
}
