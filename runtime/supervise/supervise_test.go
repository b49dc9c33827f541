//go:build linux

package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/runtime"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []logRec
}

type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRec{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, lr)
	r.mu.Unlock()
	return nil
}

// find returns the records matching pred.
func (r *recorder) find(pred func(logRec) bool) []logRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRec
	for _, x := range r.recs {
		if pred(x) {
			out = append(out, x)
		}
	}
	return out
}

func (r *recorder) withMsg(msg string) []logRec {
	return r.find(func(x logRec) bool { return x.msg == msg })
}

func (r *recorder) dump(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.recs {
		t.Logf("log: %s %q %v", x.level, x.msg, x.attrs)
	}
}

// fakeGPUs returns fixed statuses.
type fakeGPUs struct {
	sts []gpu.Status
	err error
}

func (f fakeGPUs) Sample(context.Context) ([]gpu.Status, error) { return f.sts, f.err }

const gib1 = 1 << 30

// h100s returns n H100s with the given free memory each.
func h100s(n int, free ...uint64) []gpu.Status {
	var sts []gpu.Status
	for i := range n {
		f := uint64(70 * gib1)
		if i < len(free) {
			f = free[i]
		}
		sts = append(sts, gpu.Status{
			Device: gpu.Device{Index: i, UUID: fmt.Sprintf("GPU-%08x-0000", i), Name: "NVIDIA H100 80GB HBM3",
				MemoryTotalBytes: 80 * gib1},
			Sample: &gpu.Sample{MemoryFreeBytes: f, MemoryUsedBytes: 80*gib1 - f, Healthy: true},
		})
	}
	return sts
}

// env is one test's supervised child: its config, the URL of its server and
// the log.
type env struct {
	cfg  Config
	base string
	log  *recorder
	dir  string
}

// newEnv returns a config that runs the test binary's serve mode with the
// given extra variables, and timings short enough for tests.
func newEnv(t *testing.T, vars ...string) *env {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := testhttp.FreeAddr(t).Port
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	e := &env{base: base, log: &recorder{}, dir: t.TempDir()}
	e.cfg = Config{
		Command:           []string{exe},
		Env:               append([]string{childEnvVar + "=serve", "FOMO_SUPERVISE_PORT=" + strconv.Itoa(port)}, vars...),
		HealthURL:         base + "/health",
		StartTimeout:      15 * time.Second,
		HealthInterval:    20 * time.Millisecond,
		HealthFailures:    3,
		RestartBackoffMin: 10 * time.Millisecond,
		RestartBackoffMax: 80 * time.Millisecond,
		StopTimeout:       5 * time.Second,
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.log.dump(t)
		}
	})
	return e
}

