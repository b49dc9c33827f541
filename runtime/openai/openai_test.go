package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

const (
	chatBody = `{"model":"test-model","messages":[{"role":"user","content":"Tell me <about> GPUs & more"}],"seed":5,"temperature":0.7%s}`
	compBody = `{"model":"test-model","prompt":"Once upon a time","top_p":0.9%s}`
)

func body(tmpl, extra string) []byte { return []byte(fmt.Sprintf(tmpl, extra)) }

// isUsageChunk reports whether an event is the usage-only chunk.
func isUsageChunk(ev []byte) bool {
	var c struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   json.RawMessage   `json:"usage"`
	}
	return json.Unmarshal(ev, &c) == nil && c.Choices != nil && len(c.Choices) == 0 &&
		len(c.Usage) > 0 && string(c.Usage) != "null"
}

// TestPassThrough checks that the events through the runtime are the
// upstream's own events, byte for byte, except for the usage chunk, which
// only clients that asked for it get; and that the forwarded body differs
// from the client's only by stream_options.include_usage.
func TestPassThrough(t *testing.T) {
	for _, tc := range []struct {
		name        string
		api         runtime.API
		body        []byte
		clientUsage bool
	}{
		{"chat, no stream_options", runtime.APIChat, body(chatBody, `,"stream":true`), false},
		{"chat, include_usage false", runtime.APIChat, body(chatBody, `,"stream":true,"stream_options":{"include_usage":false}`), false},
		{"chat, include_usage true", runtime.APIChat, body(chatBody, `,"stream":true,"stream_options":{"include_usage":true}`), true},
		{"chat, other stream option kept", runtime.APIChat, body(chatBody, `,"stream":true,"stream_options":{"continuous_usage_stats":false}`), false},
		{"chat, max_tokens", runtime.APIChat, body(chatBody, `,"stream":true,"max_tokens":3`), false},
		{"completion", runtime.APICompletion, body(compBody, `,"stream":true`), false},
		{"completion with usage", runtime.APICompletion, body(compBody, `,"stream":true,"stream_options":{"include_usage":true}`), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []runtimetest.Option{runtimetest.WithTokens(6)}, nil)
			s, err := runtime.Do(context.Background(), e.rt, &runtime.Request{API: tc.api, Model: "test-model", Stream: true, Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := recvAll(s)
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want io.EOF", err)
			}

			sent, _ := e.up.LastRequest()
			if sent.Path != "/v1"+tc.api.Path() {
				t.Fatalf("forwarded to %s", sent.Path)
			}
			var sentDoc, clientDoc map[string]any
			json.Unmarshal(sent.Body, &sentDoc)
			json.Unmarshal(tc.body, &clientDoc)
			so, _ := sentDoc["stream_options"].(map[string]any)
			if so["include_usage"] != true {
				t.Fatalf("forwarded body does not ask for usage: %s", sent.Body)
			}
			if cso, ok := clientDoc["stream_options"].(map[string]any); ok {
				for k, v := range cso {
					if k != "include_usage" && so[k] != v {
						t.Errorf("stream_options.%s lost: %s", k, sent.Body)
					}
				}
			}
			delete(sentDoc, "stream_options")
			delete(clientDoc, "stream_options")
			if !reflect.DeepEqual(sentDoc, clientDoc) {
				t.Fatalf("forwarded body changed beyond stream_options:\n%s\n%s", sent.Body, tc.body)
			}
			if tc.clientUsage && !bytes.Equal(sent.Body, tc.body) {
				t.Fatalf("a body already asking for usage was rewritten:\n%s", sent.Body)
			}

			want := direct(t, e.url, sent.Path, sent.Body)
			if !tc.clientUsage {
				if !isUsageChunk(want[len(want)-1]) {
					t.Fatalf("upstream sent no usage chunk: %s", want[len(want)-1])
				}
				want = want[:len(want)-1]
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("event %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
			u := s.Usage()
			if u.Estimated || u.CompletionTokens == 0 || u.PromptTokens == 0 {
				t.Fatalf("usage %+v, want the upstream's", u)
			}
			wantFinish := runtime.FinishStop
			if strings.Contains(tc.name, "max_tokens") {
				wantFinish = runtime.FinishLength
			}
			if s.Finish() != wantFinish {
				t.Fatalf("finish %q, want %q", s.Finish(), wantFinish)
			}
		})
	}
}

// TestSSEVariants runs differently framed but equivalent streams through
// the runtime: CRLF line ends, no space after "data:", keep-alive comments,
// ignored fields, multi-line data and a final [DONE] without its blank line.
func TestSSEVariants(t *testing.T) {
	const c1 = `{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}`
	const c2 = `{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"length"}]}`
	for _, tc := range []struct {
		name, raw string
		want      []string
	}{
		{"lf", "data: " + c1 + "\n\ndata: " + c2 + "\n\ndata: [DONE]\n\n", []string{c1, c2}},
		{"crlf", "data: " + c1 + "\r\n\r\ndata: " + c2 + "\r\n\r\ndata: [DONE]\r\n\r\n", []string{c1, c2}},
		{"no space", "data:" + c1 + "\n\ndata:" + c2 + "\n\ndata:[DONE]\n\n", []string{c1, c2}},
		{"comments and fields", ": ping\n\nevent: message\nid: 1\ndata: " + c1 + "\nretry: 10\n\n: keep-alive\n\ndata: " + c2 + "\n\ndata: [DONE]\n\n", []string{c1, c2}},
		{"multi-line data", "data: {\"choices\":\ndata: []}\n\ndata: [DONE]\n\n", []string{"{\"choices\":\n[]}"}},
		{"done without blank line", "data: " + c1 + "\n\ndata: [DONE]\n", []string{c1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.raw)
			}))
			defer srv.Close()
			rt, err := New(Config{Name: "raw", URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			s, err := rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: []byte(`{"messages":[{"role":"user","content":"12345678"}]}`)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(s)
			if err != io.EOF {
				t.Fatalf("ended with %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Fatalf("event %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
			if tc.name != "multi-line data" {
				if u := s.Usage(); !u.Estimated || u.CompletionTokens != int64(len(tc.want)) || u.PromptTokens != 2 {
					t.Fatalf("usage %+v", u)
				}
			}
		})
	}
}

func TestIncludeUsage(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		wantOut     string // "" means unchanged
		clientAsked bool
		wantErr     string
	}{
		{"absent", `{"a":1,"stream":true}`, `{"a":1,"stream":true,"stream_options":{"include_usage":true}}`, false, ""},
		{"null options", `{"stream_options":null}`, `{"stream_options":{"include_usage":true}}`, false, ""},
		{"false", `{"stream_options":{"include_usage":false,"x":[1, 2]}}`, `{"stream_options":{"include_usage":true,"x":[1,2]}}`, false, ""},
		{"true", `{"z":"<&>", "stream_options": {"include_usage": true}}`, "", true, ""},
		{"html kept", `{"p":"<a href=\"x\">&amp;</a>","u":"\u00e9"}`, `{"p":"<a href=\"x\">&amp;</a>","stream_options":{"include_usage":true},"u":"\u00e9"}`, false, ""},
		{"not an object", `[1]`, "", false, "JSON object"},
		{"null body", `null`, "", false, "JSON object"},
		{"bad options", `{"stream_options":3}`, "", false, "stream_options must be an object"},
		{"bad include_usage", `{"stream_options":{"include_usage":"yes"}}`, "", false, "must be a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, asked, err := withIncludeUsage([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || asError(t, err).Status != 400 {
					t.Fatalf("err %v, want 400 containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantOut
			if want == "" {
				want = tc.in
			}
			if string(out) != want || asked != tc.clientAsked {
				t.Fatalf("got %s (asked %v), want %s (asked %v)", out, asked, want, tc.clientAsked)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	text := runtimetest.Text("Once upon a time", 0, 7)
	for _, tc := range []struct {
		name       string
		upOpts     []runtimetest.Option
		api        runtime.API
		stream     bool
		body       []byte
		want       runtime.Usage
		wantFinish runtime.FinishReason
	}{
		{"stream, upstream usage", nil, runtime.APICompletion, true, body(compBody, `,"stream":true`),
			runtime.Usage{PromptTokens: 4, CompletionTokens: 7}, runtime.FinishStop},
		{"stream, no usage: counted", []runtimetest.Option{runtimetest.WithoutUsage()}, runtime.APICompletion, true, body(compBody, `,"stream":true`),
			runtime.Usage{PromptTokens: 4, CompletionTokens: 7, Estimated: true}, runtime.FinishStop},
		{"stream chat, no usage: role chunk not counted", []runtimetest.Option{runtimetest.WithoutUsage()}, runtime.APIChat, true,
			[]byte(`{"model":"test-model","stream":true,"max_tokens":3,"messages":[{"role":"user","content":"abcdefghi"}]}`),
			runtime.Usage{PromptTokens: 3, CompletionTokens: 3, Estimated: true}, runtime.FinishLength},
		{"whole, upstream usage", nil, runtime.APICompletion, false, body(compBody, ""),
			runtime.Usage{PromptTokens: 4, CompletionTokens: 7}, runtime.FinishStop},
		{"whole, no usage: estimated", []runtimetest.Option{runtimetest.WithoutUsage()}, runtime.APICompletion, false, body(compBody, ""),
			runtime.Usage{PromptTokens: 4, CompletionTokens: int64((len(text) + 3) / 4), Estimated: true}, runtime.FinishStop},
		{"whole chat, length", nil, runtime.APIChat, false, body(chatBody, `,"max_tokens":2`),
			runtime.Usage{PromptTokens: 6, CompletionTokens: 2}, runtime.FinishLength},
		{"embeddings", nil, runtime.APIEmbedding, false, []byte(`{"model":"test-model","input":["a b","c"]}`),
			runtime.Usage{PromptTokens: 3}, runtime.FinishStop},
		{"embeddings, no usage", []runtimetest.Option{runtimetest.WithoutUsage()}, runtime.APIEmbedding, false,
			[]byte(`{"model":"test-model","input":["abcdefgh","c"]}`), runtime.Usage{PromptTokens: 3, Estimated: true}, runtime.FinishStop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, append([]runtimetest.Option{runtimetest.WithTokens(7)}, tc.upOpts...), nil)
			s, err := runtime.Do(context.Background(), e.rt, &runtime.Request{API: tc.api, Model: "test-model", Stream: tc.stream, Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			events, err := recvAll(s)
			if err != io.EOF || len(events) == 0 {
				t.Fatalf("%d events, end %v", len(events), err)
			}
			if got := s.Usage(); got != tc.want {
				t.Fatalf("usage %+v, want %+v", got, tc.want)
			}
			if s.Finish() != tc.wantFinish {
				t.Fatalf("finish %q, want %q", s.Finish(), tc.wantFinish)
			}
		})
	}
}

// TestWhole checks that non-streaming responses are the upstream's body
// unchanged, and that the client's body is forwarded unchanged.
func TestWhole(t *testing.T) {
	for _, tc := range []struct {
		api  runtime.API
		body []byte
	}{
		{runtime.APIChat, body(chatBody, "")},
		{runtime.APICompletion, body(compBody, `,"max_tokens":1`)},
		{runtime.APIEmbedding, []byte(`{"model":"test-model","input":"x","encoding_format":"base64","dimensions":4}`)},
	} {
		t.Run(string(tc.api), func(t *testing.T) {
			e := newEnv(t, nil, nil)
			s, err := runtime.Do(context.Background(), e.rt, &runtime.Request{API: tc.api, Model: "test-model", Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(s)
			if err != io.EOF || len(got) != 1 {
				t.Fatalf("%d events, %v", len(got), err)
			}
			sent, _ := e.up.LastRequest()
			if !bytes.Equal(sent.Body, tc.body) || sent.Path != "/v1"+tc.api.Path() {
				t.Fatalf("forwarded %s %s", sent.Path, sent.Body)
			}
			resp, err := http.Post(e.url+sent.Path, "application/json", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got[0], want) {
				t.Fatalf("body\n got %s\nwant %s", got[0], want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	deadURL := closed.URL
	closed.Close()
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		name    string
		upOpts  []runtimetest.Option
		url     string // overrides the upstream's
		stream  bool
		body    []byte
		want    runtime.Error
		msgPart string // when set, Message must contain it instead of equalling want.Message
	}{
		{"openai error object", []runtimetest.Option{runtimetest.WithFailure(429,
			runtime.Errorf(429, runtime.ErrTypeRateLimit, "", "slow down").WithCode("rate_limit_exceeded").JSON())}, "", true, nil,
			runtime.Error{Status: 429, Type: runtime.ErrTypeRateLimit, Message: "slow down", Code: ptr("rate_limit_exceeded")}, ""},
		{"vllm unknown model, numeric code", nil, "", false, []byte(`{"model":"nope","prompt":"x"}`),
			runtime.Error{Status: 404, Type: "NotFoundError", Message: "The model `nope` does not exist.", Param: ptr("model"), Code: ptr("404")}, ""},
		{"older vllm top-level object", []runtimetest.Option{runtimetest.WithFailure(400,
			[]byte(`{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}`))}, "", false, nil,
			runtime.Error{Status: 400, Type: "BadRequestError", Message: "too long", Code: ptr("400")}, ""},
		{"error string", []runtimetest.Option{runtimetest.WithFailure(500, []byte(`{"error":"llama runner crashed"}`))}, "", true, nil,
			runtime.Error{Status: 500, Type: runtime.ErrTypeAPI, Message: "llama runner crashed"}, ""},
		{"fastapi detail", []runtimetest.Option{runtimetest.WithFailure(422, []byte(`{"detail":"field required"}`))}, "", false, nil,
			runtime.Error{Status: 422, Type: runtime.ErrTypeInvalidRequest, Message: "field required"}, ""},
		{"html", []runtimetest.Option{runtimetest.WithFailure(502, []byte("<html><body>\nBad   Gateway</body></html>"))}, "", true, nil,
			runtime.Error{Status: 502, Type: runtime.ErrTypeAPI}, "upstream up at http://127.0.0.1:"},
		{"empty body", []runtimetest.Option{runtimetest.WithFailure(401, nil)}, "", false, nil,
			runtime.Error{Status: 401, Type: runtime.ErrTypeAuthentication}, "answered 401 Unauthorized"},
		{"loading", []runtimetest.Option{runtimetest.WithLoading()}, "", true, nil,
			runtime.Error{Status: 503, Type: "unavailable_error", Message: "Loading model", Code: ptr("503")}, ""},
		{"unreachable", nil, deadURL, true, nil,
			runtime.Error{Status: 502, Type: runtime.ErrTypeAPI}, "upstream up at " + deadURL + " unreachable: "},
		{"dies before answering", []runtimetest.Option{runtimetest.WithDieAfter(0)}, "", false, nil,
			runtime.Error{Status: 502, Type: runtime.ErrTypeAPI}, "failed: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.upOpts, func(c *Config) {
				if tc.url != "" {
					c.URL = tc.url
				}
			})
			b := tc.body
			if b == nil {
				b = body(compBody, "")
			}
			s, err := e.rt.Complete(context.Background(), &runtime.Request{API: runtime.APICompletion, Stream: tc.stream, Body: b})
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			got := asError(t, err)
			if tc.msgPart != "" {
				if !strings.Contains(got.Message, tc.msgPart) {
					t.Fatalf("message %q does not contain %q", got.Message, tc.msgPart)
				}
				got.Message = ""
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got  %+v %v %v\nwant %+v", *got, deref(got.Param), deref(got.Code), tc.want)
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestMidStream(t *testing.T) {
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		upOpts     []runtimetest.Option
		wantEvents int
		want       *runtime.Error
		msgPart    string
	}{
		{"connection dropped", []runtimetest.Option{runtimetest.WithDieAfter(3)}, 3,
			&runtime.Error{Status: 502, Type: runtime.ErrTypeAPI}, "upstream closed the stream before it finished"},
		{"dropped before usage chunk", []runtimetest.Option{runtimetest.WithDieAfter(6)}, 6,
			&runtime.Error{Status: 502, Type: runtime.ErrTypeAPI}, "upstream closed the stream before it finished"},
		{"error event", []runtimetest.Option{runtimetest.WithErrorEventAfter(3,
			runtime.Errorf(500, runtime.ErrTypeAPI, "", "engine died").WithCode("engine_dead"))}, 3,
			&runtime.Error{Status: 500, Type: runtime.ErrTypeAPI, Message: "engine died", Code: ptr("engine_dead")}, ""},
		{"error event, status from code", []runtimetest.Option{runtimetest.WithErrorEventAfter(1,
			&runtime.Error{Status: 400, Type: "BadRequestError", Message: "bad", Code: ptr("400")})}, 1,
			&runtime.Error{Status: 400, Type: "BadRequestError", Message: "bad", Code: ptr("400")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, append([]runtimetest.Option{runtimetest.WithTokens(5)}, tc.upOpts...), nil)
			s, err := e.rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: body(chatBody, `,"stream":true`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			events, err := recvAll(s)
			if len(events) != tc.wantEvents {
				t.Fatalf("%d events, want %d", len(events), tc.wantEvents)
			}
			got := asError(t, err)
			if tc.msgPart != "" {
				if !strings.Contains(got.Message, tc.msgPart) {
					t.Fatalf("message %q does not contain %q", got.Message, tc.msgPart)
				}
				got.Message = ""
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if _, err2 := s.Recv(); err2 != err {
				t.Fatalf("Recv after the end = %v, want %v again", err2, err)
			}
			if s.Finish() != runtime.FinishError {
				t.Fatalf("finish %q", s.Finish())
			}
			// The role chunk carries no content; every later event one token.
			if u := s.Usage(); !u.Estimated || u.CompletionTokens != int64(min(tc.wantEvents-1, 5)) || u.PromptTokens != 7 {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// TestCancel checks that cancelling the caller's context or closing the
// stream aborts the upstream request, and that usage counts only what was
// delivered.
func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		abort   func(cancel context.CancelFunc, s runtime.Stream)
		wantErr error
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ runtime.Stream) { cancel() }, context.Canceled},
		{"stream closed", func(_ context.CancelFunc, s runtime.Stream) { s.Close() }, runtime.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []runtimetest.Option{runtimetest.WithStallAfter(3)}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := e.rt.Chat(ctx, &runtime.Request{API: runtime.APIChat, Stream: true, Body: body(chatBody, `,"stream":true`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for range 3 {
				if _, err := s.Recv(); err != nil {
					t.Fatal(err)
				}
			}
			// The next Recv blocks on the stalled upstream; abort it from
			// here, whether it has started reading yet or not.
			res := make(chan error, 1)
			go func() {
				_, err := s.Recv()
				res <- err
			}()
			tc.abort(cancel, s)
			select {
			case err := <-res:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Recv = %v, want %v", err, tc.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Recv did not return after the abort")
			}
			waitCancelled(t, e.up, 1)
			if s.Finish() != runtime.FinishCancelled {
				t.Fatalf("finish %q", s.Finish())
			}
			if u := s.Usage(); u.CompletionTokens != 2 || !u.Estimated {
				t.Fatalf("usage %+v, want the 2 delivered tokens", u)
			}
		})
	}
	t.Run("before the response", func(t *testing.T) {
		entered := make(chan struct{})
		var once sync.Once
		sleep := func(ctx context.Context, d time.Duration) error {
			once.Do(func() { close(entered) })
			<-ctx.Done()
			return ctx.Err()
		}
		e := newEnv(t, []runtimetest.Option{runtimetest.WithSleep(sleep)}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			_, err := e.rt.Complete(ctx, &runtime.Request{API: runtime.APICompletion, Body: body(compBody, "")})
			res <- err
		}()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("request did not reach the upstream")
		}
		cancel()
		if err := <-res; !errors.Is(err, context.Canceled) {
			t.Fatalf("Complete = %v, want context.Canceled", err)
		}
		waitCancelled(t, e.up, 1)
	})
	t.Run("cancelled before the call", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.rt.Chat(ctx, &runtime.Request{API: runtime.APIChat, Body: body(chatBody, "")}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Chat = %v", err)
		}
		if n := len(e.up.Requests()); n != 0 {
			t.Fatalf("%d requests reached the upstream", n)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		e := newEnv(t, nil, nil)
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
		defer cancel()
		_, err := e.rt.Chat(ctx, &runtime.Request{API: runtime.APIChat, Body: body(chatBody, "")})
		if got := asError(t, err); got.Status != 504 || got.Type != runtime.ErrTypeTimeout {
			t.Fatalf("Chat = %+v", got)
		}
	})
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		upOpt   runtimetest.Option
		stream  bool
		recv    int // events to read before advancing the clock
		advance func(Config) time.Duration
		msgPart string
	}{
		{"first byte", runtimetest.WithStallBeforeHeaders(), true, -1,
			func(c Config) time.Duration { return c.FirstByteTimeout }, "did not start answering within 2m0s"},
		{"whole request", runtimetest.WithStallBeforeHeaders(), false, -1,
			func(c Config) time.Duration { return c.RequestTimeout }, "did not answer within 10m0s"},
		{"idle", runtimetest.WithStallAfter(2), true, 2,
			func(c Config) time.Duration { return c.IdleTimeout }, "sent nothing for 2m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			e := newEnv(t, []runtimetest.Option{tc.upOpt}, nil, WithClock(clk))
			type result struct {
				s   runtime.Stream
				err error
			}
			res := make(chan result, 1)
			go func() {
				s, err := e.rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: tc.stream,
					Body: body(chatBody, fmt.Sprintf(`,"stream":%v`, tc.stream))})
				res <- result{s, err}
			}()
			clk.waitTimer(t)
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			if err := e.up.WaitRequests(wctx, 1); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.recv < 0 {
				// Nothing will arrive: let the timeout pass.
				clk.Advance(tc.advance(e.rt.Config()) - time.Nanosecond)
				select {
				case r := <-res:
					t.Fatalf("returned before the timeout: %v", r.err)
				default:
				}
				clk.Advance(time.Nanosecond)
				err = (<-res).err
			} else {
				r := <-res
				if r.err != nil {
					t.Fatal(r.err)
				}
				defer r.s.Close()
				for range tc.recv {
					if _, err := r.s.Recv(); err != nil {
						t.Fatal(err)
					}
				}
				clk.Advance(tc.advance(e.rt.Config()))
				_, err = r.s.Recv()
				if r.s.Finish() != runtime.FinishError {
					t.Fatalf("finish %q", r.s.Finish())
				}
			}
			got := asError(t, err)
			if got.Status != 504 || got.Type != runtime.ErrTypeTimeout || !strings.Contains(got.Message, tc.msgPart) {
				t.Fatalf("got %+v, want 504 timeout_error containing %q", got, tc.msgPart)
			}
			waitCancelled(t, e.up, 1)
		})
	}
	t.Run("idle, system clock", func(t *testing.T) {
		e := newEnv(t, []runtimetest.Option{runtimetest.WithStallAfter(1)}, func(c *Config) { c.IdleTimeout = 50 * time.Millisecond })
		s, err := e.rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: body(chatBody, `,"stream":true`)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		events, err := recvAll(s)
		if got := asError(t, err); len(events) != 1 || got.Status != 504 {
			t.Fatalf("%d events, %+v", len(events), got)
		}
		waitCancelled(t, e.up, 1)
	})
	t.Run("keep-alive comments reset the idle timer", func(t *testing.T) {
		clk := newFakeClock()
		step := make(chan string)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			rc.Flush()
			for line := range step {
				io.WriteString(w, line)
				rc.Flush()
			}
		}))
		defer srv.Close()
		defer close(step)
		rt, err := New(Config{Name: "ka", URL: srv.URL, IdleTimeout: time.Minute}, WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		s, err := rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		res := make(chan error, 1)
		go func() {
			_, err := s.Recv()
			res <- err
		}()
		for range 3 {
			clk.Advance(50 * time.Second)
			step <- ": keep-alive\n"
			clk.waitReset(t) // the runtime has read the comment
		}
		step <- "data: {}\n\n"
		if err := <-res; err != nil {
			t.Fatalf("Recv = %v after keep-alives spanning 150s of a 60s idle timeout", err)
		}
	})
}

func TestMaxSizes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stream  bool
		cfg     func(*Config)
		opts    []Option
		msgPart string
	}{
		{"whole response", false, func(c *Config) { c.MaxResponseBytes = 100 }, nil, "sent a response larger than 100 bytes"},
		{"one event", true, nil, []Option{WithMaxEventBytes(50)}, "sent an event larger than 50 bytes"},
		{"whole stream", true, func(c *Config) { c.MaxResponseBytes = 1000 }, nil, "sent a stream larger than 1000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []runtimetest.Option{runtimetest.WithTokens(50)}, tc.cfg, tc.opts...)
			s, err := e.rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: tc.stream,
				Body: body(chatBody, fmt.Sprintf(`,"stream":%v`, tc.stream))})
			if err == nil {
				_, err = recvAll(s)
				if s.Finish() != runtime.FinishError {
					t.Fatalf("finish %q", s.Finish())
				}
			}
			if got := asError(t, err); got.Status != 502 || !strings.Contains(got.Message, tc.msgPart) {
				t.Fatalf("got %+v, want 502 containing %q", got, tc.msgPart)
			}
		})
	}
}

func TestRequestHeadersAndURL(t *testing.T) {
	for _, suffix := range []string{"", "/", "/v1", "/v1/"} {
		t.Run("url"+suffix, func(t *testing.T) {
			var url string
			e := newEnv(t, nil, func(c *Config) {
				c.URL += suffix
				c.APIKey = "sk-test"
				url = c.URL
			})
			s, err := e.rt.Embed(context.Background(), &runtime.Request{API: runtime.APIEmbedding, Body: []byte(`{"model":"test-model","input":"x"}`)})
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			s.Close()
			r, _ := e.up.LastRequest()
			if r.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-test" ||
				r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: upstream got %s %v", url, r.Path, r.Header)
			}
		})
	}
}

func TestModels(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		e := newEnv(t, nil, func(c *Config) { c.Models = []string{"a", "b"} })
		ms, err := e.rt.Models(context.Background())
		if err != nil || len(ms) != 2 || ms[0].ID != "a" || ms[1].Runtime != "up" {
			t.Fatalf("%+v, %v", ms, err)
		}
		if n := len(e.up.Requests()); n != 0 {
			t.Fatalf("configured models made %d upstream requests", n)
		}
	})
	t.Run("discovered and refreshed", func(t *testing.T) {
		e := newEnv(t, []runtimetest.Option{runtimetest.WithModels("x", "y"), runtimetest.WithContextLength(8192)}, nil)
		ms, err := e.rt.Models(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []runtime.Model{
			{ID: "x", OwnedBy: "runtimetest", Created: fixedNow(), Runtime: "up", ContextLength: 8192},
			{ID: "y", OwnedBy: "runtimetest", Created: fixedNow(), Runtime: "up", ContextLength: 8192},
		}
		if !reflect.DeepEqual(ms, want) {
			t.Fatalf("got %+v\nwant %+v", ms, want)
		}
		e.up.SetModels("z")
		ms, err = e.rt.Models(context.Background())
		if err != nil || len(ms) != 1 || ms[0].ID != "z" {
			t.Fatalf("after refresh: %+v, %v", ms, err)
		}
	})
	t.Run("upstream error", func(t *testing.T) {
		e := newEnv(t, []runtimetest.Option{runtimetest.WithFailure(500, []byte(`{"error":{"message":"boom","type":"api_error"}}`))}, nil)
		ms, err := e.rt.Models(context.Background())
		if got := asError(t, err); got.Status != 500 || got.Message != "boom" || ms != nil {
			t.Fatalf("%+v, %v", got, ms)
		}
		e.up.SetFailure(0, nil)
		if _, err := e.rt.Models(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.up.SetFailure(503, nil)
		ms, err = e.rt.Models(context.Background())
		if got := asError(t, err); got.Status != 503 || len(ms) != 1 || ms[0].ID != "test-model" {
			t.Fatalf("failed refresh: %+v with %+v, want the last list", got, ms)
		}
	})
	t.Run("invalid list", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "not json") }))
		defer srv.Close()
		rt, _ := New(Config{Name: "bad", URL: srv.URL})
		_, err := rt.Models(context.Background())
		if got := asError(t, err); got.Status != 502 || !strings.Contains(got.Message, "invalid model list") {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		url := "http://" + ln.Addr().String()
		ln.Close()
		rt, _ := New(Config{Name: "gone", URL: url})
		_, err := rt.Models(context.Background())
		if got := asError(t, err); got.Status != 502 || !strings.Contains(got.Message, "unreachable") {
			t.Fatalf("%+v", got)
		}
	})
}

