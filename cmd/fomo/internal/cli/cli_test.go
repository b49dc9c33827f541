package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime"
	"github.com/spf13/cobra"
)

// run executes the client commands with args and returns what they wrote.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runHome(t, t.TempDir(), args...)
}

// runHome executes the client commands with args over home.
func runHome(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "fomo", SilenceUsage: true, SilenceErrors: true}
	f := &Flags{Home: home}
	root.AddCommand(Commands(f)...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

type noModels struct{}

func (noModels) Do(context.Context, *runtime.Request) (runtime.Stream, error) {
	return nil, errors.New("no models")
}
func (noModels) Models() []runtime.Model            { return nil }
func (noModels) Model(string) (runtime.Model, bool) { return runtime.Model{}, false }

// chain answers one account and one closed epoch.
type chain struct{}

func (chain) Status() api.ChainStatus { return api.ChainStatus{ChainID: "fomo-test"} }
func (chain) SubmitTx(context.Context, []byte) (api.TxResult, error) {
	return api.TxResult{}, errors.New("read only")
}
func (chain) AppHashAfter(context.Context, int64) ([]byte, time.Time, error) {
	return nil, time.Time{}, errors.New("no blocks")
}

// notFound is a query miss.
type notFound struct{ error }

func (notFound) Is(target error) bool { return target == api.ErrNotFound }

func (chain) Query(_ context.Context, path string) ([]byte, error) {
	const epoch = `{"epoch":0,"closed_height":9,"receipts_root":"0123456789abcdef0123","receipts":2,"paid":2,"gross":1500000,` +
		`"models":[{"model":"m","split":{"receipts":2,"tokens":40,"gross":1500000}}]}`
	switch {
	case path == "/account/alice":
		return []byte(`{"id":"alice","balances":{"usd":25000000},"nonce":3}`), nil
	case strings.HasPrefix(path, "/epochs?"):
		return []byte(`{"epochs":[` + epoch + `],"next_epoch":1}`), nil
	case path == "/epoch/0":
		return []byte(epoch), nil
	}
	kind, arg, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return nil, notFound{fmt.Errorf("not found: %s %s", kind, arg)}
}

func node(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(chain{})))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestChainCommands(t *testing.T) {
	url := node(t)
	// Amounts read as decimals with their denoms; --json is the API's
	// answer, in base units.
	out, err := run(t, "account", "show", "alice", "--api", url)
	if err != nil || !regexp.MustCompile(`(?m)^nonce +3$`).MatchString(out) || !regexp.MustCompile(`(?m)^balance +25\.000000 usd$`).MatchString(out) ||
		strings.Contains(out, "25000000") {
		t.Fatalf("account show: %v\n%s", err, out)
	}
	out, err = run(t, "account", "show", "alice", "--json", "--api", url)
	if err != nil || !strings.Contains(out, `"nonce": 3`) || !strings.Contains(out, `"usd": 25000000`) {
		t.Fatalf("account show --json: %v\n%s", err, out)
	}
	_, err = run(t, "account", "show", "bob", "--api", url)
	if err == nil || ErrorMessage(err) != "account bob not found" {
		t.Fatalf("account show of an unknown account: %v", err)
	}
	out, err = run(t, "epoch", "list", "--api", url)
	if err != nil || !strings.Contains(out, "epoch 0 closed at height 9: 2 receipts (0 unpaid), root 0123456789abcdef…") || !strings.Contains(out, "1.5") {
		t.Fatalf("epoch list: %v\n%s", err, out)
	}
	out, err = run(t, "epoch", "show", "0", "--api", url)
	if err != nil || !regexp.MustCompile(`(?m)^gross +1\.500000 usd$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^model m +2 receipts, 40 tokens: gross 1\.500000 usd`).MatchString(out) ||
		!strings.Contains(out, "root 0123456789abcdef0123") || strings.Contains(out, "1500000") {
		t.Fatalf("epoch show: %v\n%s", err, out)
	}
	out, err = run(t, "epoch", "show", "0", "--json", "--api", url)
	if err != nil || !strings.Contains(out, `"receipts_root": "0123456789abcdef0123"`) || !strings.Contains(out, `"gross": 1500000`) {
		t.Fatalf("epoch show --json: %v\n%s", err, out)
	}
	if _, err := run(t, "epoch", "show", "zero", "--api", url); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Fatalf("epoch show zero: %v", err)
	}
	// This node serves no receipts: the route is not there.
	if _, err := run(t, "receipts", "list", "--api", url); err == nil || !strings.HasPrefix(err.Error(), "404 Not Found: no endpoint GET /api/v1/receipts") {
		t.Fatalf("receipts list: %v", err)
	}
}

func TestUnreachableNodeIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"receipts", "list"}, {"account", "show", "alice"}, {"model", "providers", "m"}, {"gpu"},
	} {
		_, err := run(t, append(args, "--api", "http://"+addr)...)
		if want := "cannot reach the node at http://" + addr + ": is it running?"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", strings.Join(args, " "), err, want)
		} else if !strings.HasSuffix(err.Error(), "set the node's address with --api URL or FOMO_API") {
			t.Errorf("%s: error %q does not say how to set the node's address (--api, FOMO_API)", strings.Join(args, " "), err)
		}
	}
}

// TestAPIFromEnv: without --api, the commands ask the node FOMO_API names
// (as DIR/env of a devnet sets it); --api still wins.
func TestAPIFromEnv(t *testing.T) {
	url := node(t)
	t.Setenv(APIEnv, url)
	for _, args := range [][]string{{"account", "show", "alice"}, {"epoch", "list"}, {"epoch", "show", "0"}} {
		if out, err := run(t, args...); err != nil {
			t.Errorf("%s with FOMO_API=%s: %v\n%s", strings.Join(args, " "), url, err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := run(t, "account", "show", "alice", "--api", "http://"+addr); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("--api does not win over FOMO_API: %v", err)
	}
}

// TestLinksNoNode keeps this package a client: it must not link the node
// nor the consensus engine.
func TestLinksNoNode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/fomonet/fomo/node" || strings.HasPrefix(dep, "github.com/cometbft/cometbft") {
			t.Fatalf("package cli links %s", dep)
		}
	}
}
