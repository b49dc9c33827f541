package runtimetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime"
	goopenai "github.com/sashabaranov/go-openai"
)

func serve(t *testing.T, opts ...Option) (*Upstream, string) {
	t.Helper()
	u := NewUpstream(opts...)
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	t.Cleanup(u.Close)
	return u, srv.URL
}

func client(base string) *goopenai.Client {
	c := goopenai.DefaultConfig("unused")
	c.BaseURL = base + "/v1"
	return goopenai.NewClientWithConfig(c)
}

// TestUpstreamWithOpenAIClient checks the upstream against an independent
// OpenAI client library.
func TestUpstreamWithOpenAIClient(t *testing.T) {
	_, base := serve(t, WithModels("m1", "m2"), WithTokens(5), WithContextLength(4096))
	c := client(base)
	ctx := context.Background()
	seed := 7
	prompt := "hello there world"

	models, err := c.ListModels(ctx)
	if err != nil || len(models.Models) != 2 || models.Models[0].ID != "m1" {
		t.Fatalf("ListModels = %+v, %v", models, err)
	}
	if m, err := c.GetModel(ctx, "m2"); err != nil || m.ID != "m2" {
		t.Fatalf("GetModel = %+v, %v", m, err)
	}
	_, err = c.GetModel(ctx, "nope")
	var apiErr *goopenai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 {
		t.Fatalf("GetModel(nope) = %v", err)
	}

	req := goopenai.ChatCompletionRequest{Model: "m1", Seed: &seed,
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: prompt}}}
	resp, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Choices[0].Message.Content, Text(prompt, 7, 5); got != want {
		t.Fatalf("content %q, want %q", got, want)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens != 5 || resp.Usage.PromptTokens != 3 {
		t.Fatalf("response %+v", resp)
	}

	req.Stream, req.StreamOptions, req.MaxTokens = true, &goopenai.StreamOptions{IncludeUsage: true}, 3
	st, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var content string
	var finish goopenai.FinishReason
	var usage *goopenai.Usage
	chunks := 0
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		if r.Usage != nil {
			usage = r.Usage
		}
		for _, ch := range r.Choices {
			content += ch.Delta.Content
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if want := Text(prompt, 7, 3); content != want || finish != "length" || usage == nil || usage.CompletionTokens != 3 {
		t.Fatalf("stream: content %q (want %q), finish %q, usage %+v", content, want, finish, usage)
	}
	if chunks != 1+3+1 {
		t.Fatalf("%d chunks, want role + 3 tokens + usage", chunks)
	}

	cr, err := c.CreateCompletion(ctx, goopenai.CompletionRequest{Model: "m2", Prompt: prompt, MaxTokens: 2})
	if err != nil || cr.Choices[0].Text != Text(prompt, 0, 2) || cr.Choices[0].FinishReason != "length" {
		t.Fatalf("completion %+v, %v", cr, err)
	}

	for _, format := range []goopenai.EmbeddingEncodingFormat{goopenai.EmbeddingEncodingFormatFloat, goopenai.EmbeddingEncodingFormatBase64} {
		er, err := c.CreateEmbeddings(ctx, goopenai.EmbeddingRequestStrings{Model: "m1", Input: []string{"a b", "c"}, EncodingFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		if len(er.Data) != 2 || len(er.Data[1].Embedding) != DefaultEmbeddingDims || er.Usage.PromptTokens != 3 {
			t.Fatalf("%s embeddings %+v", format, er)
		}
		if want := Embedding("c", DefaultEmbeddingDims); er.Data[1].Embedding[0] != want[0] {
			t.Fatalf("%s embedding %v, want %v", format, er.Data[1].Embedding, want)
		}
	}
}

func TestUpstreamStreamFormat(t *testing.T) {
	_, base := serve(t, WithTokens(2), WithNow(func() time.Time { return time.Unix(1700000000, 0) }))
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"chat with usage", `{"model":"test-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			[]string{
				`{"id":"chatcmpl-` + "%s" + `","object":"chat.completion.chunk","created":1700000000,"model":"test-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":1700000000,"model":"test-model","choices":[{"index":0,"delta":{"content":"%t0"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":1700000000,"model":"test-model","choices":[{"index":0,"delta":{"content":"%t1"},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
				`{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":1700000000,"model":"test-model","choices":[],"usage":{"prompt_tokens":1,"total_tokens":3,"completion_tokens":2}}`,
				`[DONE]`,
			}},
		{"completion without usage", `{"model":"test-model","stream":true,"prompt":"hi"}`,
			[]string{
				`{"id":"cmpl-%s","object":"text_completion","created":1700000000,"model":"test-model","choices":[{"index":0,"text":"%t0","logprobs":null,"finish_reason":null}]}`,
				`{"id":"cmpl-%s","object":"text_completion","created":1700000000,"model":"test-model","choices":[{"index":0,"text":"%t1","logprobs":null,"finish_reason":"stop"}]}`,
				`[DONE]`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/completions"
			if strings.Contains(tc.body, "messages") {
				path = "/v1/chat/completions"
			}
			resp, body := testhttp.Post(t, base+path, tc.body)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
			got := SSEData(body)
			if len(got) != len(tc.want) {
				t.Fatalf("%d events, want %d:\n%s", len(got), len(tc.want), body)
			}
			id := strings.TrimPrefix(strings.TrimPrefix(idFor(strings.Contains(tc.body, "messages"), "hi", 0), "chatcmpl-"), "cmpl-")
			for i, w := range tc.want {
				w = strings.ReplaceAll(w, "%s", id)
				w = strings.ReplaceAll(w, "%t0", TokenText("hi", 0, 0))
				w = strings.ReplaceAll(w, "%t1", TokenText("hi", 0, 1))
				if string(got[i]) != w {
					t.Errorf("event %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}

func TestUpstreamDeterministic(t *testing.T) {
	_, base := serve(t)
	body := `{"model":"test-model","seed":3,"messages":[{"role":"user","content":[{"type":"text","text":"abc"}]}]}`
	_, a := testhttp.Post(t, base+"/v1/chat/completions", body)
	_, b := testhttp.Post(t, base+"/v1/chat/completions", body)
	if !bytes.Equal(a, b) {
		t.Fatalf("two answers differ:\n%s\n%s", a, b)
	}
	_, c := testhttp.Post(t, base+"/v1/chat/completions", strings.Replace(body, `"seed":3`, `"seed":4`, 1))
	if bytes.Equal(a, c) {
		t.Fatal("seed does not change the answer")
	}
	if Text("abc", 3, 4) == Text("abd", 3, 4) {
		t.Fatal("prompt does not change the text")
	}
}

func TestUpstreamErrors(t *testing.T) {
	failBody := runtime.Errorf(429, runtime.ErrTypeRateLimit, "", "slow down").JSON()
	for _, tc := range []struct {
		name       string
		opts       []Option
		path, body string
		status     int
		wantBody   string
	}{
		{"unknown model", nil, "/v1/chat/completions", `{"model":"x","messages":[{"role":"user","content":"a"}]}`, 404, "The model `x` does not exist."},
		{"bad json", nil, "/v1/completions", `{`, 400, "invalid JSON body"},
		{"max_tokens 0", nil, "/v1/completions", `{"model":"test-model","prompt":"a","max_tokens":0}`, 400, "max_tokens must be at least 1"},
		{"no messages", nil, "/v1/chat/completions", `{"model":"test-model","messages":[]}`, 400, "messages must not be empty"},
		{"failure", []Option{WithFailure(429, failBody)}, "/v1/embeddings", `{"model":"test-model","input":"a"}`, 429, string(failBody)},
		{"loading", []Option{WithLoading()}, "/v1/chat/completions", `{}`, 503, LoadingBody},
		{"loading health", []Option{WithLoading()}, "/health", "", 503, LoadingBody},
		{"no health", []Option{WithoutHealth()}, "/health", "", 404, ""},
		{"wrong method", nil, "/v1/models", "{}", 405, "method not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, base := serve(t, tc.opts...)
			var resp *http.Response
			var body []byte
			if tc.body == "" {
				r, err := http.Get(base + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(r.Body)
				r.Body.Close()
				resp = r
			} else {
				resp, body = testhttp.Post(t, base+tc.path, tc.body)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.status, tc.wantBody)
			}
		})
	}
}

func TestUpstreamReadiness(t *testing.T) {
	u, base := serve(t, WithLoading())
	get := func() int {
		r, err := http.Get(base + "/health")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if s := get(); s != 503 {
		t.Fatalf("loading: %d", s)
	}
	u.SetReady(true)
	if s := get(); s != 200 {
		t.Fatalf("ready: %d", s)
	}
}

func TestUpstreamMidStream(t *testing.T) {
	body := `{"model":"test-model","stream":true,"messages":[{"role":"user","content":"a"}]}`
	t.Run("die", func(t *testing.T) {
		_, base := serve(t, WithDieAfter(2))
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("read the whole body of a dying stream: %s", b)
		}
		if n := len(SSEData(b)); n != 2 {
			t.Fatalf("%d events before dying, want 2", n)
		}
	})
	t.Run("error event", func(t *testing.T) {
		e := runtime.Errorf(500, runtime.ErrTypeAPI, "", "engine crashed")
		_, base := serve(t, WithErrorEventAfter(1, e))
		_, b := testhttp.Post(t, base+"/v1/chat/completions", body)
		ev := SSEData(b)
		if len(ev) != 3 || string(ev[1]) != string(e.JSON()) || string(ev[2]) != "[DONE]" {
			t.Fatalf("events %q", ev)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		u, base := serve(t, WithStallAfter(1))
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 1)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		if err := u.WaitCancelled(wctx, 1); err != nil {
			t.Fatal(err)
		}
		if u.Cancelled() != 1 {
			t.Fatalf("Cancelled() = %d", u.Cancelled())
		}
	})
}

func TestUpstreamRecordsRequests(t *testing.T) {
	u, base := serve(t)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/completions", strings.NewReader(`{"model":"test-model","prompt":"x"}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r, ok := u.LastRequest()
	if !ok || r.Path != "/v1/completions" || r.Header.Get("Authorization") != "Bearer k" || !json.Valid(r.Body) {
		t.Fatalf("recorded %+v", r)
	}
	if len(u.Requests()) != 1 {
		t.Fatalf("%d requests recorded", len(u.Requests()))
	}
}

func TestListenAndServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ListenAndServe(ctx, addr, NewUpstream()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("health %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("ListenAndServe = %v", err)
	}
	if err := ListenAndServe(context.Background(), "256.0.0.1:1", NewUpstream()); err == nil {
		t.Fatal("bad address accepted")
	}
}
