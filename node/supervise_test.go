package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// The supervised backend in these tests is this test binary itself, run as
// an OpenAI-compatible stand-in server (see TestMain).
const (
	envUpstreamAddr = "FOMO_NODE_TEST_UPSTREAM"
	envUpstreamPID  = "FOMO_NODE_TEST_PIDFILE"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envUpstreamAddr); addr != "" {
		if pf := os.Getenv(envUpstreamPID); pf != "" {
			os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())), 0o600)
		}
		u := runtimetest.NewUpstream(runtimetest.WithModels("supervised"), runtimetest.WithTokens(8))
		if err := runtimetest.ListenAndServe(context.Background(), addr, u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "fomo-node-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testAccounts = writeTestAccounts(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func readPID(t *testing.T, path string, not int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != not {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new pid in %s within %s", path, within)
	return 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	// A zombie still answers kill(0); it is gone for our purposes.
	b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if rerr != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) < 3 || fields[2] != "Z"
}

func TestSupervisedBackendRestartsAndIsStopped(t *testing.T) {
	addr := testhttp.FreeAddr(t).String()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	cfg := testConfig()
	cfg.Runtime = []configs.Runtime{{
		Name:         "sup",
		Kind:         configs.KindSupervise,
		Command:      []string{os.Args[0], "-test.run=^$"},
		Env:          []string{envUpstreamAddr + "=" + addr, envUpstreamPID + "=" + pidFile},
		URL:          "http://" + addr,
		HealthURL:    "http://" + addr + "/health",
		StartTimeout: configs.Duration(30 * time.Second),
		StopTimeout:  configs.Duration(5 * time.Second),
	}}
	n, err := New(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			n.Stop(context.Background())
		}
	}()
	via := client("http://" + n.APIAddr())
	if _, err := via.CreateChatCompletion(context.Background(), chatRequest("supervised", false)); err != nil {
		t.Fatalf("request to the supervised backend: %v", err)
	}
	pid := readPID(t, pidFile, 0, 5*time.Second)

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	newPID := readPID(t, pidFile, pid, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := via.CreateChatCompletion(context.Background(), chatRequest("supervised", false))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend not serving again after a restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("killed child %d still alive", pid)
	}

	stopped = true
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(newPID) {
		t.Fatalf("supervised child %d outlived the node", newPID)
	}
}
