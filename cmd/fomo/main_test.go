package main

// Black-box tests: they build the fomo binary once and run it as separate
// processes on loopback, as an operator would.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/internal/testbuf"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/meter"
	"github.com/fomonet/fomo/settle/receipt"
)

// TestMain removes the fomo binary that the tests built (once, on first
// use).
func TestMain(m *testing.M) { os.Exit(fomotest.Main(m)) }

// fomo runs the binary to completion and returns its combined output.
func fomo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := fomotest.BuildBinary(t) // before the minute starts
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "FOMO_HOME=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openAccess writes a local account registry in dir with one funded
// account and returns the flags that let requests without an API key spend
// it.
func openAccess(t *testing.T, dir string) []string {
	t.Helper()
	sk, id := testkeys.New(t)
	f := meter.AccountsFile{Account: []meter.RegistryAccount{{ID: id.String(), Credit: 1e9}}}
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "accounts.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := receipt.EncodeSessionKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--set", "auth.accounts=" + path, "--set", "auth.open_access_key=" + key}
}

// testSets make a node listen only on free loopback ports.
var testSets = []string{
	"--set", "api.listen=127.0.0.1:0",
	"--set", "p2p.listen=/ip4/127.0.0.1/tcp/0",
}

type proc struct {
	cmd    *exec.Cmd
	out    *testbuf.Buffer
	exited chan struct{}
	err    error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(fomotest.BuildBinary(t), args...), out: &testbuf.Buffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "FOMO_HOME=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, sig os.Signal, within time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("process did not exit within %s after %s; output:\n%s", within, sig, p.out)
	}
}

func waitFile(t *testing.T, p *proc, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		select {
		case <-p.exited:
			t.Fatalf("process exited (%v) before writing %s; output:\n%s", p.err, path, p.out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s not written within 30s; output:\n%s", path, p.out)
	return ""
}

func TestInitThenNodeServes(t *testing.T) {
	home := t.TempDir()
	out, err := fomo(t, "init", "--home", home)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if !strings.Contains(out, "peer id: 12D3KooW") {
		t.Fatalf("init output lacks the peer id:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(home, "keys", "node.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node key: %v mode %v", err, st.Mode())
	}
	if out, err := fomo(t, "init", "--home", home); err == nil || !strings.Contains(out, "--force") {
		t.Fatalf("second init must refuse: %v\n%s", err, out)
	}

	p := start(t, append([]string{"node", "--home", home}, testSets...)...)
	api := "http://" + waitFile(t, p, filepath.Join(home, "api.addr"))

	code, body := testhttp.Get(t, api+"/api/v1/gpus")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("GET /api/v1/gpus = %d %q, want 200 []", code, body)
	}
	code, body = testhttp.Get(t, api+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "fomo_build_info") || !strings.Contains(body, "fomo_http_requests_total") {
		t.Fatalf("GET /metrics = %d, missing fomo_ metrics:\n%.2000s", code, body)
	}
	code, body = testhttp.Get(t, api+"/api/v1/status")
	var status struct {
		PeerID string `json:"peer_id"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &status) != nil || !strings.HasPrefix(status.PeerID, "12D3KooW") {
		t.Fatalf("GET /api/v1/status = %d %s", code, body)
	}
	keyOut, err := fomo(t, "key", "show", "--home", home)
	if err != nil || !strings.Contains(keyOut, status.PeerID) {
		t.Fatalf("key show does not match the node's peer id %s: %v\n%s", status.PeerID, err, keyOut)
	}
	code, body = testhttp.Get(t, api+"/v1/models")
	if code != http.StatusOK || !strings.Contains(body, `"object": "list"`) {
		t.Fatalf("GET /v1/models = %d %s", code, body)
	}

	p.signal(t, syscall.SIGTERM, 30*time.Second)
	if p.err != nil {
		t.Fatalf("node exited with %v after SIGTERM; output:\n%s", p.err, p.out)
	}
	if _, err := os.Stat(filepath.Join(home, "api.addr")); !os.IsNotExist(err) {
		t.Fatalf("api.addr left behind after shutdown: %v", err)
	}
	if !strings.Contains(p.out.String(), "no NVIDIA driver") && !strings.Contains(p.out.String(), "gpu") {
		t.Logf("node output:\n%s", p.out)
	}
}

func TestUnknownConfigKeyFailsStart(t *testing.T) {
	home := t.TempDir()
	cfg := "version = 1\n[api]\nlisten = \"127.0.0.1:0\"\nmax_body_byte = 10\n"
	os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600)
	out, err := fomo(t, "node", "--home", home)
	if err == nil {
		t.Fatalf("node started with an unknown key; output:\n%s", out)
	}
	if !strings.Contains(out, "api.max_body_byte: unknown key") || !strings.Contains(out, `did you mean "api.max_body_bytes"`) {
		t.Fatalf("error does not name the key:\n%s", out)
	}
	out, err = fomo(t, "config", "validate", filepath.Join(home, "config.toml"))
	if err == nil || !strings.Contains(out, "api.max_body_byte") {
		t.Fatalf("config validate: %v\n%s", err, out)
	}
	// The environment layer is strict too.
	cmd := exec.Command(fomotest.BuildBinary(t), "config", "show", "--home", t.TempDir())
	cmd.Env = append(os.Environ(), "FOMO_API_LISTN=1")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "FOMO_API_LISTN") {
		t.Fatalf("unknown env key accepted: %v\n%s", err, b)
	}
}

func TestConfigShowLayers(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "config.toml"), []byte("[api]\nlisten = \"127.0.0.1:1111\"\n"), 0o600)
	cmd := exec.Command(fomotest.BuildBinary(t), "config", "show", "--home", home, "--set", "node.log_level=debug")
	cmd.Env = append(os.Environ(), "FOMO_GPU_SAMPLE_INTERVAL=7s")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, want := range []string{`listen = "127.0.0.1:1111"`, `log_level = "debug"`, `sample_interval = "7s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config show lacks %s:\n%s", want, b)
		}
	}
}

