package node

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
	goopenai "github.com/sashabaranov/go-openai"
)

func synthModel(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.gguf")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := synth.Generate(synth.Options{Preset: "tiny", Type: gguf.TypeQ8_0, Seed: 3, Name: "tiny"}, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestEngineNodeAsUpstream serves a synthetic model on the built-in engine
// at node A, and points node B's kind = "openai" runtime at A's API: the
// node is itself a real OpenAI-compatible upstream, and B must answer
// exactly as A does, streaming and not, usage included.
func TestEngineNodeAsUpstream(t *testing.T) {
	cfgA := testConfig()
	cfgA.Runtime = []configs.Runtime{{Name: "tiny", Kind: configs.KindEngine, Model: synthModel(t), Threads: 2}}
	a := startNode(t, cfgA)
	cfgB := testConfig()
	cfgB.Runtime = []configs.Runtime{{Name: "a", Kind: configs.KindOpenAI, URL: "http://" + a.APIAddr()}}
	b := startNode(t, cfgB)

	req := goopenai.ChatCompletionRequest{
		Model:       "tiny",
		Messages:    []goopenai.ChatCompletionMessage{{Role: "user", Content: "What does a node do?"}},
		MaxTokens:   16,
		Temperature: 0.8,
		Seed:        new(int),
	}
	ctx := context.Background()
	ra, err := client("http://"+a.APIAddr()).CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := client("http://"+b.APIAddr()).CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ra.Choices[0].Message.Content == "" || ra.Usage.CompletionTokens != 16 {
		t.Fatalf("engine answer: %+v", ra)
	}
	if rb.Choices[0].Message.Content != ra.Choices[0].Message.Content || rb.Usage != ra.Usage {
		t.Fatalf("node B (upstream = node A) differs:\n A %q %+v\n B %q %+v",
			ra.Choices[0].Message.Content, ra.Usage, rb.Choices[0].Message.Content, rb.Usage)
	}

	_, metrics := testhttp.Get(t, "http://"+a.APIAddr()+"/metrics")
	if !strings.Contains(metrics, `fomo_runtime_queue_depth{runtime="tiny"} 0`) {
		t.Fatalf("engine queue depth not exported:\n%s", grep(metrics, "fomo_runtime"))
	}
	_, status := testhttp.Get(t, "http://"+a.APIAddr()+"/api/v1/status")
	if !strings.Contains(status, `"queue_depth": 0`) {
		t.Fatalf("engine queue depth not in status:\n%s", status)
	}

	req.Stream = true
	req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	var got [2]streamed
	for i, n := range []*Node{a, b} {
		s, err := client("http://"+n.APIAddr()).CreateChatCompletionStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got[i], err = readStream(t, s)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got[0].content != ra.Choices[0].Message.Content || got[1].content != got[0].content ||
		got[0].usage == nil || got[1].usage == nil || *got[0].usage != *got[1].usage || *got[0].usage != ra.Usage {
		t.Fatalf("streams differ:\n A %+v %+v\n B %+v %+v\n non-streamed %q", got[0], got[0].usage, got[1], got[1].usage, ra.Choices[0].Message.Content)
	}
}
