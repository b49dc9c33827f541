package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	goopenai "github.com/sashabaranov/go-openai"
)

// TestForwardingToProvider runs three nodes on loopback; only node 0 serves
// the model. Requests entering at nodes 1 and 2 are forwarded over the
// inference protocol and answered by node 0, as X-Fomo-Node says.
func TestForwardingToProvider(t *testing.T) {
	model := synthModel(t)
	var nodes []*Node
	for i := range 3 {
		cfg := testConfig()
		cfg.P2P.AdvertInterval = configs.Duration(200 * time.Millisecond)
		if i == 0 {
			cfg.Runtime = []configs.Runtime{{Name: "tiny", Kind: configs.KindEngine, Model: model, Threads: 1}}
		} else {
			cfg.P2P.Bootstrap = []string{nodes[0].host.ListenAddrs()[0]}
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	provider := nodes[0].ID().String()
	// Nothing is announced to the network before the issuer's manifest is.
	if _, err := client("http://"+nodes[1].APIAddr()).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "tiny", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "x"}}}); err == nil {
		t.Fatal("a model without a manifest was served through the network")
	}
	announce(t, nodes[2], "tiny", model)
	req := goopenai.ChatCompletionRequest{
		Model: "tiny", MaxTokens: 8, Seed: new(int),
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "route me"}},
	}
	want, err := client("http://"+nodes[0].APIAddr()).CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range nodes[1:] {
		var got goopenai.ChatCompletionResponse
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err = client("http://"+entry.APIAddr()).CreateChatCompletion(context.Background(), req)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // until the advert and provider record have spread
		}
		if err != nil {
			t.Fatalf("request at %s: %v", entry.ID(), err)
		}
		if got.Choices[0].Message.Content != want.Choices[0].Message.Content || got.Usage != want.Usage {
			t.Fatalf("forwarded answer differs: %+v vs %+v", got, want)
		}
		if served := got.Header().Get("X-Fomo-Node"); served != provider {
			t.Fatalf("X-Fomo-Node = %q, want the provider %s", served, provider)
		}
		// Streaming through the entry node, usage included.
		sreq := req
		sreq.Stream = true
		sreq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
		s, err := client("http://"+entry.APIAddr()).CreateChatCompletionStream(context.Background(), sreq)
		if err != nil {
			t.Fatal(err)
		}
		r, err := readStream(t, s)
		s.Close()
		if err != nil || r.content != want.Choices[0].Message.Content || r.usage == nil || *r.usage != want.Usage {
			t.Fatalf("forwarded stream: %v %+v", err, r)
		}
	}
	// Node 2 holds node 0's signed advert: the model, its manifest prices,
	// and the measured queue and speed.
	ads := nodes[2].net.capacity.Fresh("tiny")
	if len(ads) != 1 || ads[0].Peer != nodes[0].ID() {
		t.Fatalf("fresh adverts for tiny at node 2: %+v", ads)
	}
	if mc, ok := ads[0].Model("tiny"); !ok || mc.InputPrice != 100 || mc.OutputPrice != 200 || mc.TokensPerSecondMilli == 0 {
		t.Fatalf("advert of tiny: %+v", mc)
	}
	// The model is listed at every node.
	_, body := testhttp.Get(t, "http://"+nodes[2].APIAddr()+"/v1/models")
	if !strings.Contains(body, `"id": "tiny"`) {
		t.Fatalf("/v1/models at a non-serving node lacks the network's model: %s", body)
	}
	resp, err := http.Get("http://" + nodes[2].APIAddr() + "/v1/models/tiny")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/models/tiny at a non-serving node: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	// Operators see the forwarding and the peers on /metrics.
	_, metrics := testhttp.Get(t, "http://"+nodes[2].APIAddr()+"/metrics")
	for _, want := range []string{"fomo_forward_attempts_total ", "fomo_forward_retries_total ",
		`fomo_forward_failures_total{reason="broken"} 0`, `fomo_p2p_peers{transport="tcp"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics of node 2 lacks %q", want)
		}
	}
	if strings.Contains(metrics, "fomo_forward_attempts_total 0\n") {
		t.Error("node 2 forwarded requests but counts no attempt")
	}
	// Node 2 reached the provider, so it has at least that peer (over
	// tcp: the test nodes listen on tcp only).
	if strings.Contains(metrics, `fomo_p2p_peers{transport="tcp"} 0`+"\n") {
		t.Error("node 2 counts no tcp peer")
	}
}

// announce signs a manifest for the weights at path with a new issuer key
// and publishes it through n's API, as `fomo model announce` does.
func announce(t testing.TB, n *Node, name, path string) {
	t.Helper()
	announceAt(t, n, name, path, 100, 200)
}

// announceAt announces a manifest for the model at path with the given
// prices (usd base units per 1M tokens).
func announceAt(t testing.TB, n *Node, name, path string, inPrice, outPrice uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	issuer, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env, err := models.Sign(models.Manifest{
		Name: name, Seq: 1, Architecture: "llama", Quantization: "q8_0", ContextLength: 512, Tier: "small",
		InputPrice: inPrice, OutputPrice: outPrice,
		Weights: models.Weights{SHA256: hex.EncodeToString(sum[:]), Size: uint64(len(b))},
	}, issuer)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post("http://"+n.APIAddr()+"/api/v1/manifests", "application/octet-stream", bytes.NewReader(env))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return
		}
		// 503 until the node's DHT has peers to store the record on.
		if resp.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("announce: %d %s", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
