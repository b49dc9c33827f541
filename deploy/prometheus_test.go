package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testbuf"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/node/nodetest"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/receipt"
)

func TestPrometheusConfigChecks(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	if out, err := exec.Command(promtool, "check", "config", "prometheus.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check config prometheus.yml: %v\n%s", err, out)
	}
}

// notSampled are the dashboard's metrics the test node does not export,
// each with the reason.
var notSampled = map[string]string{
	"fomo_runtime_queue_depth":          "only runtimes that queue in the node (the built-in engine) export it; the test node serves from an upstream",
	"fomo_chain_receipts_refused_total": "exported per refusal reason once a block refused a receipt; the test's receipts are all included",
}

// TestDashboardMetricsHaveSamples runs a chain validator that serves a
// model and has GPUs, sends it requests, has a real Prometheus scrape it
// with deploy/prometheus.yml (pointed at it, scraping every second) and
// checks that every metric the Grafana dashboard queries has samples and
// that every expression of the dashboard is valid PromQL.
func TestDashboardMetricsHaveSamples(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (Debian package prometheus)")
	}
	exprs, names := dashboardExprs(t)
	skip := notSampled
	if gpuSource(t) == nil {
		skip = maps.Clone(notSampled)
		for _, n := range names {
			if strings.HasPrefix(n, "fomo_gpu") {
				skip[n] = "the node runs without GPUs: the NVML fakes need cgo"
			}
		}
	}

	api := startNode(t)
	for range 3 {
		resp, body := testhttp.Post(t, "http://"+api+"/v1/chat/completions",
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("chat completion: %d %s", resp.StatusCode, body)
		}
	}

	base := startPrometheus(t, prom, api)
	testwait.Every(t, 200*time.Millisecond, "prometheus to scrape the node", 30*time.Second, func() bool {
		var targets struct {
			Data struct {
				ActiveTargets []struct {
					Health string `json:"health"`
					Labels struct {
						Job string `json:"job"`
					} `json:"labels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		promGet(t, base, "/api/v1/targets", nil, &targets)
		at := targets.Data.ActiveTargets
		return len(at) == 1 && at[0].Labels.Job == "fomo" && at[0].Health == "up"
	})

	// Counters and gauges appear with the first scrape after the node
	// exports them; give them a few scrapes.
	var missing []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		missing = missing[:0]
		for _, n := range names {
			if _, ok := skip[n]; ok {
				continue
			}
			var res queryResult
			promGet(t, base, "/api/v1/query", url.Values{"query": {n}}, &res)
			if len(res.Data.Result) == 0 {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard queries metrics that have no samples: %v", missing)
		}
	}
	for _, e := range exprs {
		var res queryResult
		promGet(t, base, "/api/v1/query", url.Values{"query": {e}}, &res)
		if res.Status != "success" {
			t.Errorf("dashboard expression %q: %s", e, res.Error)
		}
	}
	for n, why := range skip {
		t.Logf("not checked: %s: %s", n, why)
	}
}

type queryResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result []json.RawMessage `json:"result"`
	} `json:"data"`
}

// metricName matches the metric names in PromQL: fomo's, Go's and up.
var metricName = regexp.MustCompile(`\b(fomo_[a-z0-9_]+|go_[a-z0-9_]+|up)\b`)

// dashboardExprs returns the expressions of grafana/fomo.json, with its
// variables replaced by what Prometheus can run ($instance: every node;
// $__rate_interval: 30s), and the metric names they use.
func dashboardExprs(t *testing.T) (exprs, names []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "fomo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/fomo.json: %v", err)
	}
	r := strings.NewReplacer("$instance", ".*", "$__rate_interval", "30s")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q: a target without an expression", p.Title)
				continue
			}
			exprs = append(exprs, r.Replace(tg.Expr))
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				if !slices.Contains(names, m) {
					names = append(names, m)
				}
			}
		}
	}
	if len(exprs) == 0 {
		t.Fatal("grafana/fomo.json has no expressions")
	}
	slices.Sort(names)
	return exprs, names
}

// startNode starts a node in process that is the one validator of its own
// chain, serves model m from a stand-in upstream and lets requests without
// an API key spend a funded account through its session key. It returns
// the API's address.
func startNode(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	key, id := testkeys.New(t)
	if err := identity.Save(filepath.Join(home, "keys", "node.key"), key); err != nil {
		t.Fatal(err)
	}
	_, user := testkeys.New(t)
	sessionKey, session := testkeys.New(t)

	g := networks.Devnet()
	g.GenesisTime = time.Now().UTC().Truncate(time.Second)
	g.EpochLength = networks.Duration(2 * time.Second)
	g.Chain.EpochGrace = networks.Duration(200 * time.Millisecond)
	g.Tiers = []networks.Tier{{Name: "small", CostPerMtok: 1_000_000, MinInputPrice: 2_000_000, MinOutputPrice: 2_000_000,
		RaiseMin: 1, RaiseMax: 2}}
	g.Balances = []networks.Balance{{Account: user.String(), USD: 1_000_000_000}}
	g.Validators = []networks.Validator{{PeerID: id.String(), Power: 10}}
	g.SessionKeys = []networks.SessionKey{{Account: user.String(), Key: session.String(),
		SpendLimit: 1_000_000_000, ExpiresAt: g.GenesisTime.AddDate(1, 0, 0)}}
	sum := sha256.Sum256([]byte("manifest"))
	g.Models = []networks.Model{{Name: "m", Issuer: id.String(), ManifestSHA256: hex.EncodeToString(sum[:]), Tier: "small",
		InputPrice: 3_000_000, OutputPrice: 6_000_000, Nodes: []string{id.String()}}}
	gb, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "genesis.toml"), gb, 0o644); err != nil {
		t.Fatal(err)
	}

	up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(8))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)

	sk, err := receipt.EncodeSessionKey(sessionKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.AutoNAT, cfg.P2P.HolePunching, cfg.P2P.NATPortMap = false, false, false
	cfg.P2P.Network = "genesis.toml"
	cfg.GPU.Enabled = false
	cfg.Auth.OpenAccessKey = sk
	cfg.Chain.Enabled = true
	cfg.Chain.Listen = "tcp://127.0.0.1:0"
	cfg.Chain.BlockInterval = configs.Duration(200 * time.Millisecond)
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	cfg.Node.ShutdownTimeout = configs.Duration(10 * time.Second)

	var opts []node.Option
	if src := gpuSource(t); src != nil {
		opts = append(opts, node.WithGPUSource(src))
	}
	return nodetest.Start(t, cfg, home, opts...).APIAddr()
}

// startPrometheus runs prometheus with deploy/prometheus.yml, its target
// replaced by api and its scrape interval by a second, on a free port with
// its storage in a temporary directory. It returns its base URL.
func startPrometheus(t *testing.T, bin, api string) string {
	t.Helper()
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range [][2]string{{"127.0.0.1:8080", api}, {"scrape_interval: 15s", "scrape_interval: 1s"}} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("prometheus.yml has no %q to replace", r[0])
		}
		cfg = strings.ReplaceAll(cfg, r[0], r[1])
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testhttp.FreeAddr(t).String()
	var out testbuf.Buffer
	cmd := exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	testwait.Every(t, 100*time.Millisecond, "prometheus to be ready", 30*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// promGet GETs path of Prometheus' HTTP API and decodes the answer into v.
func promGet(t *testing.T, base, path string, q url.Values, v any) {
	t.Helper()
	u := base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(fmt.Errorf("%s: %w: %s", u, err, b))
	}
}
