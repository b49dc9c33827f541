package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
)

// testUser is the account the test nodes' open-access key pays for, and
// testSession (testSessionKey) its session key.
var (
	testUserKey, testUser       = testkeys.MustNew()
	testSessionKey, testSession = testkeys.MustNew()
	testAccounts                string // registry file, written by TestMain
)

// writeTestAccounts writes a registry in dir in which the test user has
// ample credit and testSessionKey is its session key.
func writeTestAccounts(dir string) string {
	f := meter.AccountsFile{Account: []meter.RegistryAccount{{
		ID: testUser.String(), Credit: 1e15, SessionKeys: []string{testSession.String()},
	}}}
	b, err := f.Encode()
	if err != nil {
		panic(err)
	}
	p := filepath.Join(dir, "accounts.toml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		panic(err)
	}
	return p
}

// testConfig is a config that listens only on free loopback ports and
// lets requests without an API key be paid by the test user.
func testConfig() configs.Config {
	cfg := configs.Default()
	cfg.Auth.Accounts = testAccounts
	sk, err := receipt.EncodeSessionKey(testSessionKey)
	if err != nil {
		panic(err)
	}
	cfg.Auth.OpenAccessKey = sk
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.GPU.Enabled = false
	cfg.P2P.AutoNAT, cfg.P2P.HolePunching, cfg.P2P.NATPortMap = false, false, false
	cfg.Node.ShutdownTimeout = configs.Duration(10 * time.Second)
	cfg.Node.StreamGrace = configs.Duration(2 * time.Second)
	return cfg
}

func startNode(t testing.TB, cfg configs.Config, opts ...Option) *Node {
	t.Helper()
	n, err := New(cfg, t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return n
}

func grep(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNodeWithoutGPUs(t *testing.T) {
	cfg := testConfig()
	cfg.Store.Backend = "pebble"
	n := startNode(t, cfg)
	code, body := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/gpus")
	if code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("/api/v1/gpus = %d %q, want 200 []", code, body)
	}
	if _, err := os.Stat(filepath.Join(n.DataDir(), "datastore")); err != nil {
		t.Fatalf("pebble datastore not created: %v", err)
	}
}

func TestStartFailureStopsStartedParts(t *testing.T) {
	// Occupy a port, then ask the node's API to listen on it: the API part
	// fails after the host and datastore started; they must be stopped.
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig()
	cfg.API.Listen = ln.Addr().String()
	n, err := New(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "api.listen") {
		t.Fatalf("Start = %v, want an api.listen error", err)
	}
	if addrs := n.host.Network().ListenAddresses(); len(addrs) != 0 {
		t.Fatal("p2p host still listening after a failed start")
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after failed Start: %v", err)
	}
}

func TestStopNeverStarted(t *testing.T) {
	n, err := New(testConfig(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}
