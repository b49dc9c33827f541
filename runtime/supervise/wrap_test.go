//go:build linux

package supervise

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/runtime"
)

// upstream stands in for the runtime that talks to the child.
type upstream struct {
	healthy  atomic.Bool
	calls    atomic.Int64
	started  atomic.Int64
	closed   atomic.Int64
	startErr error
}

func (u *upstream) Name() string { return "vllm-a" }
func (u *upstream) Models(context.Context) ([]runtime.Model, error) {
	u.calls.Add(1)
	return []runtime.Model{{ID: "m"}}, nil
}
func (u *upstream) reply(req *runtime.Request) (runtime.Stream, error) {
	u.calls.Add(1)
	return runtime.SingleEvent([]byte(req.API), runtime.Usage{}, runtime.FinishStop), nil
}
func (u *upstream) Chat(_ context.Context, r *runtime.Request) (runtime.Stream, error) {
	return u.reply(r)
}
func (u *upstream) Complete(_ context.Context, r *runtime.Request) (runtime.Stream, error) {
	return u.reply(r)
}
func (u *upstream) Embed(_ context.Context, r *runtime.Request) (runtime.Stream, error) {
	return u.reply(r)
}
func (u *upstream) Health(context.Context) runtime.Health {
	if u.healthy.Load() {
		return runtime.Health{OK: true, Status: "ready"}
	}
	return runtime.Health{Status: "down", Detail: "upstream says no"}
}
func (u *upstream) Start(context.Context) error { u.started.Add(1); return u.startErr }
func (u *upstream) Close() error                { u.closed.Add(1); return nil }

// unavailable checks that every request path of rt fails with a 503 naming
// the runtime and the supervisor's status.
func unavailable(t *testing.T, rt runtime.Runtime, status string) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		var e *runtime.Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Type != runtime.ErrTypeUnavailable ||
			!strings.HasPrefix(e.Message, `runtime "vllm-a" is `+status) {
			t.Fatalf("%s: %v, want 503 for %s", what, err, status)
		}
	}
	_, err := rt.Models(context.Background())
	check("Models", err)
	for _, api := range []runtime.API{runtime.APIChat, runtime.APICompletion, runtime.APIEmbedding} {
		_, err := runtime.Do(context.Background(), rt, &runtime.Request{API: api, Model: "m"})
		check(string(api), err)
	}
}

func TestWrap(t *testing.T) {
	e := newEnv(t)
	e.cfg.RestartBackoffMin = 300 * time.Millisecond
	e.cfg.RestartBackoffMax = time.Second
	s := e.new(t)
	up := &upstream{}
	up.healthy.Store(true)
	rt := Wrap(s, up)
	if rt.Name() != "vllm-a" {
		t.Fatalf("Name() = %q", rt.Name())
	}
	unavailable(t, rt, "down: not started")
	if h := rt.Health(context.Background()); h.OK || h.Status != StatusDown {
		t.Fatalf("Health before start: %+v", h)
	}

	st, ok := rt.(runtime.Starter)
	if !ok {
		t.Fatal("wrapped runtime is not a runtime.Starter")
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if up.started.Load() != 1 || s.PID() == 0 {
		t.Fatalf("Start: upstream started %d times, pid %d", up.started.Load(), s.PID())
	}
	for _, api := range []runtime.API{runtime.APIChat, runtime.APICompletion, runtime.APIEmbedding} {
		stream, err := runtime.Do(context.Background(), rt, &runtime.Request{API: api, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := stream.Recv(); err != nil || string(ev.Data) != string(api) {
			t.Fatalf("%s: %q %v", api, ev.Data, err)
		}
	}
	if ms, err := rt.Models(context.Background()); err != nil || len(ms) != 1 {
		t.Fatalf("Models: %v %v", ms, err)
	}
	if h := rt.Health(context.Background()); !h.OK || h.Status != "ready" || h.Since != s.Health().Since {
		t.Fatalf("Health when ready: %+v (supervisor %+v)", h, s.Health())
	}
	up.healthy.Store(false)
	if h := rt.Health(context.Background()); h.OK || h.Detail != "upstream says no" {
		t.Fatalf("Health with a failing upstream: %+v", h)
	}
	up.healthy.Store(true)

	// While the child restarts, requests fail fast.
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "restarting", 5*time.Second, func() bool { return s.Health().Status == StatusRestarting })
	calls := up.calls.Load()
	unavailable(t, rt, "restarting: exited (signal: killed)")
	if h := rt.Health(context.Background()); h.OK || h.Status != StatusRestarting {
		t.Fatalf("Health while restarting: %+v", h)
	}
	if up.calls.Load() != calls {
		t.Fatal("requests reached the upstream while the child was restarting")
	}
	testwait.For(t, "ready again", 10*time.Second, func() bool { return rt.Health(context.Background()).OK })

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if up.closed.Load() != 1 || s.PID() != 0 {
		t.Fatalf("Close: upstream closed %d times, pid %d", up.closed.Load(), s.PID())
	}
	unavailable(t, rt, "down: closed")
}

func TestWrapUpstreamStartFails(t *testing.T) {
	e := newEnv(t)
	s := e.new(t)
	up := &upstream{startErr: errors.New("no models")}
	err := Wrap(s, up).(runtime.Starter).Start(context.Background())
	if err == nil || err.Error() != "no models" {
		t.Fatalf("Start: %v", err)
	}
	if h := s.Health(); h.Status != StatusDown || s.PID() != 0 {
		t.Fatalf("child left running: %+v pid %d", h, s.PID())
	}
}
