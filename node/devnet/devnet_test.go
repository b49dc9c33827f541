package devnet

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
)

func TestNewOptions(t *testing.T) {
	if _, err := New(0); err == nil {
		t.Fatal("New(0) accepted a devnet without nodes")
	}
	d, err := New(3)
	if err != nil {
		t.Fatal(err)
	}
	if d.o.epoch != DefaultEpoch || d.o.traffic != DefaultTraffic || d.o.serveOnSet ||
		d.o.modelPreset != DefaultModelPreset || d.o.modelType != DefaultModelType || d.o.out == nil {
		t.Fatalf("defaults: %+v", d.o)
	}
	for n, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 7: 3} {
		if got := DefaultServeOn(n); got != want {
			t.Errorf("DefaultServeOn(%d) = %d, want %d: some nodes serve, and with two or more some do not", n, got, want)
		}
	}
	d, err = New(3, WithConfigSet("a=1"), WithConfigSet("b=2", "c=3"), WithoutChain(), WithoutModel(), KeepGoing())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.o.set, " ") != "a=1 b=2 c=3" || !d.o.noChain || !d.o.noModel || !d.o.keepGoing {
		t.Fatalf("options: %+v", d.o)
	}
	if err := d.Wait(t.Context()); err == nil {
		t.Fatal("Wait on a devnet never started returned nil")
	}
	d.Stop() // a devnet never started stops
}

