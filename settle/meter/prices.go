package meter

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// ErrNoManifest is returned by a ManifestPrices lookup for a model that
// has no signed manifest in the network.
var ErrNoManifest = errors.New("no signed manifest")

// PriceFunc returns a model's input and output prices (usd base units per
// 1M tokens); ok is false when the source does not know the model.
type PriceFunc func(model string) (in, out uint64, ok bool)

// ManifestPrices looks up the prices of a model's signed manifest in the
// network; it returns ErrNoManifest (wrapped or not) when there is none.
type ManifestPrices func(ctx context.Context, model string) (in, out uint64, err error)

// manifestTTL is how long a manifest's prices are reused.
const manifestTTL = time.Minute

// quotes gives the prices an entry node puts in an authorization: a model
// served here at its own prices, then the chain's registry, then the
// model's signed manifest, looked up in the network and kept for a minute.
type quotes struct {
	local    PriceFunc
	registry PriceFunc // nil without a chain
	manifest ManifestPrices
	now      func() time.Time

	mu    sync.Mutex
	known map[string]quoted
}

type quoted struct {
	in, out uint64
	at      time.Time
}

func (c *quotes) quote(ctx context.Context, model string) (uint64, uint64, error) {
	if in, out, ok := c.local(model); ok {
		return in, out, nil
	}
	if c.registry != nil {
		if in, out, ok := c.registry(model); ok {
			return in, out, nil
		}
	}
	c.mu.Lock()
	q, ok := c.known[model]
	c.mu.Unlock()
	if ok && c.now().Sub(q.at) < manifestTTL {
		return q.in, q.out, nil
	}
	if c.manifest == nil {
		return 0, 0, unknownModel(model)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	in, out, err := c.manifest(lctx, model)
	if err != nil {
		if errors.Is(err, ErrNoManifest) {
			return 0, 0, unknownModel(model)
		}
		return 0, 0, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"looking up the prices of %q failed: %v", model, err).WithCode("no_manifest")
	}
	q = quoted{in: in, out: out, at: c.now()}
	c.mu.Lock()
	c.known[model] = q
	c.mu.Unlock()
	return q.in, q.out, nil
}

func unknownModel(model string) *runtime.Error {
	return runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model",
		"the model %q does not exist on this network: no node serves it here and it has no signed manifest", model).WithCode("model_not_found")
}

// Prices implements receipt.Prices.
func (f PriceFunc) Prices(model string) (in, out uint64, ok bool) { return f(model) }
