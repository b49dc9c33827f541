package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/receipt"
	goopenai "github.com/sashabaranov/go-openai"
)

// upstreamNode starts real OpenAI-compatible upstreams on loopback and a
// node with one kind = "openai" runtime per upstream.
func upstreamNode(t *testing.T, ups map[string]*runtimetest.Upstream) (*Node, map[string]string) {
	t.Helper()
	cfg := testConfig()
	urls := map[string]string{}
	for name, u := range ups {
		srv := httptest.NewServer(u)
		t.Cleanup(srv.Close)
		t.Cleanup(u.Close)
		urls[name] = srv.URL
		cfg.Runtime = append(cfg.Runtime, configs.Runtime{Name: name, Kind: configs.KindOpenAI, URL: srv.URL,
			IdleTimeout: configs.Duration(5 * time.Second)})
	}
	return startNode(t, cfg), urls
}

func client(base string) *goopenai.Client {
	key, err := receipt.EncodeSessionKey(testSessionKey)
	if err != nil {
		panic(err)
	}
	c := goopenai.DefaultConfig(key)
	c.BaseURL = base + "/v1"
	return goopenai.NewClientWithConfig(c)
}

func chatRequest(model string, stream bool) goopenai.ChatCompletionRequest {
	req := goopenai.ChatCompletionRequest{
		Model:     model,
		Messages:  []goopenai.ChatCompletionMessage{{Role: "user", Content: "Tell me about GPUs."}},
		MaxTokens: 24,
		Seed:      new(int),
	}
	if stream {
		req.Stream = true
		req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	}
	return req
}

type streamed struct {
	content string
	chunks  int
	finish  goopenai.FinishReason
	usage   *goopenai.Usage
}

func readStream(t *testing.T, s *goopenai.ChatCompletionStream) (streamed, error) {
	t.Helper()
	var out streamed
	for {
		resp, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out.chunks++
		if resp.Usage != nil {
			out.usage = resp.Usage
		}
		for _, c := range resp.Choices {
			out.content += c.Delta.Content
			if c.FinishReason != "" {
				out.finish = c.FinishReason
			}
		}
	}
}

func TestOpenAIUpstreamSameThroughNode(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("up-model"), runtimetest.WithTokens(40))
	n, urls := upstreamNode(t, map[string]*runtimetest.Upstream{"vllm": up})
	direct, via := client(urls["vllm"]), client("http://"+n.APIAddr())
	ctx := context.Background()

	models, err := via.ListModels(ctx)
	if err != nil || len(models.Models) != 1 || models.Models[0].ID != "up-model" {
		t.Fatalf("models through the node: %+v, %v", models, err)
	}

	// Non-streaming chat.
	want, err := direct.CreateChatCompletion(ctx, chatRequest("up-model", false))
	if err != nil {
		t.Fatal(err)
	}
	got, err := via.CreateChatCompletion(ctx, chatRequest("up-model", false))
	if err != nil {
		t.Fatal(err)
	}
	if got.Choices[0].Message.Content != want.Choices[0].Message.Content || got.Usage != want.Usage ||
		got.Choices[0].FinishReason != want.Choices[0].FinishReason || got.Model != want.Model {
		t.Fatalf("through the node:\n got %+v\nwant %+v", got, want)
	}
	if want.Usage.CompletionTokens != 24 || want.Choices[0].FinishReason != goopenai.FinishReasonLength {
		t.Fatalf("upstream stand-in did not honour max_tokens: %+v", want)
	}

	// Streaming chat, usage included.
	var streams [2]streamed // direct, then through the node
	for i, c := range []*goopenai.Client{direct, via} {
		s, err := c.CreateChatCompletionStream(ctx, chatRequest("up-model", true))
		if err != nil {
			t.Fatal(err)
		}
		streams[i], err = readStream(t, s)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	wantS, gotS := streams[0], streams[1]
	if gotS.content != wantS.content || gotS.chunks != wantS.chunks || gotS.finish != wantS.finish ||
		gotS.usage == nil || wantS.usage == nil || *gotS.usage != *wantS.usage {
		t.Fatalf("stream through the node differs:\n got %+v usage %+v\nwant %+v usage %+v", gotS, gotS.usage, wantS, wantS.usage)
	}
	if gotS.content != got.Choices[0].Message.Content {
		t.Fatalf("streamed text %q differs from non-streamed %q", gotS.content, got.Choices[0].Message.Content)
	}

	// Completions and embeddings.
	creq := goopenai.CompletionRequest{Model: "up-model", Prompt: "Once upon a time", MaxTokens: 10}
	wc, err := direct.CreateCompletion(ctx, creq)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := via.CreateCompletion(ctx, creq)
	if err != nil || gc.Choices[0].Text != wc.Choices[0].Text || gc.Usage == nil || wc.Usage == nil || *gc.Usage != *wc.Usage {
		t.Fatalf("completion through the node: %+v %v; want %+v", gc, err, wc)
	}
	ereq := goopenai.EmbeddingRequest{Model: "up-model", Input: []string{"a", "b"}}
	we, err := direct.CreateEmbeddings(ctx, ereq)
	if err != nil {
		t.Fatal(err)
	}
	ge, err := via.CreateEmbeddings(ctx, ereq)
	if err != nil || len(ge.Data) != 2 || len(ge.Data[1].Embedding) != len(we.Data[1].Embedding) ||
		ge.Data[1].Embedding[0] != we.Data[1].Embedding[0] || ge.Usage != we.Usage {
		t.Fatalf("embeddings through the node: %v", err)
	}

	// Metering: the node counted the usage it relayed.
	_, metrics := testhttp.Get(t, "http://"+n.APIAddr()+"/metrics")
	if !strings.Contains(metrics, `fomo_inference_tokens_total{kind="completion",model="up-model"}`) {
		t.Fatalf("no token metrics:\n%s", grep(metrics, "fomo_inference"))
	}
}

