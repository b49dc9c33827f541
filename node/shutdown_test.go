package node

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime/runtimetest"
	goopenai "github.com/sashabaranov/go-openai"
)

// TestShutdownStreamGrace checks that Stop lets an in-flight stream finish
// within node.stream_grace, and cuts one that would outlive it.
func TestShutdownStreamGrace(t *testing.T) {
	for name, tc := range map[string]struct {
		tokens   int
		grace    time.Duration
		complete bool
	}{
		"finishes within grace": {tokens: 60, grace: 20 * time.Second, complete: true},
		"cut after grace":       {tokens: 100000, grace: 300 * time.Millisecond, complete: false},
	} {
		t.Run(name, func(t *testing.T) {
			up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(tc.tokens),
				runtimetest.WithTokenDelay(5*time.Millisecond))
			srv := httptest.NewServer(up)
			defer srv.Close()
			defer up.Close()
			cfg := testConfig()
			cfg.Node.StreamGrace = configs.Duration(tc.grace)
			cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
			n, err := New(cfg, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			s, err := client("http://"+n.APIAddr()).CreateChatCompletionStream(context.Background(),
				goopenai.ChatCompletionRequest{Model: "m", Stream: true, StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
					Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			t0 := time.Now()
			go func() { stopped <- n.Stop(context.Background()) }()
			got, err := readStream(t, s)
			if tc.complete {
				if err != nil || got.usage == nil {
					t.Fatalf("in-flight stream did not finish during shutdown: %v %+v", err, got)
				}
			} else if err == nil && got.usage != nil {
				t.Fatalf("a stream longer than the grace finished: %+v", got)
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Fatalf("Stop: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Stop did not return")
			}
			if !tc.complete && time.Since(t0) > tc.grace+10*time.Second {
				t.Fatalf("Stop took %s with a grace of %s", time.Since(t0), tc.grace)
			}
		})
	}
}