// start builds and starts a supervisor, closed at the end of the test.
func (e *env) start(t *testing.T, opts ...Option) *Supervisor {
	t.Helper()
	s := e.new(t, opts...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

func (e *env) new(t *testing.T, opts ...Option) *Supervisor {
	t.Helper()
	s, err := New(e.cfg, append([]Option{WithLogger(slog.New(e.log)), WithName("child")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(e.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exit asks the child to exit with code; it does not answer.
func (e *env) exit(code int) {
	resp, err := http.Get(fmt.Sprintf("%s/exit?code=%d", e.base, code))
	if err == nil {
		resp.Body.Close()
	}
}

func (e *env) getInt(t *testing.T, path string) int {
	t.Helper()
	n, err := strconv.Atoi(e.get(t, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return n
}

// gone reports whether pid no longer exists, reaping it first if it is an
// orphan re-parented to the test process.
func gone(pid int) bool {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	testwait.For(t, fmt.Sprintf("%s (pid %d) to be gone", what, pid), 5*time.Second, func() bool { return gone(pid) })
}

func TestStartReady(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var lines []string
	s := e.new(t, WithOutput(func(stream, line string) {
		mu.Lock()
		lines = append(lines, stream+": "+line)
		mu.Unlock()
	}))
	if h := s.Health(); h.OK || h.Status != StatusDown {
		t.Fatalf("before Start: %+v", h)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := s.Health()
	if !h.OK || h.Status != StatusReady || h.Since.IsZero() {
		t.Fatalf("after Start: %+v", h)
	}
	pid := s.PID()
	if pid == 0 || e.getInt(t, "/pid") != pid {
		t.Fatalf("PID() = %d, child says %s", pid, e.get(t, "/pid"))
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Fatalf("child's process group %d (%v), want its own (%d)", pgid, err, pid)
	}
	if s.Restarts() != 0 {
		t.Fatalf("Restarts() = %d", s.Restarts())
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Start: %v", err)
	}
	// Output is logged line by line under the runtime's name.
	testwait.For(t, "child output in the log", 5*time.Second, func() bool {
		return len(e.log.find(func(r logRec) bool {
			return r.attrs["runtime"] == "child" && r.attrs["stream"] == "stderr" && r.msg == "stderr is alive"
		})) == 1 && len(e.log.find(func(r logRec) bool {
			return r.attrs["stream"] == "stdout" && strings.HasPrefix(r.msg, "serving on 127.0.0.1:")
		})) == 1
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(lines) != 2 || !slicesContain(lines, "stderr: stderr is alive") {
		t.Errorf("output sink got %q", lines)
	}
	mu.Unlock()
	if h := s.Health(); h.OK || h.Status != StatusDown || h.Detail != "closed" {
		t.Fatalf("after Close: %+v", h)
	}
	if s.PID() != 0 {
		t.Fatalf("PID() after Close = %d", s.PID())
	}
	waitGone(t, "child", pid)
	if err := s.Start(context.Background()); !errors.Is(err, runtime.ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestGPUEnvironment(t *testing.T) {
	for name, tc := range map[string]struct {
		gpus      []int
		inherited string // CUDA_VISIBLE_DEVICES of the node; "-" for unset
		want      map[string]string
	}{
		"two gpus": {gpus: []int{3, 1}, inherited: "0",
			want: map[string]string{"CUDA_VISIBLE_DEVICES": "3,1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "FOMO_TEST_VAR": "x"}},
		"one gpu": {gpus: []int{0}, inherited: "-",
			want: map[string]string{"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "FOMO_TEST_VAR": "x"}},
		"no gpus inherits": {inherited: "5,6",
			want: map[string]string{"CUDA_VISIBLE_DEVICES": "5,6", "CUDA_DEVICE_ORDER": "-", "FOMO_TEST_VAR": "x"}},
		"no gpus unset": {inherited: "-",
			want: map[string]string{"CUDA_VISIBLE_DEVICES": "-", "CUDA_DEVICE_ORDER": "-", "FOMO_TEST_VAR": "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.inherited == "-" {
				t.Setenv("CUDA_VISIBLE_DEVICES", "")
				os.Unsetenv("CUDA_VISIBLE_DEVICES")
			} else {
				t.Setenv("CUDA_VISIBLE_DEVICES", tc.inherited)
			}
			t.Setenv("CUDA_DEVICE_ORDER", "")
			os.Unsetenv("CUDA_DEVICE_ORDER")
			e := newEnv(t, "FOMO_TEST_VAR=x")
			e.cfg.GPUs = tc.gpus
			e.cfg.MinFreeMemory = 0
			if len(tc.gpus) > 0 {
				e.cfg.MinFreeMemory = 40 * gib1
			}
			e.start(t, WithGPUs(fakeGPUs{sts: h100s(4)}))
			var got map[string]*string
			if err := json.Unmarshal([]byte(e.get(t, "/env")), &got); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				v := "-"
				if got[k] != nil {
					v = *got[k]
				}
				if v != want {
					t.Errorf("child's %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

func TestStartRefusedByGPUs(t *testing.T) {
	for name, tc := range map[string]struct {
		gpus    []int
		minFree uint64
		source  GPUs // nil: no WithGPUs
		want    string
	}{
		"too little free memory": {
			gpus: []int{0, 1}, minFree: 40 * gib1,
			source: fakeGPUs{sts: h100s(8, 70*gib1, 12*gib1+3*gib1/10)},
			want:   "supervise: gpu 1 (NVIDIA H100 80GB HBM3, GPU-00000001-0000) has 12.3 GiB free, command needs 40.0 GiB",
		},
		"unknown index": {
			gpus: []int{9}, source: fakeGPUs{sts: h100s(8)},
			want: "supervise: gpu 9 not present (host has 8 GPUs)",
		},
		"no gpu source": {
			gpus: []int{0},
			want: "supervise: gpu 0 not present (host has 0 GPUs)",
		},
		"memory not reported": {
			gpus: []int{0}, minFree: gib1,
			source: fakeGPUs{sts: []gpu.Status{{Device: gpu.Device{Index: 0, Name: "Tesla T4"},
				Sample: &gpu.Sample{Unsupported: []string{gpu.FieldMemory}}}}},
			want: "supervise: gpu 0 (Tesla T4) reports no free memory, cannot check min_free_memory 1.0 GiB",
		},
		"sampling fails": {
			gpus: []int{0}, source: fakeGPUs{err: errors.New("nvml: driver not loaded")},
			want: "supervise: child: reading GPU state: nvml: driver not loaded",
		},
		"partial sample": {
			gpus: []int{0}, minFree: gib1,
			source: fakeGPUs{sts: h100s(1, 0), err: errors.New("gpu 0: memory: unknown error")},
			want:   "supervise: gpu 0 (NVIDIA H100 80GB HBM3, GPU-00000000-0000) has 0.0 GiB free, command needs 1.0 GiB (reading GPU state: gpu 0: memory: unknown error)",
		},
	} {
		t.Run(name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "started")
			e := newEnv(t, "FOMO_SUPERVISE_MARKER="+marker)
			e.cfg.GPUs, e.cfg.MinFreeMemory = tc.gpus, tc.minFree
			var opts []Option
			if tc.source != nil {
				opts = append(opts, WithGPUs(tc.source))
			}
			s := e.new(t, opts...)
			err := s.Start(context.Background())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Start error\n got: %v\nwant: %s", err, tc.want)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the command was started (marker: %v)", err)
			}
			if h := s.Health(); h.Status != StatusDown || h.Detail != tc.want || s.PID() != 0 {
				t.Fatalf("after refused start: %+v, pid %d", h, s.PID())
			}
		})
	}
}

func TestRestartAfterKill(t *testing.T) {
	e := newEnv(t)
	e.cfg.RestartBackoffMin = 200 * time.Millisecond // long enough to see "restarting"
	e.cfg.RestartBackoffMax = time.Second
	s := e.start(t)
	pid := s.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "status restarting", 5*time.Second, func() bool { return s.Health().Status == StatusRestarting })
	if h := s.Health(); h.OK || h.Detail != "exited (signal: killed)" {
		t.Fatalf("while restarting: %+v", h)
	}
	testwait.For(t, "a new ready child", 10*time.Second, func() bool {
		return s.Health().OK && s.PID() != 0 && s.PID() != pid
	})
	if got := s.Restarts(); got != 1 {
		t.Fatalf("Restarts() = %d, want 1", got)
	}
	if got := e.getInt(t, "/pid"); got != s.PID() {
		t.Fatalf("serving pid %d, PID() %d", got, s.PID())
	}
	if !gone(pid) {
		t.Fatalf("killed child %d not reaped", pid)
	}
	failed := e.log.withMsg("runtime failed")
	restarting := e.log.withMsg("restarting runtime")
	if len(failed) != 1 || failed[0].attrs["exit"] != "signal: killed" || failed[0].attrs["pid"] != strconv.Itoa(pid) {
		t.Fatalf("failure log: %v", failed)
	}
	if len(restarting) != 1 || restarting[0].attrs["restart"] != "1" || restarting[0].attrs["backoff"] != "200ms" {
		t.Fatalf("restart log: %v", restarting)
	}
}

func TestRestartBackoff(t *testing.T) {
	failFile := filepath.Join(t.TempDir(), "fail")
	e := newEnv(t, "FOMO_SUPERVISE_FAIL_FILE="+failFile)
	s := e.start(t)
	// Every restart fails until the file is removed.
	if err := os.WriteFile(failFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.exit(7)
	testwait.For(t, "five failed restarts", 10*time.Second, func() bool { return len(e.log.withMsg("runtime restart failed")) >= 5 })
	if h := s.Health(); h.OK || h.Status != StatusRestarting ||
		!strings.HasPrefix(h.Detail, "supervise: child exited during start (exit status 4); last stderr:\n\tfatal: fail file present") {
		t.Fatalf("while restarts fail: %+v", h)
	}
	if err := os.Remove(failFile); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "ready again", 10*time.Second, func() bool { return s.Health().OK })
	n := s.Restarts()
	if n < 6 {
		t.Fatalf("Restarts() = %d, want at least 6", n)
	}
	var waits []string
	for _, r := range e.log.withMsg("restarting runtime") {
		waits = append(waits, r.attrs["backoff"])
	}
	want := []string{"10ms", "20ms", "40ms", "80ms", "80ms"}
	if len(waits) != n || strings.Join(waits[:5], " ") != strings.Join(want, " ") {
		t.Fatalf("backoffs %v for %d restarts, want %v then 80ms", waits, n, want)
	}
	if got := e.log.withMsg("runtime failed"); len(got) != 1 || got[0].attrs["exit"] != "exit status 7" {
		t.Fatalf("failure log: %v", got)
	}
	// A child that stayed ready for restart_backoff_max resets the backoff.
	time.Sleep(e.cfg.RestartBackoffMax)
	e.exit(0)
	testwait.For(t, "another restart", 10*time.Second, func() bool { return s.Restarts() == n+1 && s.Health().OK })
	recs := e.log.withMsg("restarting runtime")
	if last := recs[len(recs)-1].attrs["backoff"]; last != "10ms" {
		t.Fatalf("backoff after a long healthy run = %s, want 10ms", last)
	}
}

func TestHealthFlapping(t *testing.T) {
	e := newEnv(t)
	s := e.start(t)
	pid := s.PID()
	// Every other probe fails: never health_failures in a row.
	e.get(t, "/control?health=flap")
	base := e.getInt(t, "/probes")
	testwait.For(t, "20 flapping probes", 10*time.Second, func() bool { return e.getInt(t, "/probes") >= base+20 })
	if s.Restarts() != 0 || s.PID() != pid || !s.Health().OK {
		t.Fatalf("flapping health restarted the child: restarts %d, pid %d→%d, %+v", s.Restarts(), pid, s.PID(), s.Health())
	}
	if len(e.log.withMsg("runtime health check failed")) == 0 || len(e.log.withMsg("runtime health check recovered")) == 0 {
		t.Fatal("failed and recovered probes not logged")
	}
	// Failing for good restarts it.
	e.get(t, "/control?health=fail")
	testwait.For(t, "a restart", 10*time.Second, func() bool { return s.Restarts() == 1 && s.Health().OK && s.PID() != pid })
	failed := e.log.withMsg("runtime failed")
	if len(failed) != 1 || !strings.HasPrefix(failed[0].attrs["reason"], "health check failed 3 times in a row: ") ||
		failed[0].attrs["exit"] != "stopped, signal: terminated" {
		t.Fatalf("failure log: %v", failed)
	}
	waitGone(t, "unhealthy child", pid)
}

func TestCloseStopsProcessGroup(t *testing.T) {
	for name, tc := range map[string]struct {
		leaderIgnores, grandchildIgnores bool
	}{
		"both stop on SIGTERM":       {},
		"child ignores SIGTERM":      {leaderIgnores: true},
		"grandchild ignores SIGTERM": {grandchildIgnores: true},
		"both ignore SIGTERM":        {leaderIgnores: true, grandchildIgnores: true},
	} {
		t.Run(name, func(t *testing.T) {
			var vars []string
			if tc.leaderIgnores {
				vars = append(vars, "FOMO_SUPERVISE_IGNORE_TERM=1")
			}
			e := newEnv(t, vars...)
			e.cfg.StopTimeout = 800 * time.Millisecond
			s := e.start(t)
			pid := s.PID()
			q := "/spawn"
			if tc.grandchildIgnores {
				q += "?ignore_term=1"
			}
			gpid := e.getInt(t, q)
			if pg, err := syscall.Getpgid(gpid); err != nil || pg != pid {
				t.Fatalf("grandchild's group %d (%v), want %d", pg, err, pid)
			}
			begin := time.Now()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			took := time.Since(begin)
			ignored := tc.leaderIgnores || tc.grandchildIgnores
			if ignored && took < e.cfg.StopTimeout {
				t.Errorf("Close took %s, less than stop_timeout %s", took, e.cfg.StopTimeout)
			}
			if !ignored && took >= e.cfg.StopTimeout {
				t.Errorf("Close took %s, want less than stop_timeout %s", took, e.cfg.StopTimeout)
			}
			if took > e.cfg.StopTimeout+3*time.Second {
				t.Errorf("Close took %s", took)
			}
			// The child is reaped by Close itself.
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("child %d after Close: kill(0) = %v, want ESRCH", pid, err)
			}
			waitGone(t, "grandchild", gpid)
			if got := len(e.log.withMsg("runtime did not stop after SIGTERM; killing its process group")); (got == 1) != ignored {
				t.Errorf("%d SIGKILL log records", got)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestChildExitsDuringStart(t *testing.T) {
	e := newEnv(t, "FOMO_SUPERVISE_EXIT=3")
	s := e.new(t)
	begin := time.Now()
	err := s.Start(context.Background())
	want := "supervise: child exited during start (exit status 3); last stderr:\n\tfatal: model file not found"
	if err == nil || err.Error() != want {
		t.Fatalf("Start error\n got: %v\nwant: %s", err, want)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("noticed the exit after %s", took)
	}
	if h := s.Health(); h.Status != StatusDown || h.Detail != want || s.PID() != 0 {
		t.Fatalf("after failed start: %+v pid %d", h, s.PID())
	}
}

func TestStartFailures(t *testing.T) {
	t.Run("start_timeout", func(t *testing.T) {
		e := newEnv(t, "FOMO_SUPERVISE_READY_DELAY=1h")
		e.cfg.StartTimeout = time.Second
		s := e.new(t)
		begin := time.Now()
		err := s.Start(context.Background())
		if took := time.Since(begin); took < time.Second || took > 5*time.Second {
			t.Errorf("Start gave up after %s, start_timeout 1s", took)
		}
		if err == nil || !strings.HasPrefix(err.Error(), "supervise: child did not become healthy within start_timeout 1s (last probe: ") {
			t.Fatalf("Start: %v", err)
		}
		started := e.log.withMsg("runtime started")
		if len(started) != 1 {
			t.Fatalf("%d children started", len(started))
		}
		pid, _ := strconv.Atoi(started[0].attrs["pid"])
		waitGone(t, "child", pid)
		// A failed Start may be retried.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Start: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		e := newEnv(t, "FOMO_SUPERVISE_READY_DELAY=1h")
		s := e.new(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for deadline := time.Now().Add(5 * time.Second); s.PID() == 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		err := s.Start(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Start: %v, want context.Canceled", err)
		}
	})
	t.Run("closed while starting", func(t *testing.T) {
		e := newEnv(t, "FOMO_SUPERVISE_READY_DELAY=1h")
		s := e.new(t)
		errc := make(chan error, 1)
		go func() { errc <- s.Start(context.Background()) }()
		testwait.For(t, "child running", 5*time.Second, func() bool { return s.PID() != 0 })
		pid := s.PID()
		s.Close()
		if err := <-errc; err == nil || !strings.Contains(err.Error(), "closed while starting") {
			t.Fatalf("Start: %v", err)
		}
		waitGone(t, "child", pid)
		if h := s.Health(); h.Status != StatusDown || h.Detail != "closed" {
			t.Fatalf("%+v", h)
		}
	})
	t.Run("no such program", func(t *testing.T) {
		e := newEnv(t)
		e.cfg.Command = []string{filepath.Join(t.TempDir(), "no-such-server")}
		s := e.new(t)
		if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "supervise: starting child: ") {
			t.Fatalf("Start: %v", err)
		}
	})
}
