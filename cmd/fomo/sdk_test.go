package main

// The official OpenAI SDKs, unchanged, against a devnet node and against a
// gateway in front of it: base URL and a placeholder API key are all they
// are given.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// sdkModel is the model of the SDK tests' devnet.
const sdkModel = "synth-tiny-q8_0"

// sdkNet is a devnet of two nodes (the model on node0; one node alone has
// no DHT to announce it in) and a gateway in front of it that signs with
// the demo user's session key (DIR/keys/user-session.key).
type sdkNet struct {
	node, gateway string // API base URLs, without /v1
	sessionKey    string // the demo user's session key, fomo_sk_…
	user          string // the demo user's account
	networkID     string
	dir           string // the devnet's
	bootstrap     string // node0's libp2p address
	devnet, gw    *proc
}

var (
	sessionKeyRE = regexp.MustCompile(`API key (fomo_sk_\S+)`)
	demoUserRE   = regexp.MustCompile(`demo user (12D3KooW\w+)`)
)

func startSDKNet(t *testing.T) *sdkNet {
	t.Helper()
	dir := t.TempDir()
	p := start(t, "devnet", "--nodes", "2", "--serve-on", "1", "--dir", dir, "--traffic", "0", "--set", "gpu.enabled=false",
		"--set", "p2p.advert_interval=500ms", "--model-preset", "tiny", "--model-type", "q8_0")
	nodes := fomotest.WaitDevnet(t, p.out, p.exited, 2, 2*time.Minute)
	m, u := sessionKeyRE.FindStringSubmatch(p.out.String()), demoUserRE.FindStringSubmatch(p.out.String())
	if m == nil || u == nil {
		t.Fatalf("devnet printed no demo user or API key:\n%s", p.out)
	}
	var st struct {
		ListenAddrs []string `json:"listen_addrs"`
		NetworkID   string   `json:"network_id"`
	}
	_, body := testhttp.Get(t, nodes[0].API+"/api/v1/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.ListenAddrs) == 0 || st.NetworkID == "" {
		t.Fatalf("node0 status: %v %s", err, body)
	}
	gw := start(t, "gateway", "--home", dir, "--key-name", "user-session", "--bootstrap", st.ListenAddrs[0],
		"--set", "p2p.network="+filepath.Join(dir, "genesis.toml"),
		"--set", "api.listen=127.0.0.1:0")
	n := &sdkNet{node: nodes[0].API, gateway: "http://" + waitFile(t, gw, filepath.Join(dir, "api.addr")),
		sessionKey: m[1], user: u[1], networkID: st.NetworkID, dir: dir, bootstrap: st.ListenAddrs[0], devnet: p, gw: gw}
	// The gateway finds the model once the node's provider record and
	// capacity advert reach it.
	chat := `{"model":"` + sdkModel + `","messages":[{"role":"user","content":"hello"}],"max_tokens":4}`
	fomotest.WaitFor(t, time.Minute, "the gateway to serve "+sdkModel, func() bool {
		resp, err := http.Post(n.gateway+"/v1/chat/completions", "application/json", strings.NewReader(chat))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n
}

// fomoOf returns the fomo object of a response or chunk's raw JSON.
func fomoOf(raw string) (receiptID string, outputTokens int64) {
	var v struct {
		Fomo *struct {
			ReceiptID    string `json:"receipt_id"`
			OutputTokens int64  `json:"output_tokens"`
		} `json:"fomo"`
	}
	if json.Unmarshal([]byte(raw), &v) != nil || v.Fomo == nil {
		return "", 0
	}
	return v.Fomo.ReceiptID, v.Fomo.OutputTokens
}

// wantReceipt checks that the node holds the receipt id (by gossip when
// the request came through the gateway).
func (n *sdkNet) wantReceipt(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Fatal("the response carries no receipt")
	}
	fomotest.WaitFor(t, 30*time.Second, "receipt "+id+" on the node", func() bool {
		var r map[string]any
		return fomotest.GetJSON(context.Background(), n.node+"/api/v1/receipts/"+id, &r, 5*time.Second) == nil
	})
}

func TestOpenAISDKs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet and a gateway")
	}
	n := startSDKNet(t)
	defer func() {
		if t.Failed() {
			t.Logf("devnet:\n%s\ngateway:\n%s", n.devnet.out, n.gw.out)
		}
	}()
	if strings.Contains(n.gw.out.String(), "no model runtime configured") {
		t.Errorf("the gateway warns that it has no runtime:\n%s", n.gw.out)
	}
	targets := []struct{ name, api, key string }{
		{"node placeholder key", n.node, "sk-placeholder"},
		{"node session key", n.node, n.sessionKey},
		{"gateway placeholder key", n.gateway, "sk-placeholder"},
		{"gateway session key", n.gateway, n.sessionKey},
	}
	t.Run("go", func(t *testing.T) {
		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) { goSDK(t, n, tg.api, tg.key) })
		}
	})
	t.Run("node", func(t *testing.T) {
		dir := npmOpenAI(t)
		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) { nodeSDK(t, n, dir, tg.api, tg.key) })
		}
	})
	t.Run("gateway with a session key authorized after genesis", func(t *testing.T) {
		// The user authorizes a new session key on chain; a gateway signing
		// with it is told its account (--account): the genesis does not know it.
		// The devnet's own transactions for the user (its swap) may race
		// this one: it is retried.
		var out string
		var err error
		for range 10 {
			if out, err = fomo(t, "key", "authorize", "--session", "laptop", "--home", n.dir, "--key-name", "user", "--api", n.node); err == nil {
				break
			}
			t.Logf("key authorize: %v\n%s", err, out)
			time.Sleep(time.Second)
		}
		if err != nil {
			t.Fatalf("key authorize: %v\n%s", err, out)
		}
		home := t.TempDir()
		if err := os.Mkdir(filepath.Join(home, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(filepath.Join(n.dir, "keys", "laptop.key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, "keys", "laptop.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		gw := start(t, "gateway", "--home", home, "--key-name", "laptop", "--account", n.user, "--bootstrap", n.bootstrap,
			"--set", "p2p.network="+filepath.Join(n.dir, "genesis.toml"), "--set", "api.listen=127.0.0.1:0")
		api := "http://" + waitFile(t, gw, filepath.Join(home, "api.addr"))
		client := openai.NewClient(option.WithBaseURL(api+"/v1"), option.WithAPIKey("sk-placeholder"), option.WithMaxRetries(0))
		var resp *openai.ChatCompletion
		fomotest.WaitFor(t, time.Minute, "a request through the gateway paid with the new session key", func() bool {
			resp, err = client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
				Model: sdkModel, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")}, MaxTokens: openai.Int(4),
			})
			return err == nil
		})
		id, _ := fomoOf(resp.RawJSON())
		n.wantReceipt(t, id)
		if out, err := fomo(t, "gateway", "--home", home, "--key-name", "laptop", "--account", "nobody"); err == nil || !strings.Contains(out, "--account") {
			t.Fatalf("a gateway with a malformed --account: %v\n%s", err, out)
		}
	})
	t.Run("gateway on another network", func(t *testing.T) {
		var st struct {
			ListenAddrs []string `json:"listen_addrs"`
		}
		_, body := testhttp.Get(t, n.node+"/api/v1/status")
		if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.ListenAddrs) == 0 {
			t.Fatalf("status: %v %s", err, body)
		}
		// No p2p.network: the gateway is on the built-in network.
		out, err := fomo(t, "gateway", "--home", t.TempDir(), "--bootstrap", st.ListenAddrs[0], "--set", "api.listen=127.0.0.1:0")
		if err == nil || !strings.Contains(out, "network mismatch") || !strings.Contains(out, n.networkID) {
			t.Fatalf("a gateway on another network than its peer: %v\n%s", err, out)
		}
		if strings.Contains(out, "gateway api=") {
			t.Fatalf("the gateway served before refusing:\n%s", out)
		}
	})
}