func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name       string
		upOpts     []runtimetest.Option
		dead       bool
		want       runtime.Health
		detailPart string
		wantPaths  []string
	}{
		{"ready", nil, false, runtime.Health{OK: true, Status: "ready"}, "", []string{"/health"}},
		{"loading", []runtimetest.Option{runtimetest.WithLoading()}, false, runtime.Health{Status: "starting"}, "Loading model", []string{"/health"}},
		{"no /health, models answer", []runtimetest.Option{runtimetest.WithoutHealth()}, false,
			runtime.Health{OK: true, Status: "ready"}, "", []string{"/health", "/v1/models"}},
		{"no /health, models fail", []runtimetest.Option{runtimetest.WithoutHealth(), runtimetest.WithFailure(500, []byte("oops"))}, false,
			runtime.Health{Status: "down"}, "answered 500", []string{"/health", "/v1/models"}},
		{"unreachable", nil, true, runtime.Health{Status: "down"}, "unreachable", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			e := newEnv(t, tc.upOpts, func(c *Config) {
				if tc.dead {
					ln, _ := net.Listen("tcp", "127.0.0.1:0")
					c.URL = "http://" + ln.Addr().String()
					ln.Close()
				}
			}, WithClock(clk))
			clk.Advance(time.Hour)
			h := e.rt.Health(context.Background())
			if !strings.Contains(h.Detail, tc.detailPart) {
				t.Fatalf("detail %q does not contain %q", h.Detail, tc.detailPart)
			}
			h.Detail = ""
			tc.want.Since = clk.Now()
			if h != tc.want {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			var paths []string
			for _, r := range e.up.Requests() {
				paths = append(paths, r.Path)
			}
			if !reflect.DeepEqual(paths, tc.wantPaths) {
				t.Fatalf("probed %v, want %v", paths, tc.wantPaths)
			}
		})
	}
	t.Run("since follows changes", func(t *testing.T) {
		clk := newFakeClock()
		e := newEnv(t, []runtimetest.Option{runtimetest.WithLoading()}, nil, WithClock(clk))
		h1 := e.rt.Health(context.Background())
		clk.Advance(time.Minute)
		if h := e.rt.Health(context.Background()); h.Since != h1.Since || h.Status != "starting" {
			t.Fatalf("unchanged status moved Since: %+v then %+v", h1, h)
		}
		e.up.SetReady(true)
		h2 := e.rt.Health(context.Background())
		if !h2.OK || !h2.Since.Equal(h1.Since.Add(time.Minute)) {
			t.Fatalf("after ready: %+v", h2)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "vllm", URL: "http://127.0.0.1:8000"}
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantErr []string // fields named in the error; none: valid
	}{
		{"minimal", func(*Config) {}, nil},
		{"defaults", func(c *Config) { d := DefaultConfig(); d.Name, d.URL = c.Name, c.URL; *c = d }, nil},
		{"https with /v1", func(c *Config) { c.URL = "https://api.example.com/v1/" }, nil},
		{"no name", func(c *Config) { c.Name = " " }, []string{"name: required"}},
		{"no url", func(c *Config) { c.URL = "" }, []string{"url: required"}},
		{"bad scheme", func(c *Config) { c.URL = "ftp://x" }, []string{"url: "}},
		{"no host", func(c *Config) { c.URL = "http://" }, []string{"url: ", "no host"}},
		{"query", func(c *Config) { c.URL = "http://x/?a=1" }, []string{"url: "}},
		{"unparsable", func(c *Config) { c.URL = "http://[::1" }, []string{"url: "}},
		{"empty model", func(c *Config) { c.Models = []string{"a", ""} }, []string{"models[1]: empty"}},
		{"duplicate model", func(c *Config) { c.Models = []string{"a", "a"} }, []string{"models[1]: model \"a\" listed twice"}},
		{"negative durations", func(c *Config) {
			c.RequestTimeout, c.ConnectTimeout, c.FirstByteTimeout, c.IdleTimeout = -1, -1, -1, -1
		}, []string{"request_timeout", "connect_timeout", "first_byte_timeout", "idle_timeout"}},
		{"negative size", func(c *Config) { c.MaxResponseBytes = -1 }, []string{"max_response_bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := New(c); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
			if _, nerr := New(c); nerr == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	rt, err := New(Config{Name: "n", URL: "http://h:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	c := rt.Config()
	d := DefaultConfig()
	if c.RequestTimeout != d.RequestTimeout || c.FirstByteTimeout != 2*time.Minute || c.IdleTimeout != 2*time.Minute ||
		c.ConnectTimeout != d.ConnectTimeout || c.MaxResponseBytes != d.MaxResponseBytes || rt.base != "http://h:1" {
		t.Fatalf("%+v base %s", c, rt.base)
	}
	if rt.Name() != "n" {
		t.Fatal(rt.Name())
	}
}

func TestStreamAnsweredWithJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"choices":[]}`)
	}))
	defer srv.Close()
	rt, _ := New(Config{Name: "j", URL: srv.URL})
	_, err := rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: []byte(`{}`)})
	if got := asError(t, err); got.Status != 502 || !strings.Contains(got.Message, "instead of an event stream") {
		t.Fatalf("%+v", got)
	}
}

// TestConnectionReuse checks that finished streams and responses leave their
// connection reusable.
func TestConnectionReuse(t *testing.T) {
	up := runtimetest.NewUpstream()
	srv := httptest.NewUnstartedServer(up)
	var mu sync.Mutex
	conns := 0
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	rt, _ := New(Config{Name: "r", URL: srv.URL})
	for i := range 4 {
		s, err := rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: i%2 == 0,
			Body: body(chatBody, fmt.Sprintf(`,"stream":%v`, i%2 == 0))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recvAll(s); err != io.EOF {
			t.Fatal(err)
		}
		s.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections for 4 sequential requests, want 1", conns)
	}
}
