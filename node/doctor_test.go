package node

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
)

// doctorReport asks n's API for its diagnosis.
func doctorReport(t *testing.T, n *Node) api.DoctorReport {
	t.Helper()
	code, body := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/doctor")
	if code != 200 {
		t.Fatalf("GET /api/v1/doctor = %d %s", code, body)
	}
	var rep api.DoctorReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, body)
	}
	return rep
}

func findCheck(rep api.DoctorReport, name string) (api.Check, bool) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return api.Check{}, false
}

func describeReport(rep api.DoctorReport) string {
	var b strings.Builder
	for _, c := range rep.Checks {
		b.WriteString(c.Status + "  " + c.Name + ": " + c.Detail + " → " + c.Remedy + "\n")
	}
	return b.String()
}

// TestDoctorManifestMissing: the chain network's node serves a model
// registered on chain whose manifest no one announced; the doctor names
// that as a failure with its remedy. A paid request's receipt then shows
// among the receipts, included on chain.
func TestDoctorManifestMissing(t *testing.T) {
	n, _ := newChainNet(t).start(t)
	rep := doctorReport(t, n)
	c, ok := findCheck(rep, "manifest "+chainModel)
	if !ok || c.Status != api.CheckFail || !strings.Contains(c.Remedy, "fomo model announce") {
		t.Fatalf("manifest check = %+v, want a failure with the announce remedy\n%s", c, describeReport(rep))
	}
	if c, _ := findCheck(rep, "chain model "+chainModel); c.Status != api.CheckOK {
		t.Errorf("the genesis registers %s with this node serving it: %+v", chainModel, c)
	}

	body := []byte(`{"model":"m","messages":[{"role":"user","content":"doctor"}],"max_tokens":16}`)
	env := userAuthorization(t, n.genesis.ID(), n.ID(), body, time.Now())
	if resp, b := post(t, n.APIAddr(), body, map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}); resp.StatusCode != 200 {
		t.Fatalf("paid request: %d %s", resp.StatusCode, b)
	}
	waitIncluded(t, n, receipt.ID(env))
	testwait.Every(t, 50*time.Millisecond, "the receipt counted settled", 10*time.Second, func() bool {
		c, _ := findCheck(doctorReport(t, n), "receipts")
		return strings.Contains(c.Detail, "0 receipt(s) pending settlement; on chain: 1 included")
	})
}

