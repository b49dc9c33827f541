package infer

import (
	"context"
	"slices"
	"strings"

	"github.com/fomonet/fomo/runtime"
)

// Local is the node's own runtimes; *runtime.Registry is one.
type Local interface {
	runtime.Backend
	Lookup(model string) (runtime.Runtime, bool)
	Models() []runtime.Model
	Model(id string) (runtime.Model, bool)
}

// Catalog lists the models other nodes advertise; *capacity.Service is one.
type Catalog interface {
	Models() []string
}

// NetworkRuntime is the Runtime field of models served by other nodes.
const NetworkRuntime = "network"

// Combined serves the models of the local runtimes itself and forwards
// requests for any other model to the network. It has the methods of the
// HTTP API's Backend. Any of its parts may be nil: a light client has no
// Local, a node without networking no Remote or Catalog.
type Combined struct {
	local   Local
	serve   runtime.Backend // serves local models: local, or what WithLocalBackend set
	remote  runtime.Backend // elsewhere in the network; *Router is one
	catalog Catalog
	self    string
}

// CombinedOption configures a Combined.
type CombinedOption func(*Combined)

// WithSelf names the node the local runtimes serve for (its peer ID): a
// request whose Payee is another node is forwarded even when a local
// runtime serves its model.
func WithSelf(id string) CombinedOption { return func(c *Combined) { c.self = id } }

// WithLocalBackend serves the requests for local models through b (the
// local runtimes behind the node's metering) instead of Local's Do.
func WithLocalBackend(b runtime.Backend) CombinedOption { return func(c *Combined) { c.serve = b } }

// NewCombined returns a Combined backend.
func NewCombined(local Local, remote runtime.Backend, catalog Catalog, opts ...CombinedOption) *Combined {
	c := &Combined{local: local, remote: remote, catalog: catalog}
	for _, o := range opts {
		o(c)
	}
	if c.serve == nil && local != nil {
		c.serve = local
	}
	return c
}

// Do serves req locally when a local runtime serves its model, and
// forwards it otherwise, or when it must be served by another node (its
// Payee). Forwarded streams have a ServedBy method naming the provider.
func (c *Combined) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	if req.Payee != "" && c.self != "" && req.Payee != c.self && c.remote != nil {
		return c.remote.Do(ctx, req)
	}
	if c.local != nil {
		if _, ok := c.local.Lookup(req.Model); ok || c.remote == nil {
			return c.serve.Do(ctx, req)
		}
	}
	if c.remote == nil {
		return nil, noProvider(req.Model, "this client has no network")
	}
	return c.remote.Do(ctx, req)
}

// Models lists the local models and, after them, the models only other
// nodes advertise, each group sorted by ID.
func (c *Combined) Models() []runtime.Model {
	var out []runtime.Model
	if c.local != nil {
		out = c.local.Models()
	}
	if c.catalog == nil {
		return out
	}
	var remote []runtime.Model
	for _, id := range c.catalog.Models() {
		if slices.ContainsFunc(out, func(m runtime.Model) bool { return m.ID == id }) {
			continue
		}
		remote = append(remote, networkModel(id))
	}
	slices.SortFunc(remote, func(a, b runtime.Model) int { return strings.Compare(a.ID, b.ID) })
	return append(out, remote...)
}

// Model returns a local model, or a model some other node advertises.
func (c *Combined) Model(id string) (runtime.Model, bool) {
	if c.local != nil {
		if m, ok := c.local.Model(id); ok {
			return m, true
		}
	}
	if c.catalog != nil && slices.Contains(c.catalog.Models(), id) {
		return networkModel(id), true
	}
	return runtime.Model{}, false
}

func networkModel(id string) runtime.Model {
	return runtime.Model{ID: id, OwnedBy: "fomo", Runtime: NetworkRuntime}
}