func TestKeyNewShow(t *testing.T) {
	home := t.TempDir()
	out, err := fomo(t, "key", "new", "--home", home, "--name", "alice")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	id := regexp.MustCompile(`12D3KooW\w+`).FindString(out)
	show, err := fomo(t, "key", "show", "--home", home, "--name", "alice")
	if err != nil || id == "" || !strings.Contains(show, id) {
		t.Fatalf("key show: %v\n%s\n%s", err, out, show)
	}
	if out, err := fomo(t, "key", "new", "--home", home, "--name", "alice"); err == nil {
		t.Fatalf("key new overwrote a key:\n%s", out)
	}
}

func TestGPUCommandWithoutDriver(t *testing.T) {
	out, err := fomo(t, "gpu", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "[") {
		t.Fatalf("fomo gpu --json printed no list:\n%s", out)
	}
}

func TestVersionFlagAndCommandAgree(t *testing.T) {
	cmdOut, err := fomo(t, "version")
	if err != nil {
		t.Fatalf("fomo version: %v\n%s", err, cmdOut)
	}
	for _, flag := range []string{"--version", "-v"} {
		flagOut, err := fomo(t, flag)
		if err != nil {
			t.Fatalf("fomo %s: %v\n%s", flag, err, flagOut)
		}
		if flagOut != cmdOut {
			t.Errorf("fomo %s printed %q, fomo version %q", flag, flagOut, cmdOut)
		}
	}
}

