package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/fomonet/fomo/runtime"
)

// serveOpenAI is a minimal OpenAI HTTP front end over a runtime, enough
// for an independent client to check the response shapes.
func serveOpenAI(t *testing.T, rt runtime.Runtime) string {
	mux := http.NewServeMux()
	handle := func(api runtime.API) http.HandlerFunc {
		return func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			s, err := runtime.Do(req.Context(), rt, &runtime.Request{API: api, Body: body, Stream: strings.Contains(string(body), `"stream":true`)})
			if err != nil {
				e := runtime.AsError(err)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(e.Status)
				_, _ = w.Write(e.JSON())
				return
			}
			defer s.Close()
			stream := strings.Contains(string(body), `"stream":true`)
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
			} else {
				w.Header().Set("Content-Type", "application/json")
			}
			for {
				ev, err := s.Recv()
				if err != nil {
					break
				}
				if stream {
					fmt.Fprintf(w, "data: %s\n\n", ev.Data)
				} else {
					_, _ = w.Write(ev.Data)
				}
			}
			if stream {
				fmt.Fprint(w, "data: [DONE]\n\n")
			}
		}
	}
	mux.HandleFunc("POST /v1/chat/completions", handle(runtime.APIChat))
	mux.HandleFunc("POST /v1/completions", handle(runtime.APICompletion))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func TestOpenAIClient(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	cfg := openai.DefaultConfig("unused")
	cfg.BaseURL = serveOpenAI(t, r)
	client := openai.NewClientWithConfig(cfg)
	ctx := context.Background()
	seed := 9
	req := openai.ChatCompletionRequest{
		Model:     "tiny",
		Messages:  []openai.ChatCompletionMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "How fast is decode on a GPU?"}},
		MaxTokens: 10,
		Seed:      &seed,
		Stop:      []string{"\x00never"},
	}
	resp, err := client.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Role != "assistant" || resp.Usage.PromptTokens != int(promptTokens(t, r, testMsgs)) ||
		resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Errorf("response %+v", resp)
	}

	req.Stream = true
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	st, err := client.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var usage *openai.Usage
	var finish openai.FinishReason
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Usage != nil {
			usage = ch.Usage
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	st.Close()
	if text.String() != resp.Choices[0].Message.Content || finish != resp.Choices[0].FinishReason {
		t.Errorf("stream gave %q (%s), non-stream %q (%s)", text.String(), finish, resp.Choices[0].Message.Content, resp.Choices[0].FinishReason)
	}
	if usage == nil || *usage != resp.Usage {
		t.Errorf("stream usage %+v, want %+v", usage, resp.Usage)
	}

	cresp, err := client.CreateCompletion(ctx, openai.CompletionRequest{Model: "tiny", Prompt: "Memory is usually", MaxTokens: 5, Temperature: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(cresp.Choices) != 1 || cresp.Object != "text_completion" || cresp.Usage.CompletionTokens == 0 {
		t.Errorf("completion %+v", cresp)
	}

	_, err = client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "tiny", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}, N: 3})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest || apiErr.Type != runtime.ErrTypeInvalidRequest {
		t.Errorf("n=3: %v", err)
	}
}
