package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
)

// Registry holds the node's runtimes and routes each model name to the
// runtime that serves it. It is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	runtimes []Runtime
	byModel  map[string]Runtime
	models   []Model
	log      *slog.Logger
}

// NewRegistry returns an empty registry.
func NewRegistry(log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{byModel: map[string]Runtime{}, log: log}
}

// Add registers a runtime. Its models are resolved by Refresh.
func (r *Registry) Add(rt Runtime) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, have := range r.runtimes {
		if have.Name() == rt.Name() {
			return fmt.Errorf("runtime %q registered twice", rt.Name())
		}
	}
	r.runtimes = append(r.runtimes, rt)
	return nil
}

// Runtimes returns the registered runtimes in registration order.
func (r *Registry) Runtimes() []Runtime {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.runtimes)
}

// Refresh asks every runtime for its models and rebuilds the routing table.
// A model served by two runtimes is routed to the first registered one and
// the conflict is logged. A runtime that fails to list its models keeps the
// models it had before, so a restarting backend does not vanish from routing.
func (r *Registry) Refresh(ctx context.Context) error {
	r.mu.RLock()
	rts := slices.Clone(r.runtimes)
	prev := r.byModel
	prevModels := r.models
	r.mu.RUnlock()

	byModel := map[string]Runtime{}
	var models []Model
	var firstErr error
	for _, rt := range rts {
		ms, err := rt.Models(ctx)
		if err != nil {
			r.log.Warn("listing models failed", "runtime", rt.Name(), "err", err)
			if firstErr == nil {
				firstErr = fmt.Errorf("runtime %q: %w", rt.Name(), err)
			}
			for _, m := range prevModels {
				if prev[m.ID] == rt {
					if _, taken := byModel[m.ID]; !taken {
						byModel[m.ID] = rt
						models = append(models, m)
					}
				}
			}
			continue
		}
		for _, m := range ms {
			if other, taken := byModel[m.ID]; taken {
				r.log.Warn("model served by two runtimes; using the first", "model", m.ID,
					"runtime", other.Name(), "ignored", rt.Name())
				continue
			}
			m.Runtime = rt.Name()
			byModel[m.ID] = rt
			models = append(models, m)
		}
	}
	slices.SortFunc(models, func(a, b Model) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	r.mu.Lock()
	r.byModel, r.models = byModel, models
	r.mu.Unlock()
	return firstErr
}

// Models returns the served models sorted by ID.
func (r *Registry) Models() []Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.models)
}

// Model returns one served model.
func (r *Registry) Model(id string) (Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, m := range r.models {
		if m.ID == id {
			return m, true
		}
	}
	return Model{}, false
}

// Lookup returns the runtime serving model.
func (r *Registry) Lookup(model string) (Runtime, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rt, ok := r.byModel[model]
	return rt, ok
}

// Do routes req to the runtime that serves req.Model. An unknown model is a
// 404 not_found_error naming the model, as OpenAI servers answer.
func (r *Registry) Do(ctx context.Context, req *Request) (Stream, error) {
	rt, ok := r.Lookup(req.Model)
	if !ok {
		return nil, Errorf(http.StatusNotFound, ErrTypeNotFound, "model",
			"The model %q does not exist or is not served by this node", req.Model).WithCode("model_not_found")
	}
	return Do(ctx, rt, req)
}