func TestUpstreamDiesMidStream(t *testing.T) {
	dying := runtimetest.NewUpstream(runtimetest.WithModels("dying"), runtimetest.WithTokens(50), runtimetest.WithDieAfter(3))
	healthy := runtimetest.NewUpstream(runtimetest.WithModels("healthy"), runtimetest.WithTokens(5))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"a": dying, "b": healthy})
	via := client("http://" + n.APIAddr())
	ctx := context.Background()

	s, err := via.CreateChatCompletionStream(ctx, chatRequest("dying", true))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readStream(t, s)
	s.Close()
	if err == nil {
		t.Fatalf("stream from a dying upstream ended cleanly: %+v", got)
	}
	if got.chunks == 0 {
		t.Fatalf("no chunk arrived before the failure (err %v)", err)
	}
	t.Logf("client saw %d chunks, then: %v", got.chunks, err)

	// The node stays up and serves the next requests, on both runtimes.
	for _, model := range []string{"healthy", "healthy"} {
		s, err := via.CreateChatCompletionStream(ctx, chatRequest(model, true))
		if err != nil {
			t.Fatal(err)
		}
		r, err := readStream(t, s)
		s.Close()
		if err != nil || r.usage == nil {
			t.Fatalf("request after the failure: %v %+v", err, r)
		}
	}
	if code, _ := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/status"); code != 200 {
		t.Fatalf("status after failure: %d", code)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("slow"), runtimetest.WithTokens(10000),
		runtimetest.WithTokenDelay(5*time.Millisecond))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"slow": up})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := client("http://"+n.APIAddr()).CreateChatCompletionStream(ctx, goopenai.ChatCompletionRequest{
		Model: "slow", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "go"}}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	s.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := up.WaitCancelled(wctx, 1); err != nil {
		t.Fatalf("the upstream request was not cancelled after the client left: %v", err)
	}
}

func TestUnknownModelThroughNode(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"))
	n, _ := upstreamNode(t, map[string]*runtimetest.Upstream{"u": up})
	_, err := client("http://"+n.APIAddr()).CreateChatCompletion(context.Background(), chatRequest("other", false))
	var apiErr *goopenai.APIError
	// A model no local runtime serves is looked up in the network: without
	// a signed manifest there is no price to authorize, and the model does
	// not exist (404 naming it).
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound ||
		!strings.Contains(apiErr.Message, `"other"`) || !strings.Contains(apiErr.Message, "no signed manifest") {
		t.Fatalf("unknown model: %v", err)
	}
}
