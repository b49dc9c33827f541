package node

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/gpu/gpumetrics"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

func (n *Node) startGPU(ctx context.Context, _ context.Context) error {
	switch {
	case n.opts.gpuSource != nil:
		n.gpus = n.opts.gpuSource
	case !n.cfg.GPU.Enabled:
		n.gpus = gpu.Null{Reason: "disabled by gpu.enabled = false"}
	default:
		n.gpus = gpunvml.Open(n.sub("gpu"))
	}
	n.monitor = gpu.NewMonitor(n.gpus, gpu.WithInterval(n.cfg.GPU.SampleInterval.D()), gpu.WithLogger(n.sub("gpu")))
	// One synchronous sample so the API and the supervisor's memory check
	// see real values from the first request on.
	if err := n.monitor.Refresh(ctx); err != nil {
		n.log.Warn("first GPU sample failed", "err", err)
	}
	if err := n.monitor.Start(); err != nil {
		return err
	}
	if err := n.reg.Register(gpumetrics.NewCollector(n.monitor)); err != nil {
		return err
	}
	n.onStop("gpu", func(context.Context) error {
		return errors.Join(n.monitor.Close(), n.gpus.Close())
	})
	return nil
}

func (n *Node) startRuntimes(ctx context.Context, bg context.Context) error {
	n.models = runtime.NewRegistry(n.sub("runtime"))
	for i, rc := range n.cfg.Runtime {
		rt, err := n.buildRuntime(rc)
		if err != nil {
			return fmt.Errorf("runtime[%d] %q: %w", i, rc.Name, err)
		}
		if s, ok := rt.(runtime.Starter); ok {
			if err := s.Start(ctx); err != nil {
				return fmt.Errorf("runtime[%d] %q: %w", i, rc.Name, err)
			}
			n.onStop("runtime "+rc.Name, func(context.Context) error { return s.Close() })
		}
		if err := n.models.Add(rt); err != nil {
			return err
		}
		if q, ok := rt.(queuer); ok {
			name := rc.Name
			if err := n.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "fomo_runtime_queue_depth",
				Help:        "Requests waiting for a runtime that serves one at a time.",
				ConstLabels: prometheus.Labels{"runtime": name},
			}, func() float64 { return float64(q.QueueDepth()) })); err != nil {
				return err
			}
		}
	}
	if err := n.models.Refresh(ctx); err != nil {
		n.log.Warn("some runtimes did not list their models yet", "err", err)
	}
	if len(n.cfg.Runtime) == 0 && !n.opts.gateway { // a gateway never runs one
		n.log.Warn("no model runtime configured: this node serves no models. Add a [[runtime]] block to the config (config.toml written by `fomo init` has commented examples)")
	}
	n.wg.Go(func() {
		t := time.NewTicker(n.cfg.API.ModelRefresh.D())
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(bg, 30*time.Second)
				_ = n.models.Refresh(rctx)
				cancel()
			}
		}
	})
	return nil
}

// queuer is a runtime that queues requests (the built-in engine).
type queuer interface{ QueueDepth() int }

// nodeInfo answers /api/v1/status and /api/v1/peers.
type nodeInfo Node

func (ni *nodeInfo) Status(ctx context.Context) api.Status {
	n := (*Node)(ni)
	st := api.Status{
		PeerID:        n.id.String(),
		Version:       Version,
		StartedAt:     n.started.UTC(),
		UptimeSeconds: int64(n.opts.now().Sub(n.started) / time.Second),
		API:           "http://" + n.APIAddr(),
		ListenAddrs:   n.host.ListenAddrs(),
		Peers:         len(n.host.Network().Peers()),
		NetworkID:     n.host.NetworkID(),
		Epoch:         n.epochOf(uint64(n.opts.now().UnixMilli())),
		P2P:           api.P2PStatus(n.host.Status()),
		GPUDriver:     n.gpus.Driver(),
		GPUs:          len(n.gpus.Devices()),
		Models:        n.models.Models(),
		Runtimes:      []api.RuntimeHealth{},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		st.GoVersion = bi.GoVersion
	}
	if st.Models == nil {
		st.Models = []runtime.Model{}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, rt := range n.models.Runtimes() {
		rh := api.RuntimeHealth{Name: rt.Name(), Health: rt.Health(ctx)}
		if q, ok := rt.(queuer); ok {
			d := q.QueueDepth()
			rh.QueueDepth = &d
		}
		st.Runtimes = append(st.Runtimes, rh)
	}
	return st
}

func (ni *nodeInfo) Peers() []api.PeerInfo { return (*Node)(ni).host.Peers() }