// testNetwork returns the config of n nodes in dir, with the chain, as
// Start builds it, and their homes.
func testNetwork(t *testing.T, dir string, n int, set ...string) (nodeConfig, []string) {
	t.Helper()
	var out bytes.Buffer
	u, err := makeAccounts(&out, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := nodeKeys(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	homes := make([]string, n)
	for i := range homes {
		homes[i] = filepath.Join(dir, fmt.Sprintf("node%d", i))
	}
	ps, err := assignPorts(&out, homes)
	if err != nil {
		t.Fatal(err)
	}
	return nodeConfig{user: u, serveOn: n, ids: ids, ports: ps, set: set,
		genesis: filepath.Join(dir, "genesis.toml"), block: time.Second}, homes
}

func TestNodeConfig(t *testing.T) {
	dir := t.TempDir()
	nc, _ := testNetwork(t, dir, 3, "gpu.enabled=false")
	b, err := nc.build(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("# Written by fomo devnet")) {
		t.Fatalf("config.toml does not say who wrote it:\n%s", b)
	}
	cfg, err := configs.Decode(b)
	if err != nil {
		t.Fatalf("node1's config.toml does not load: %v", err)
	}
	p := nc.ports[1]
	if cfg.API.Listen != fmt.Sprintf("127.0.0.1:%d", p.API) || cfg.Chain.Listen != fmt.Sprintf("tcp://127.0.0.1:%d", p.Chain) {
		t.Fatalf("node1 listens on %s and %s, want its ports %+v", cfg.API.Listen, cfg.Chain.Listen, p)
	}
	if len(cfg.P2P.Bootstrap) != 2 || len(cfg.Chain.Peers) != 2 || !cfg.Chain.Enabled || cfg.P2P.Network != nc.genesis {
		t.Fatalf("node1's peers: bootstrap %v, chain %v", cfg.P2P.Bootstrap, cfg.Chain.Peers)
	}
	for _, a := range cfg.P2P.Bootstrap {
		if strings.Contains(a, nc.ids[1].String()) {
			t.Fatalf("node1 bootstraps from itself: %v", cfg.P2P.Bootstrap)
		}
	}
	if cfg.GPU.Enabled || cfg.Auth.OpenAccessKey != nc.user.apiKey {
		t.Fatalf("overrides or open access key not applied: gpu %v, key %q", cfg.GPU.Enabled, cfg.Auth.OpenAccessKey)
	}
	if got := portsOf(writeHome(t, dir, "node1", b)); got != p {
		t.Fatalf("ports read back from config.toml: %+v, want %+v", got, p)
	}

	nc.set = []string{"no-equals-sign"}
	if _, err := nc.build(0); err == nil || !strings.Contains(err.Error(), "want key=value") {
		t.Fatalf("a bad override: %v", err)
	}
	nc.set, nc.genesis = nil, ""
	if b, err = nc.build(0); err != nil {
		t.Fatal(err)
	}
	if cfg, err = configs.Decode(b); err != nil || cfg.Chain.Enabled || cfg.Auth.Accounts != nc.user.registry {
		t.Fatalf("without the chain: %v, chain %v, accounts %q", err, cfg.Chain.Enabled, cfg.Auth.Accounts)
	}
}

func writeHome(t *testing.T, dir, name string, cfg []byte) string {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, configFile), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestPortsKeptWhileFree(t *testing.T) {
	dir := t.TempDir()
	nc, homes := testNetwork(t, dir, 2)
	for i, home := range homes {
		b, err := nc.build(i)
		if err != nil {
			t.Fatal(err)
		}
		writeHome(t, dir, filepath.Base(home), b)
	}
	var out bytes.Buffer
	again, err := assignPorts(&out, homes)
	if err != nil {
		t.Fatal(err)
	}
	if again[0] != nc.ports[0] || again[1] != nc.ports[1] || !strings.Contains(out.String(), "node0, node1 keep their ports") {
		t.Fatalf("ports %+v, then %+v; output %q", nc.ports, again, out.String())
	}

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", nc.ports[1].API))
	if err != nil {
		t.Skipf("cannot hold node1's API port: %v", err)
	}
	defer ln.Close()
	out.Reset()
	moved, err := assignPorts(&out, homes)
	if err != nil {
		t.Fatal(err)
	}
	if moved[0] != nc.ports[0] || moved[1].API == nc.ports[1].API || moved[1].P2P != nc.ports[1].P2P {
		t.Fatalf("with node1's API port busy: %+v, then %+v", nc.ports, moved)
	}
	if want := fmt.Sprintf("node1 (its ports %d/%d/%d were busy)", nc.ports[1].API, nc.ports[1].P2P, nc.ports[1].Chain); !strings.Contains(out.String(), want) {
		t.Fatalf("output %q does not say %q", out.String(), want)
	}
}

func TestGenesisReused(t *testing.T) {
	dir := t.TempDir()
	nc, _ := testNetwork(t, dir, 2)
	c := chainSpec{epoch: 10 * time.Second, nodes: nc.ids, user: nc.user.id, session: nc.user.session, issuer: nc.user.issuer}
	path, g, reused, err := writeGenesis(dir, c)
	if err != nil || reused {
		t.Fatalf("first genesis: reused %v, %v", reused, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "protocol.key")); err != nil {
		t.Fatalf("no protocol key: %v", err)
	}
	loaded, err := networks.Load(path)
	if err != nil || loaded.ID() != g.ID() || len(loaded.Validators) != 2 {
		t.Fatalf("genesis.toml: %v", err)
	}
	if _, g2, reused, err := writeGenesis(dir, c); err != nil || !reused || g2.ID() != g.ID() {
		t.Fatalf("the same devnet again: reused %v, %v", reused, err)
	}
	c.epoch = 20 * time.Second
	if _, g3, reused, err := writeGenesis(dir, c); err != nil || reused || g3.ID() == g.ID() {
		t.Fatalf("another epoch length: reused %v, %v", reused, err)
	}
}

func TestClearChain(t *testing.T) {
	dir := t.TempDir()
	homes := []string{filepath.Join(dir, "node0"), filepath.Join(dir, "node1")}
	state := filepath.Join(homes[1], configs.Default().Chain.Dir)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := clearChain(&out, homes); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("node1's chain state is still there: %v", err)
	}
	if !strings.Contains(out.String(), "cleared the chain state of node1 (") {
		t.Fatalf("output: %q", out.String())
	}
}

func TestGenesisUnbondingEpochs(t *testing.T) {
	dir := t.TempDir()
	nc, _ := testNetwork(t, dir, 1)
	c := chainSpec{epoch: 10 * time.Second, nodes: nc.ids, user: nc.user.id, session: nc.user.session, issuer: nc.user.issuer}
	start := time.Now().UTC().Truncate(time.Second)
	def, err := buildGenesis(c, start)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *def.Economics.Resolved().UnbondingEpochs, *networks.DefaultEconomics().UnbondingEpochs; got != want {
		t.Fatalf("default unbonding_epochs %d, want the network's %d", got, want)
	}
	o := defaultOptions()
	WithUnbondingEpochs(1)(&o)
	c.unbonding = o.unbonding
	path, g, _, err := writeGenesis(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := networks.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := *loaded.Economics.Resolved().UnbondingEpochs; got != 1 || loaded.ID() != g.ID() || g.ID() == def.ID() {
		t.Fatalf("unbonding_epochs %d in genesis.toml, want 1 (a network of its own)", got)
	}
}