// goSDK runs a chat completion, then a streamed one, through
// github.com/openai/openai-go.
func goSDK(t *testing.T, n *sdkNet, api, key string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client := openai.NewClient(option.WithBaseURL(api+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:     sdkModel,
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		MaxTokens: openai.Int(8),
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatalf("chat completion: %v", err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Usage.CompletionTokens == 0 || resp.Usage.PromptTokens == 0 {
		t.Fatalf("chat completion: %s", resp.RawJSON())
	}
	id, out := fomoOf(resp.RawJSON())
	if out != resp.Usage.CompletionTokens {
		t.Fatalf("the receipt counts %d output tokens, usage %d: %s", out, resp.Usage.CompletionTokens, resp.RawJSON())
	}
	n.wantReceipt(t, id)

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	id = ""
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		if r, o := fomoOf(c.RawJSON()); r != "" {
			id, out = r, o
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("streamed chat completion: %v", err)
	}
	stream.Close()
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("streamed chat completion: %+v", acc.ChatCompletion)
	}
	if out != acc.Usage.CompletionTokens {
		t.Fatalf("the streamed receipt counts %d output tokens, usage %d", out, acc.Usage.CompletionTokens)
	}
	n.wantReceipt(t, id)
}

// openaiNPM is the version of the npm package openai the test installs.
const openaiNPM = "6.49.0"

// npmOpenAI installs the npm package openai once into the user's cache
// directory and returns the directory that holds its node_modules. It
// skips the test without node or npm, or when the registry is unreachable.
func npmOpenAI(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install nodejs npm)", tool)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "fomo-test", "npm-openai-"+openaiNPM)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "openai@"+openaiNPM)
	out, err := cmd.CombinedOutput()
	if err != nil {
		for _, unreachable := range []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH", "ECONNRESET", "network"} {
			if strings.Contains(string(out), unreachable) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Skipf("npm install openai@%s: the registry is unreachable: %v\n%s", openaiNPM, err, out)
			}
		}
		t.Fatalf("npm install openai@%s: %v\n%s", openaiNPM, err, out)
	}
	return dir
}