// healthyFacts are the facts of a node that earns: one GPU, a healthy
// supervised runtime on it, a model whose manifest, weights and chain
// registration agree, a public address, peers, a synced chain and a right
// clock.
func healthyFacts(t *testing.T) doctorFacts {
	t.Helper()
	issuer, _ := testkeys.New(t)
	_, self := testkeys.New(t)
	env, err := models.Sign(models.Manifest{Name: "m", Seq: 1, Architecture: "llama", Quantization: "q8_0",
		ContextLength: 512, Tier: "small", InputPrice: 3, OutputPrice: 6,
		Weights: models.Weights{SHA256: strings.Repeat("ab", 32), Size: 10}}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := models.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	sum := signed.Hash()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return doctorFacts{
		now:       now,
		gpuDriver: "nvml 560.35.03",
		gpus: []gpu.Status{{Device: gpu.Device{Index: 0, Name: "H100", MemoryTotalBytes: 80 << 30},
			Sample: &gpu.Sample{Healthy: true, MemoryFreeBytes: 10 << 30, MemoryUsedBytes: 70 << 30}}},
		runtimes: []runtimeFact{{name: "vllm", kind: configs.KindSupervise, running: true,
			health: runtime.Health{OK: true, Status: "ready"}, gpus: []int{0}, minFree: 60 << 30}},
		models:          []modelFact{{id: "m", runtime: "vllm", manifest: signed, announced: true, registered: &ledger.Model{Name: "m", ManifestSHA256: hex.EncodeToString(sum[:]), Tier: "small", InputPrice: 3, OutputPrice: 6, Nodes: []string{self.String()}}}},
		requireManifest: true,
		autoNAT:         true,
		p2p: p2p.Status{Reachability: p2p.ReachabilityPublic, Advertised: []string{"/ip4/8.8.8.8/tcp/4001", "/ip4/127.0.0.1/tcp/4001"},
			Peers: 5, DHTPeers: 4},
		peerLeads: []time.Duration{-time.Second, -20 * time.Second, 200 * time.Millisecond},
		chain: &chainFacts{self: self.String(), height: 100, peerHeight: 101, peers: 3, blockTime: now.Add(-300 * time.Millisecond),
			blockInterval: time.Second, node: &ledger.Node{ID: self.String(), Bond: 10},
			submitter: chain.SubmitterStats{Included: 7, Refused: map[ledger.Code]uint64{ledger.CodeDuplicate: 2}}},
		receipts: receiptFacts{enabled: true, pending: 2},
	}
}

func TestDoctorHealthyFacts(t *testing.T) {
	checks := diagnose(healthyFacts(t))
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
		if c.Status != api.CheckOK {
			t.Errorf("%s: %s %q (remedy %q), want ok", c.Name, c.Status, c.Detail, c.Remedy)
		}
		if c.Detail == "" {
			t.Errorf("%s: no detail", c.Name)
		}
	}
	want := []string{"gpu", "gpu memory", "runtime vllm", "manifest m", "chain model m", "chain node", "reachability", "peers", "chain sync", "clock", "receipts"}
	if !slices.Equal(names, want) {
		t.Fatalf("checks %q, want %q", names, want)
	}
	if c := diagnose(healthyFacts(t))[6]; !strings.Contains(c.Detail, "/ip4/8.8.8.8/tcp/4001") || strings.Contains(c.Detail, "127.0.0.1") {
		t.Errorf("reachability lists the public addresses only: %q", c.Detail)
	}
}