// TestGPUWarnsOnce: on a host without an NVIDIA driver, fomo gpu says why
// once, not in a log line and again in its output.
func TestGPUWarnsOnce(t *testing.T) {
	out, err := fomo(t, "gpu")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "driver: none") {
		t.Skipf("this host has an NVIDIA driver:\n%s", out)
	}
	if n := strings.Count(out, "libnvidia-ml") + strings.Count(out, "no NVIDIA driver"); n != 1 {
		t.Fatalf("fomo gpu names the missing driver %d times, want once:\n%s", n, out)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{{}, {"node"}, {"init"}, {"config"}, {"config", "show"}, {"config", "validate"},
		{"key"}, {"key", "new"}, {"key", "show"}, {"gpu"}, {"devnet"}, {"version"}, {"gateway"}, {"model"}, {"model", "synth"}, {"model", "announce"}, {"model", "show"}, {"model", "providers"}, {"chat"}, {"receipts"}, {"receipts", "list"}, {"receipts", "show"}, {"receipts", "verify"},
		{"deposit"}, {"withdraw"}, {"transfer"}, {"key", "authorize"}, {"key", "revoke"}, {"node", "register"}, {"node", "unbond"},
		{"model", "register"}, {"model", "serve"}, {"epoch"}, {"epoch", "list"}, {"epoch", "show"}, {"account"}, {"account", "show"},
		{"rmo"}, {"rmo", "launch"}, {"rmo", "commit"}, {"rmo", "graduate"}, {"rmo", "redeem"}, {"rmo", "show"}, {"rmo", "list"},
		{"swap"}, {"vesting"}, {"vesting", "claim"}, {"supply"}, {"pool"}, {"pool", "show"}, {"pool", "list"}, {"treasury"}} {
		out, err := fomo(t, append(args, "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("fomo %s --help: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDevnetAndGateway is the network seen from outside: three node
// processes (devnet) with the model on node0 only, and a gateway process.
// Requests through every node's API and through the gateway reach node0,
// and X-Fomo-Node says so.
func TestDevnetAndGateway(t *testing.T) {
	dir := t.TempDir()
	p := start(t, "devnet", "--nodes", "3", "--dir", dir, "--set", "gpu.enabled=false",
		"--set", "p2p.advert_interval=500ms", "--serve-on", "1", "--model-preset", "tiny", "--model-type", "q8_0")
	lineRE := regexp.MustCompile(`^node(\d) api=(http://127\.0\.0\.1:\d+) peer=(12D3KooW\w+) pid=\d+$`)
	apis := map[string]string{}
	deadline := time.Now().Add(90 * time.Second)
	for len(apis) < 3 && time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if m := lineRE.FindStringSubmatch(sc.Text()); m != nil {
				apis[m[1]] = m[2]
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("devnet exited: %v\n%s", p.err, p.out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if len(apis) != 3 {
		t.Fatalf("devnet did not print three node lines:\n%s", p.out)
	}
	for !strings.Contains(p.out.String(), "devnet running") { // the model is announced, at its prices
		select {
		case <-p.exited:
			t.Fatalf("devnet exited: %v\n%s", p.err, p.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devnet did not finish starting:\n%s", p.out)
		}
	}
	provider := peerOf(p.out.String(), "0")
	// DIR/env points the commands at node0: the devnet says to source it.
	envFile := filepath.Join(dir, "env")
	if !strings.Contains(p.out.String(), "source "+envFile) {
		t.Fatalf("devnet does not say to source %s:\n%s", envFile, p.out)
	}
	if b, err := os.ReadFile(envFile); err != nil || !strings.Contains(string(b), "export FOMO_API='"+apis["0"]+"'") ||
		!strings.Contains(string(b), "export FOMO_HOME='"+dir+"'") {
		t.Fatalf("%s: %v\n%s", envFile, err, b)
	}

	var st struct {
		ListenAddrs []string `json:"listen_addrs"`
	}
	_, body := testhttp.Get(t, apis["0"]+"/api/v1/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.ListenAddrs) == 0 {
		t.Fatalf("node0 status: %v %s", err, body)
	}
	// The gateway signs as the devnet's demo user (DIR/keys/user.key).
	gw := start(t, "gateway", "--home", dir, "--key-name", "user", "--bootstrap", st.ListenAddrs[0],
		"--set", "p2p.network="+filepath.Join(dir, "genesis.toml"),
		"--set", "api.listen=127.0.0.1:0", "--set", "node.log_level=warn")
	gwAPI := "http://" + waitFile(t, gw, filepath.Join(dir, "api.addr"))

	chat := `{"model":"synth-tiny-q8_0","messages":[{"role":"user","content":"hello"}],"max_tokens":8,"seed":1}`
	var want string
	var receipts []string
	for _, entry := range []struct{ name, api string }{
		{"node0", apis["0"]}, {"node1", apis["1"]}, {"node2", apis["2"]}, {"gateway", gwAPI},
	} {
		var resp *http.Response
		var err error
		for time.Now().Before(deadline) {
			resp, err = http.Post(entry.api+"/v1/chat/completions", "application/json", strings.NewReader(chat))
			if err == nil && resp.StatusCode == 200 {
				break
			}
			if err == nil {
				resp.Body.Close()
			}
			time.Sleep(100 * time.Millisecond) // until adverts and provider records spread
		}
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v\ndevnet:\n%s\ngateway:\n%s", entry.name, err, p.out, gw.out)
		}
		var out struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Fomo *struct {
				ReceiptID    string `json:"receipt_id"`
				Charge       uint64 `json:"charge"`
				OutputTokens int    `json:"output_tokens"`
				Receipt      string `json:"receipt"`
			} `json:"fomo"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || len(out.Choices) != 1 || out.Usage.CompletionTokens == 0 {
			t.Fatalf("%s: bad answer %v %+v", entry.name, err, out)
		}
		// Every answer carries its signed receipt: the header names it
		// before the body, the fomo object holds it.
		if out.Fomo == nil || out.Fomo.ReceiptID != resp.Header.Get("X-Fomo-Receipt") ||
			out.Fomo.OutputTokens != out.Usage.CompletionTokens || out.Fomo.Charge == 0 || out.Fomo.Receipt == "" {
			t.Fatalf("%s: receipt missing or wrong: header %q fomo %+v", entry.name, resp.Header.Get("X-Fomo-Receipt"), out.Fomo)
		}
		receipts = append(receipts, out.Fomo.ReceiptID)
		if got := resp.Header.Get("X-Fomo-Node"); got != provider {
			t.Fatalf("%s: X-Fomo-Node %q, want node0 %s", entry.name, got, provider)
		}
		if want == "" {
			want = out.Choices[0].Message.Content
		} else if out.Choices[0].Message.Content != want {
			t.Fatalf("%s answered %q, node0 %q", entry.name, out.Choices[0].Message.Content, want)
		}
	}

	// Receipts spread by gossip: every node holds each one, and anyone can
	// verify them.
	for _, id := range receipts {
		for i := range 3 {
			api := apis[fmt.Sprint(i)]
			var out string
			var err error
			for time.Now().Before(deadline) {
				if out, err = fomo(t, "receipts", "show", id, "--api", api); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil || !strings.Contains(out, `"node": "`+provider+`"`) {
				t.Fatalf("node%d: receipts show %s: %v\n%s", i, id, err, out)
			}
		}
		if out, err := fomo(t, "receipts", "verify", id, "--api", apis["2"]); err != nil || !strings.Contains(out, "valid") {
			t.Fatalf("receipts verify: %v\n%s", err, out)
		}
	}
	out, err := fomo(t, "receipts", "list", "--model", "synth-tiny-q8_0", "--api", apis["1"])
	for _, id := range receipts {
		if err != nil || !strings.Contains(out, id[:16]) {
			t.Fatalf("receipts list has no %s: %v\n%s", id, err, out)
		}
	}
	// fomo chat signs its own authorization with the user's key, through
	// node2, and verifies and stores the receipt.
	out, err = fomo(t, "chat", "hello", "--model", "synth-tiny-q8_0", "--max-tokens", "8", "--home", dir, "--key-name", "user", "--api", apis["2"])
	if err != nil || !strings.Contains(out, "verified") {
		t.Fatalf("fomo chat: %v\n%s", err, out)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "receipts", "*.receipt")); len(files) != 1 {
		t.Fatalf("fomo chat stored %d receipts", len(files))
	} else if out, err := fomo(t, "receipts", "verify", files[0]); err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("receipts verify %s: %v\n%s", files[0], err, out)
	}
	// A malformed session key is refused with 401, open access or not
	// (a key that is no session key at all is paid by open access: see
	// TestOpenAISDKs).
	req, _ := http.NewRequest(http.MethodPost, apis["1"]+"/v1/chat/completions", strings.NewReader(chat))
	req.Header.Set("Authorization", "Bearer fomo_sk_not-a-key")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("malformed session key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The manifest devnet announced resolves from any node.
	out, err = fomo(t, "model", "show", "synth-tiny-q8_0", "--api", apis["2"])
	if err != nil || !strings.Contains(out, `"name": "synth-tiny-q8_0"`) || !strings.Contains(out, `"sha256"`) {
		t.Fatalf("model show: %v\n%s", err, out)
	}
	out, err = fomo(t, "model", "providers", "synth-tiny-q8_0", "--api", apis["1"])
	if err != nil || !strings.Contains(out, provider) {
		t.Fatalf("model providers: %v\n%s", err, out)
	}
	// Without --api, the commands ask the node FOMO_API names.
	cmd := exec.Command(fomotest.BuildBinary(t), "model", "providers", "synth-tiny-q8_0")
	cmd.Env = append(os.Environ(), "FOMO_HOME="+dir, "FOMO_API="+apis["2"])
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), provider) {
		t.Fatalf("model providers with FOMO_API: %v\n%s", err, b)
	}
	// An issuer announces a new model; a bad manifest is refused with its field named.
	home := t.TempDir()
	if out, err := fomo(t, "key", "new", "--home", home, "--name", "issuer"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	weights := filepath.Join(home, "w.bin")
	os.WriteFile(weights, []byte("weights"), 0o600)
	manifest := filepath.Join(home, "m.toml")
	os.WriteFile(manifest, []byte("name = \"other-model\"\nseq = 1\narchitecture = \"llama\"\nquantization = \"f16\"\ncontext_length = 4096\ntier = \"small\"\n"), 0o600)
	out, err = fomo(t, "model", "announce", manifest, "--home", home, "--weights", weights, "--api", apis["1"])
	if err != nil || !strings.Contains(out, "announced other-model seq 1") {
		t.Fatalf("model announce: %v\n%s", err, out)
	}
	os.WriteFile(manifest, []byte("name = \"Bad Name\"\nseq = 1\n"), 0o600)
	if out, err := fomo(t, "model", "announce", manifest, "--home", home, "--weights", weights, "--api", apis["1"]); err == nil || !strings.Contains(out, "name") {
		t.Fatalf("bad manifest accepted: %v\n%s", err, out)
	}

	gw.signal(t, syscall.SIGINT, 30*time.Second)
	p.signal(t, syscall.SIGINT, 60*time.Second)
	for i := range 3 {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("node%d", i), "api.addr")); !os.IsNotExist(err) {
			t.Errorf("node%d still has api.addr after devnet stopped (not shut down cleanly)", i)
		}
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	// An upstream that accepts connections and never answers keeps a
	// request in flight, so the first SIGTERM's graceful stop waits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	home := t.TempDir()
	cfg := fmt.Sprintf("version = 1\n[node]\nstream_grace = \"5m\"\n[[runtime]]\nname = \"hang\"\nkind = \"openai\"\nurl = \"http://%s\"\nmodels = [\"hang\"]\n", ln.Addr())
	os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600)
	p := start(t, append(append([]string{"node", "--home", home}, testSets...), openAccess(t, home)...)...)
	api := "http://" + waitFile(t, p, filepath.Join(home, "api.addr"))
	go http.Post(api+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"hang","messages":[]}`))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, metrics := testhttp.Get(t, api+"/metrics")
		if strings.Contains(metrics, "fomo_inference_in_flight 1") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		t.Fatalf("node exited on the first signal despite an in-flight request (grace 5m): %v\n%s", p.err, p.out)
	case <-time.After(500 * time.Millisecond):
	}
	t0 := time.Now()
	p.signal(t, syscall.SIGTERM, 5*time.Second)
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("second signal: exit %v, want status 130\n%s", p.err, p.out)
	}
	t.Logf("exited %s after the second signal", time.Since(t0))
}

// peerOf returns node<i>'s peer ID from devnet's output.
func peerOf(out, i string) string {
	m := regexp.MustCompile(`(?m)^node` + i + ` api=\S+ peer=(\S+) pid=\d+$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestInitPersonal: a GPU owner's standalone node serves their own apps.
// init --personal creates the owner's account, a session key and the
// local account registry and prints the API key; a node on that home
// answers a chat completion paid with it.
func TestInitPersonal(t *testing.T) {
	home := t.TempDir()
	out, err := fomo(t, "init", "--personal", "--credit", "5", "--home", home)
	if err != nil {
		t.Fatalf("init --personal: %v\n%s", err, out)
	}
	apiKey := regexp.MustCompile(`fomo_sk_\S+`).FindString(out)
	if apiKey == "" || !strings.Contains(out, "credit 5.000000 usd") {
		t.Fatalf("init --personal printed no API key or credit:\n%s", out)
	}
	for _, f := range []string{"keys/owner.key", "keys/owner-session.key", "accounts.toml"} {
		if st, err := os.Stat(filepath.Join(home, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	model := filepath.Join(home, "tiny.gguf")
	if out, err := fomo(t, "model", "synth", "--preset", "tiny", "--type", "q8_0", "-o", model); err != nil {
		t.Fatalf("model synth: %v\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(home, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[runtime]]\nname = \"tiny\"\nkind = \"engine\"\nmodel = %q\n", model)
	f.Close()

	p := start(t, append([]string{"node", "--home", home, "--set", "gpu.enabled=false"}, testSets...)...)
	api := "http://" + waitFile(t, p, filepath.Join(home, "api.addr"))
	chat := `{"model":"tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":4}`
	var code int
	var body string
	fomotest.WaitFor(t, 30*time.Second, "the node to serve tiny", func() bool {
		req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", strings.NewReader(chat))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(b)
		return code == http.StatusOK
	})
	if !strings.Contains(body, `"receipt_id"`) {
		t.Fatalf("chat with the API key: %d %s", code, body)
	}
	// Without the key the node refuses: the registry pays only for its owner.
	if resp, err := http.Post(api+"/v1/chat/completions", "application/json", strings.NewReader(chat)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("chat without a key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