// sdkScript runs a chat completion and a streamed one with the npm package
// openai and prints what the test checks, as JSON.
const sdkScript = `import { createRequire } from 'node:module';
const require = createRequire(process.env.OPENAI_DIR + '/');
const { OpenAI } = require('openai');
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const params = { model: process.env.MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 };
const r = await client.chat.completions.create(params);
let content = '', usage = null, fomo = null;
const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  content += chunk.choices?.[0]?.delta?.content ?? '';
  if (chunk.usage) usage = chunk.usage;
  if (chunk.fomo) fomo = chunk.fomo;
}
console.log(JSON.stringify({
  plain: { content: r.choices[0].message.content, usage: r.usage, fomo: r.fomo },
  stream: { content, usage, fomo },
}));
`

// nodeSDK runs sdkScript with Node.js against api.
func nodeSDK(t *testing.T, n *sdkNet, openaiDir, api, key string) {
	script := filepath.Join(t.TempDir(), "sdk.mjs")
	if err := os.WriteFile(script, []byte(sdkScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "OPENAI_DIR="+openaiDir, "BASE_URL="+api+"/v1", "API_KEY="+key, "MODEL="+sdkModel)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w\n%s", err, ee.Stderr)
		}
		t.Fatalf("node %s: %v", script, err)
	}
	type result struct {
		Content string `json:"content"`
		Usage   *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
		Fomo *struct {
			ReceiptID    string `json:"receipt_id"`
			OutputTokens int64  `json:"output_tokens"`
		} `json:"fomo"`
	}
	var got struct{ Plain, Stream result }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the script's output: %v\n%s", err, out)
	}
	for name, r := range map[string]result{"chat completion": got.Plain, "streamed chat completion": got.Stream} {
		if r.Content == "" || r.Usage == nil || r.Usage.CompletionTokens == 0 || r.Usage.PromptTokens == 0 ||
			r.Fomo == nil || r.Fomo.OutputTokens != r.Usage.CompletionTokens {
			t.Fatalf("%s: %s", name, out)
		}
		n.wantReceipt(t, r.Fomo.ReceiptID)
	}
}
