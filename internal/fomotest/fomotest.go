// Package fomotest runs the fomo binary for tests: it builds the binary once
// per test process, waits for a condition or for a `fomo devnet` to start,
// and reads a node's chain through its HTTP API.
//
// It imports only the standard library and internal/testwait, so the tests
// of any package (and the fault campaign under test/) may use it.
package fomotest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	binOut  []byte
)

// BuildBinary builds the fomo command once per test process, on first use,
// and returns the binary's path; it fails tb when the build fails. Main
// removes the binary when the tests are done.
func BuildBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "fomo-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "fomo")
		binOut, binErr = exec.Command("go", "build", "-o", binPath, "github.com/fomonet/fomo/cmd/fomo").CombinedOutput()
	})
	if binErr != nil {
		tb.Fatalf("building fomo: %v\n%s", binErr, binOut)
	}
	return binPath
}

// Main runs the tests and removes the binary that BuildBinary built; a
// package's TestMain calls os.Exit(fomotest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	return code
}

// WaitFor polls cond every 100 ms until it holds; it fails tb when within
// passes first.
func WaitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	testwait.Every(tb, 100*time.Millisecond, what, within, cond)
}

// DevnetNode is a node as `fomo devnet` announces it.
type DevnetNode struct {
	Index     int
	API, Peer string
	PID       int
}

var devnetLineRE = regexp.MustCompile(`(?m)^node(\d+) api=(\S+) peer=(\S+) pid=(\d+)$`)

// WaitDevnet waits until out, the output of a `fomo devnet` process, says
// "devnet running", and returns the n nodes it announced, in order. It fails
// tb when exited closes first (the process ended), when within passes, or
// when a node was not announced.
func WaitDevnet(tb testing.TB, out fmt.Stringer, exited <-chan struct{}, n int, within time.Duration) []DevnetNode {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), "devnet running") {
		select {
		case <-exited:
			tb.Fatalf("devnet exited:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("devnet did not start within %s:\n%s", within, out)
		}
	}
	nodes := make([]DevnetNode, n)
	seen := make([]bool, n)
	for _, m := range devnetLineRE.FindAllStringSubmatch(out.String(), -1) {
		i, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[4])
		if i < n {
			nodes[i], seen[i] = DevnetNode{Index: i, API: m[2], Peer: m[3], PID: pid}, true
		}
	}
	for i, ok := range seen {
		if !ok {
			tb.Fatalf("devnet printed no line for node%d:\n%s", i, out)
		}
	}
	return nodes
}

// GetJSON GETs url within timeout and decodes a 200 answer into out.
func GetJSON(ctx context.Context, url string, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

// Height returns the chain height of the node whose API is at api, -1 when
// it does not answer within timeout.
func Height(api string, timeout time.Duration) int64 {
	var st struct {
		Height int64 `json:"height"`
	}
	if GetJSON(context.Background(), api+"/api/v1/chain", &st, timeout) != nil {
		return -1
	}
	return st.Height
}

// AppHashAt returns the app hash after block h on the node whose API is at
// api, "" when it does not know it (yet).
func AppHashAt(api string, h int64) string {
	var b struct {
		AppHash string `json:"app_hash"`
	}
	if GetJSON(context.Background(), fmt.Sprintf("%s/api/v1/chain/blocks/%d", api, h), &b, 5*time.Second) != nil {
		return ""
	}
	return b.AppHash
}
