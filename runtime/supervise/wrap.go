package supervise

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/fomonet/fomo/runtime"
)

// Wrap joins a Supervisor and the runtime that talks to its child (usually
// an OpenAI-upstream runtime pointed at the child's port) into one runtime.
//
// The result has rt's name and serves requests through rt while the child is
// ready; while it is starting, restarting or down, requests and Models fail
// at once with a 503 service_unavailable_error naming the runtime (the
// registry then keeps routing the models it had). Health is the supervisor's
// while the child is not ready, and rt's once it is. The result implements
// runtime.Starter: Start starts the child and then rt if rt is a Starter;
// Close closes rt if it is a Starter and then stops the child.
func Wrap(s *Supervisor, rt runtime.Runtime) runtime.Runtime {
	return &supervised{s: s, rt: rt}
}

type supervised struct {
	s  *Supervisor
	rt runtime.Runtime
}

var (
	_ runtime.Runtime = (*supervised)(nil)
	_ runtime.Starter = (*supervised)(nil)
)

func (w *supervised) Name() string { return w.rt.Name() }

// Start starts the child, then rt when it has a Start of its own.
func (w *supervised) Start(ctx context.Context) error {
	if err := w.s.Start(ctx); err != nil {
		return err
	}
	if st, ok := w.rt.(runtime.Starter); ok {
		if err := st.Start(ctx); err != nil {
			return errors.Join(err, w.s.Close())
		}
	}
	return nil
}

// Close closes rt when it has a Close of its own, then stops the child.
func (w *supervised) Close() error {
	var err error
	if st, ok := w.rt.(runtime.Starter); ok {
		err = st.Close()
	}
	return errors.Join(err, w.s.Close())
}

// Health reports the supervisor's state, and rt's health once the child is
// ready.
func (w *supervised) Health(ctx context.Context) runtime.Health {
	h := w.s.Health()
	if !h.OK {
		return h
	}
	rh := w.rt.Health(ctx)
	if rh.Since.Before(h.Since) {
		rh.Since = h.Since
	}
	return rh
}

// unavailable returns the error for a request that reaches a child that is
// not ready, or nil when it is ready.
func (w *supervised) unavailable() error {
	h := w.s.Health()
	if h.OK {
		return nil
	}
	msg := "runtime %q is " + h.Status
	args := []any{w.rt.Name()}
	// The first line only: the rest is the child's output, for the log.
	if detail, _, _ := strings.Cut(h.Detail, "\n"); detail != "" {
		msg += ": %s"
		args = append(args, detail)
	}
	return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", msg, args...)
}

func (w *supervised) Models(ctx context.Context) ([]runtime.Model, error) {
	if err := w.unavailable(); err != nil {
		return nil, err
	}
	return w.rt.Models(ctx)
}

func (w *supervised) Chat(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	if err := w.unavailable(); err != nil {
		return nil, err
	}
	return w.rt.Chat(ctx, req)
}

func (w *supervised) Complete(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	if err := w.unavailable(); err != nil {
		return nil, err
	}
	return w.rt.Complete(ctx, req)
}

func (w *supervised) Embed(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	if err := w.unavailable(); err != nil {
		return nil, err
	}
	return w.rt.Embed(ctx, req)
}