// TestDoctorChecks breaks one fact at a time: the check that judges it
// must say so, with a remedy.
func TestDoctorChecks(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *doctorFacts)
		check  string
		status string
		want   string // in the detail or the remedy
	}{
		{"no GPU, CPU runtimes", func(f *doctorFacts) {
			f.gpus, f.gpuDriver = nil, "none (NVML not found)"
			f.runtimes = []runtimeFact{{name: "cpu", kind: configs.KindEngine, running: true, health: runtime.Health{OK: true, Status: "ready"}}}
			f.models[0].runtime = "cpu"
		}, "gpu", api.CheckOK, "no GPU: CPU runtimes only"},
		{"no GPU, runtime given gpus", func(f *doctorFacts) { f.gpus = nil }, "gpu", api.CheckFail, "nvidia-smi"},
		{"GPU unhealthy", func(f *doctorFacts) { f.gpus[0].Sample.Healthy, f.gpus[0].Sample.HealthDetail = false, "xid 79" }, "gpu", api.CheckWarn, "xid 79"},
		{"not enough free memory", func(f *doctorFacts) { f.runtimes[0].health = runtime.Health{Status: "down"} }, "gpu memory", api.CheckFail, "needs 60.0 GiB free on gpu 0, which has 10.0 GiB"},
		{"assigned GPU missing", func(f *doctorFacts) { f.runtimes[0].gpus = []int{3} }, "gpu memory", api.CheckFail, "does not have"},
		{"no runtime", func(f *doctorFacts) { f.runtimes, f.models = nil, nil }, "runtimes", api.CheckFail, "[[runtime]]"},
		{"runtime down", func(f *doctorFacts) {
			f.runtimes[0].health = runtime.Health{Status: "restarting", Detail: "exit status 1"}
			f.runtimes[0].minFree = 0
		}, "runtime vllm", api.CheckFail, "exit status 1"},
		{"runtime without models", func(f *doctorFacts) { f.models = nil }, "runtime vllm", api.CheckWarn, "lists no model"},
		{"manifest missing", func(f *doctorFacts) {
			f.models[0].manifest, f.models[0].manifestErr = nil, fmt.Errorf("%w: m", models.ErrNotFound)
		}, "manifest m", api.CheckFail, "fomo model announce"},
		{"manifest lookup failed", func(f *doctorFacts) {
			f.models[0].manifest, f.models[0].manifestErr = nil, errors.New("failed to find any peer in table")
		}, "manifest m", api.CheckFail, "p2p.bootstrap"},
		{"manifest lookup timed out", func(f *doctorFacts) {
			f.models[0].manifest, f.models[0].manifestErr = nil, fmt.Errorf("get manifest m: %w", context.DeadlineExceeded)
		}, "manifest m", api.CheckWarn, "did not finish in time"},
		{"weights differ", func(f *doctorFacts) {
			f.models[0].weights, f.models[0].weightsErr = "/m.gguf", errors.New("weights of m: /m.gguf has sha256 00, the manifest says ab")
		}, "manifest m", api.CheckFail, "has sha256 00"},
		{"not announced yet", func(f *doctorFacts) { f.models[0].announced, f.models[0].held = false, "no peers" }, "manifest m", api.CheckWarn, "no peers"},
		{"model not registered", func(f *doctorFacts) { f.models[0].registered = nil }, "chain model m", api.CheckFail, "fomo model register m"},
		{"registered manifest differs", func(f *doctorFacts) { f.models[0].registered.ManifestSHA256 = strings.Repeat("0", 64) }, "chain model m", api.CheckFail, strings.Repeat("0", 64)},
		{"prices differ", func(f *doctorFacts) { f.models[0].registered.OutputPrice = 7 }, "chain model m", api.CheckFail, "price_mismatch"},
		{"not serving on chain", func(f *doctorFacts) { f.models[0].registered.Nodes = []string{"other"} }, "chain model m", api.CheckFail, "fomo model serve m"},
		{"node not registered", func(f *doctorFacts) { f.chain.node = nil }, "chain node", api.CheckFail, "fomo node register --bond"},
		{"node not seen while catching up", func(f *doctorFacts) { f.chain.node, f.chain.catchingUp = nil, true }, "chain node", api.CheckWarn, "catching up"},
		{"chain disabled", func(f *doctorFacts) { f.chain = nil }, "chain node", api.CheckWarn, "chain.enabled = true"},
		{"private", func(f *doctorFacts) { f.p2p.Reachability = p2p.ReachabilityPrivate }, "reachability", api.CheckWarn, "forward the p2p port"},
		{"reachability unknown without AutoNAT", func(f *doctorFacts) { f.p2p.Reachability, f.autoNAT = p2p.ReachabilityUnknown, false }, "reachability", api.CheckWarn, "p2p.autonat = true"},
		{"no peers", func(f *doctorFacts) { f.p2p.Peers, f.p2p.DHTPeers = 0, 0 }, "peers", api.CheckFail, "p2p.bootstrap"},
		{"empty routing table", func(f *doctorFacts) { f.p2p.DHTPeers = 0 }, "peers", api.CheckWarn, "DHT routing table 0"},
		{"catching up", func(f *doctorFacts) { f.chain.catchingUp = true }, "chain sync", api.CheckWarn, "catching up"},
		{"behind peers", func(f *doctorFacts) { f.chain.peerHeight = 111 }, "chain sync", api.CheckWarn, "10 blocks behind"},
		{"no block", func(f *doctorFacts) { f.chain.height = 0 }, "chain sync", api.CheckFail, "no block yet"},
		{"no chain peer", func(f *doctorFacts) { f.chain.peers = 0 }, "chain sync", api.CheckFail, "chain.peers"},
		{"sole validator needs no peer", func(f *doctorFacts) { f.chain.peers, f.chain.soleValidator = 0, true }, "chain sync", api.CheckOK, "synced"},
		{"clock far behind", func(f *doctorFacts) { f.chain.blockTime = f.now.Add(15 * time.Second) }, "clock", api.CheckFail, "15s behind"},
		{"clock behind", func(f *doctorFacts) { f.chain.blockTime = f.now.Add(3 * time.Second) }, "clock", api.CheckWarn, "NTP"},
		{"last block old", func(f *doctorFacts) { f.chain.blockTime = f.now.Add(-5 * time.Minute) }, "clock", api.CheckWarn, "5m0s old"},
		{"behind the peers", func(f *doctorFacts) {
			f.peerLeads = []time.Duration{12 * time.Second, 13 * time.Second, -time.Second}
		}, "clock", api.CheckFail, "12s behind the median of 3 peer(s)' adverts"},
		{"one peer ahead is not enough", func(f *doctorFacts) {
			f.peerLeads = []time.Duration{30 * time.Second, 0, -time.Second}
		}, "clock", api.CheckOK, "3 peer(s)' adverts agree"},
		{"clock against peers without a chain", func(f *doctorFacts) {
			f.chain, f.peerLeads = nil, []time.Duration{4 * time.Second}
		}, "clock", api.CheckWarn, "4s behind"},
		{"every peer advert dropped", func(f *doctorFacts) {
			f.chain, f.peerLeads, f.advertsIgnored = nil, nil, 12
		}, "clock", api.CheckWarn, "12 peer advert(s) dropped"},
		{"nothing to compare the clock with", func(f *doctorFacts) {
			f.chain.blockTime, f.peerLeads = time.Time{}, nil
		}, "clock", api.CheckWarn, "not checked"},
		{"receipts refused", func(f *doctorFacts) {
			f.chain.submitter.Refused[ledger.CodeNotServing] = 3
		}, "receipts", api.CheckWarn, "fomo model serve"},
		{"submissions failed", func(f *doctorFacts) { f.chain.submitter.TxsFailed = 1 }, "receipts", api.CheckWarn, "subsystem=submitter"},
		{"gossip rejections are shown", func(f *doctorFacts) {
			f.receipts.gossip = pool.Stats{Rejected: map[string]uint64{pool.ReasonNotServing: 4}}
		}, "receipts", api.CheckOK, "not_serving 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healthyFacts(t)
			tt.break_(&f)
			checks := diagnose(f)
			i := slices.IndexFunc(checks, func(c api.Check) bool { return c.Name == tt.check })
			if i < 0 {
				t.Fatalf("no check %q in %+v", tt.check, checks)
			}
			c := checks[i]
			if c.Status != tt.status || !strings.Contains(c.Detail+" "+c.Remedy, tt.want) {
				t.Fatalf("%s = %s %q (remedy %q), want %s with %q", tt.check, c.Status, c.Detail, c.Remedy, tt.status, tt.want)
			}
			if c.Status != api.CheckOK && c.Remedy == "" {
				t.Errorf("%s is %s without a remedy", tt.check, c.Status)
			}
			for _, o := range checks {
				if o.Name != tt.check && o.Status == api.CheckFail && tt.status != api.CheckFail {
					t.Errorf("%s also fails: %q", o.Name, o.Detail)
				}
			}
		})
	}
}

// TestVerifyWeightsRemembersMatches: a file found to match is not hashed
// again until it changes; a mismatch is found again each time.
func TestVerifyWeightsRemembersMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.gguf")
	if err := os.WriteFile(path, []byte("weights-1"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := models.FileWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	m := models.Manifest{Name: "m", Weights: w}
	n := &Node{log: slog.New(slog.DiscardHandler), opts: options{now: time.Now}}
	if err := n.verifyWeights(path, m); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, same modification time: the match is remembered.
	if err := os.WriteFile(path, []byte("weights-2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := n.verifyWeights(path, m); err != nil {
		t.Fatalf("a remembered match: %v", err)
	}
	// A new modification time: hashed again, and the change found.
	if err := os.Chtimes(path, st.ModTime(), st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := n.verifyWeights(path, m); err == nil || !strings.Contains(err.Error(), "the manifest says "+w.SHA256) {
			t.Fatalf("changed weights: %v", err)
		}
	}
	if err := n.verifyWeights(filepath.Join(t.TempDir(), "missing"), m); err == nil || !strings.Contains(err.Error(), "weights of m") {
		t.Fatalf("missing weights: %v", err)
	}
}
