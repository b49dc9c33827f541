package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/node/nodetest"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// doctorNode is the config of an in-process node on loopback: no GPU, no
// AutoNAT, the network of the genesis file in its home.
func doctorNode() configs.Config {
	cfg := configs.Default()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.Network = "genesis.toml"
	cfg.P2P.AutoNAT, cfg.P2P.HolePunching, cfg.P2P.NATPortMap = false, false, false
	cfg.GPU.Enabled = false
	cfg.Node.ShutdownTimeout = configs.Duration(10 * time.Second)
	cfg.Node.StreamGrace = configs.Duration(time.Second)
	return cfg
}

// startDoctorNode starts a node over home and stops it at the test's end.
func startDoctorNode(t *testing.T, cfg configs.Config, home string) *node.Node {
	t.Helper()
	return nodetest.Start(t, cfg, home)
}

// synthWeights writes a tiny synthetic model to path.
func synthWeights(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	if err := synth.Generate(synth.Options{Preset: "tiny", Type: gguf.TypeQ8_0, Seed: 3, Name: "tiny"}, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// doctorRun runs `fomo doctor` with args in process and returns what it
// printed and the exit status the binary would have.
func doctorRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"doctor"}, args...))
	err := root.ExecuteContext(t.Context())
	code := exitStatus(err, &out)
	return out.String(), code
}

// TestDoctor runs a one-validator network whose node serves a model that
// the chain registers but whose manifest no one announced: doctor names
// that failure with its remedy and exits 1. Once a second node joins and
// the issuer announces the manifest, every check is ok or a warning and
// doctor exits 0.
func TestDoctor(t *testing.T) {
	homeA, homeB := t.TempDir(), t.TempDir()
	keyA, idA := testkeys.New(t)
	if err := identity.Save(filepath.Join(homeA, "keys", "node.key"), keyA); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(homeA, "tiny.gguf")
	synthWeights(t, weights)
	w, err := models.FileWeights(weights)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := testkeys.New(t)
	envelope, err := models.Sign(models.Manifest{Name: "tiny", Seq: 1, Architecture: "llama", Quantization: "q8_0",
		ContextLength: 512, Tier: "small", InputPrice: 3_000_000, OutputPrice: 6_000_000, Weights: w}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := models.Open(envelope)
	if err != nil {
		t.Fatal(err)
	}
	sum := signed.Hash()

	// The genesis registers the model under the manifest's hash, with node
	// A bonded (the validator) and serving it.
	g := networks.Devnet()
	g.GenesisTime = time.Now().UTC().Truncate(time.Second)
	g.Tiers = []networks.Tier{{Name: "small", CostPerMtok: 1_000_000, MinInputPrice: 2_000_000, MinOutputPrice: 2_000_000, RaiseMin: 1, RaiseMax: 2}}
	g.Validators = []networks.Validator{{PeerID: idA.String(), Power: 10}}
	g.Models = []networks.Model{{Name: "tiny", Issuer: signed.Manifest.Issuer.String(), ManifestSHA256: hex.EncodeToString(sum[:]),
		Tier: "small", InputPrice: 3_000_000, OutputPrice: 6_000_000, Nodes: []string{idA.String()}}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	gb, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{homeA, homeB} {
		if err := os.WriteFile(filepath.Join(h, "genesis.toml"), gb, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cfgA := doctorNode()
	cfgA.Chain.Enabled = true
	cfgA.Chain.Listen = "tcp://127.0.0.1:0"
	cfgA.Chain.BlockInterval = configs.Duration(200 * time.Millisecond)
	cfgA.Runtime = []configs.Runtime{{Name: "tiny", Kind: configs.KindEngine, Model: weights, Threads: 1}}
	a := startDoctorNode(t, cfgA, homeA)
	apiA := "http://" + a.APIAddr()
	fomotest.WaitFor(t, 30*time.Second, "the chain's first blocks", func() bool { return fomotest.Height(apiA, time.Second) >= 2 })

	out, code := doctorRun(t, "--api", apiA)
	t.Logf("doctor, the manifest missing:\n%s", out)
	if code != 1 {
		t.Fatalf("doctor exited %d with the manifest missing, want 1:\n%s", code, out)
	}
	for _, want := range []string{"FAIL  manifest tiny", `no manifest for "tiny" in the network`, "fomo model announce", "failed: the node at " + apiA} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}

	// The endpoint reports the same cause, with its remedy.
	c, err := client.New(apiA)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Doctor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(rep.Checks, func(c api.Check) bool { return c.Name == "manifest tiny" }); i < 0 ||
		rep.Checks[i].Status != api.CheckFail || !strings.Contains(rep.Checks[i].Remedy, "fomo model announce") {
		t.Fatalf("GET /api/v1/doctor does not fail the manifest with its remedy: %+v", rep.Checks)
	}

	// A second node gives the DHT a peer to store the manifest on.
	st, err := c.Status(t.Context())
	if err != nil || len(st.ListenAddrs) == 0 {
		t.Fatalf("status of node A: %v %+v", err, st)
	}
	cfgB := doctorNode()
	cfgB.P2P.Bootstrap = st.ListenAddrs[:1]
	startDoctorNode(t, cfgB, homeB)
	fomotest.WaitFor(t, 30*time.Second, "the manifest stored in the DHT", func() bool {
		_, err := c.AnnounceManifest(t.Context(), envelope)
		return err == nil
	})
	fomotest.WaitFor(t, 30*time.Second, "no failing check", func() bool {
		rep, err = c.Doctor(t.Context())
		return err == nil && rep.Count(api.CheckFail) == 0 && rep.Count(api.CheckWarn) <= 1
	})
	out, code = doctorRun(t, "--api", apiA)
	t.Logf("doctor, healthy:\n%s", out)
	if code != 0 {
		t.Fatalf("doctor exited %d on a healthy node, want 0:\n%s", code, out)
	}
	for _, want := range []string{"OK    manifest tiny", "weights match", "OK    chain model tiny", "OK    chain node", "OK    peers", "OK    chain sync", "OK    clock", "WARN  reachability", "no failure, 1 warning(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	out, code = doctorRun(t, "--api", apiA, "--json")
	if code != 0 || !strings.Contains(out, `"status": "ok"`) || !strings.Contains(out, `"name": "manifest tiny"`) {
		t.Fatalf("doctor --json exited %d:\n%s", code, out)
	}
}

// TestDoctorUnreachable: with no node at the address, doctor names the
// address it tried and how to point it elsewhere, and exits 1.
func TestDoctorUnreachable(t *testing.T) {
	addr := "http://" + testhttp.FreeAddr(t).String()
	out, code := doctorRun(t, "--api", addr)
	if code != 1 || !strings.Contains(out, "no node answers at "+addr) || !strings.Contains(out, "--api") {
		t.Fatalf("doctor against no node exited %d:\n%s", code, out)
	}
}
