package openai

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// fixedNow keeps the upstream's "created" field stable across requests.
func fixedNow() time.Time { return time.Unix(1700000000, 0) }

// env is a runtime in front of a fake upstream on loopback.
type env struct {
	up  *runtimetest.Upstream
	url string
	rt  *Runtime
}

func newEnv(t *testing.T, upOpts []runtimetest.Option, cfg func(*Config), opts ...Option) *env {
	t.Helper()
	up := runtimetest.NewUpstream(append([]runtimetest.Option{runtimetest.WithNow(fixedNow)}, upOpts...)...)
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)
	c := Config{Name: "up", URL: srv.URL}
	if cfg != nil {
		cfg(&c)
	}
	rt, err := New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return &env{up: up, url: srv.URL, rt: rt}
}

// recvAll reads a stream to its end and returns the events and the final
// error.
func recvAll(s runtime.Stream) ([][]byte, error) {
	var out [][]byte
	for {
		ev, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, ev.Data)
	}
}

// direct posts body to the upstream itself and returns the data of its
// events, without the closing [DONE].
func direct(t *testing.T, url, path string, body []byte) [][]byte {
	t.Helper()
	_, b := testhttp.Post(t, url+path, string(body))
	ev := runtimetest.SSEData(b)
	if len(ev) == 0 || string(ev[len(ev)-1]) != "[DONE]" {
		t.Fatalf("direct stream did not end with [DONE]: %s", b)
	}
	return ev[:len(ev)-1]
}

func asError(t *testing.T, err error) *runtime.Error {
	t.Helper()
	var e *runtime.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *runtime.Error", err, err)
	}
	return e
}

func waitCancelled(t *testing.T, up *runtimetest.Upstream, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := up.WaitCancelled(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// fakeClock is a manual Clock: timers fire only on Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan struct{}
	resets chan struct{}
}

type fakeTimer struct {
	c      *fakeClock
	when   time.Time
	f      func()
	active bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1800000000, 0), added: make(chan struct{}, 1024), resets: make(chan struct{}, 1<<16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	t := &fakeTimer{c: c, when: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.added <- struct{}{}
	return t
}

// waitTimer blocks until a timer has been created.
func (c *fakeClock) waitTimer(t *testing.T) {
	t.Helper()
	waitSignal(t, c.added, "no timer was started")
}

// Advance moves time forward and runs the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.active = false
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	was := t.active
	t.when, t.active = t.c.now.Add(d), true
	t.c.mu.Unlock()
	select {
	case t.c.resets <- struct{}{}:
	default:
	}
	return was
}

// waitReset blocks until a timer has been reset.
func (c *fakeClock) waitReset(t *testing.T) {
	t.Helper()
	waitSignal(t, c.resets, "no timer was reset")
}

// waitSignal receives from ch, failing t with msg after 10 s.
func waitSignal(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}
