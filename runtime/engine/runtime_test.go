package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// testDir holds files shared by the tests; TestMain removes it.
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// tinyPath is a tiny synthetic model shared by the runtime tests.
var tinyPath = sync.OnceValues(func() (string, error) {
	path := filepath.Join(testDir, "tiny.gguf")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := synth.Generate(synth.Options{Arch: "llama", Type: gguf.Q8_0, Seed: 7}, f); err != nil {
		_ = f.Close()
		return "", err
	}
	return path, f.Close()
})

// startRuntime starts a runtime on the tiny model.
func startRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	path, err := tinyPath()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model == "" {
		cfg.Model = path
	}
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

type response struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Created int64  `json:"created"`
	Choices []struct {
		Index   int `json:"index"`
		Message *struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
}

// collect reads a whole stream.
func collect(t *testing.T, s runtime.Stream) ([]response, [][]byte) {
	t.Helper()
	defer s.Close()
	var out []response
	var raw [][]byte
	for {
		ev, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, raw
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		var r response
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			t.Fatalf("event %s: %v", ev.Data, err)
		}
		out = append(out, r)
		raw = append(raw, ev.Data)
	}
}

func chatBody(extra string) []byte {
	return []byte(`{"model":"tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"How fast is decode "},{"type":"text","text":"on a GPU?"}]}]` + extra + `}`)
}

func do(t *testing.T, r *Runtime, api runtime.API, body []byte) runtime.Stream {
	t.Helper()
	req := &runtime.Request{API: api, Model: "tiny", Body: body}
	s, err := runtime.Do(context.Background(), r, req)
	if err != nil {
		t.Fatalf("%s %s: %v", api, body, err)
	}
	return s
}

// promptTokens counts the tokens of the rendered chat prompt with the
// model's own tokenizer.
func promptTokens(t *testing.T, r *Runtime, msgs []tokenizer.Message) int64 {
	text, err := tokenizer.TemplateChatML.Apply(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.model.Tokenizer.Encode(text, true, true)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(ids))
}

var testMsgs = []tokenizer.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "How fast is decode on a GPU?"}}

func TestChat(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	wantPrompt := promptTokens(t, r, testMsgs)

	s := do(t, r, runtime.APIChat, chatBody(`,"max_tokens":12,"seed":5,"ignore_eos":true`))
	evs, _ := collect(t, s)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	doc := evs[0]
	if doc.Object != "chat.completion" || doc.Model != "tiny" || !strings.HasPrefix(doc.ID, "chatcmpl-") || doc.Created == 0 {
		t.Errorf("envelope %+v", doc)
	}
	c := doc.Choices[0]
	if c.Message == nil || c.Message.Role != "assistant" || c.Message.Content == "" || *c.FinishReason != "length" {
		t.Errorf("choice %+v", c)
	}
	if doc.Usage.PromptTokens != wantPrompt || doc.Usage.CompletionTokens != 12 || doc.Usage.TotalTokens != wantPrompt+12 {
		t.Errorf("usage %+v, want prompt %d completion 12", doc.Usage, wantPrompt)
	}
	if u := s.Usage(); u.PromptTokens != wantPrompt || u.CompletionTokens != 12 || s.Finish() != runtime.FinishLength {
		t.Errorf("stream usage %+v finish %s", u, s.Finish())
	}

	// The same request streamed gives the same text in chunks.
	s = do(t, r, runtime.APIChat, chatBody(`,"max_tokens":12,"seed":5,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}`))
	chunks, raw := collect(t, s)
	if len(chunks) < 4 {
		t.Fatalf("%d chunks", len(chunks))
	}
	first, last, fin := chunks[0], chunks[len(chunks)-1], chunks[len(chunks)-2]
	if d := first.Choices[0].Delta; d == nil || d.Role == nil || *d.Role != "assistant" {
		t.Errorf("first chunk %s has no assistant role", raw[0])
	}
	var text strings.Builder
	for i, ch := range chunks[:len(chunks)-1] {
		if ch.Object != "chat.completion.chunk" || ch.ID != chunks[0].ID {
			t.Errorf("chunk %d envelope %s", i, raw[i])
		}
		if !strings.Contains(string(raw[i]), `"usage":null`) {
			t.Errorf("chunk %d lacks usage null: %s", i, raw[i])
		}
		if d := ch.Choices[0].Delta; d != nil && d.Content != nil {
			text.WriteString(*d.Content)
		}
		if i < len(chunks)-2 && ch.Choices[0].FinishReason != nil {
			t.Errorf("chunk %d has a finish reason", i)
		}
	}
	if fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "length" {
		t.Errorf("final chunk %s", raw[len(raw)-2])
	}
	if len(last.Choices) != 0 || last.Usage == nil || *last.Usage != *doc.Usage {
		t.Errorf("usage chunk %s, want usage %+v", raw[len(raw)-1], doc.Usage)
	}
	if text.String() != c.Message.Content {
		t.Errorf("streamed text %q differs from non-streamed %q", text.String(), c.Message.Content)
	}
	if u := s.Usage(); u.PromptTokens != wantPrompt || u.CompletionTokens != 12 {
		t.Errorf("delivered usage %+v", u)
	}
}

func TestComplete(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	prompt := "The key and value cache"
	ids, _ := r.model.Tokenizer.Encode(prompt, true, true)
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"tiny","prompt":[%q],"max_tokens":9,"temperature":0,"ignore_eos":true,"stream":%v}`, prompt, stream)
		s := do(t, r, runtime.APICompletion, []byte(body))
		evs, raw := collect(t, s)
		var text strings.Builder
		for i, ev := range evs {
			if ev.Object != "text_completion" || !strings.HasPrefix(ev.ID, "cmpl-") {
				t.Errorf("event %s", raw[i])
			}
			text.WriteString(*ev.Choices[0].Text)
		}
		lastFin := evs[len(evs)-1].Choices[0].FinishReason
		if lastFin == nil || *lastFin != "length" {
			t.Errorf("stream=%v: last event %s", stream, raw[len(raw)-1])
		}
		if u := s.Usage(); u.PromptTokens != int64(len(ids)) || u.CompletionTokens != 9 {
			t.Errorf("stream=%v: usage %+v, want %d+9", stream, u, len(ids))
		}
		if !stream && evs[0].Usage.CompletionTokens != 9 {
			t.Errorf("usage %+v", evs[0].Usage)
		}
		if text.Len() == 0 {
			t.Errorf("stream=%v: no text", stream)
		}
	}
}

func chatText(t *testing.T, r *Runtime, extra string) (string, string) {
	t.Helper()
	evs, _ := collect(t, do(t, r, runtime.APIChat, chatBody(extra)))
	return evs[0].Choices[0].Message.Content, *evs[0].Choices[0].FinishReason
}

func TestSeedDeterminism(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	a, _ := chatText(t, r, `,"max_tokens":24,"seed":42,"temperature":0.9,"top_p":0.95,"ignore_eos":true`)
	b, _ := chatText(t, r, `,"max_tokens":24,"seed":42,"temperature":0.9,"top_p":0.95,"ignore_eos":true`)
	if a != b {
		t.Errorf("same seed gave %q and %q", a, b)
	}
	differ := false
	for seed := 43; seed < 47 && !differ; seed++ {
		c, _ := chatText(t, r, fmt.Sprintf(`,"max_tokens":24,"seed":%d,"temperature":0.9,"top_p":0.95,"ignore_eos":true`, seed))
		differ = c != a
	}
	if !differ {
		t.Error("four other seeds all gave the same text")
	}
	// A second runtime with another thread count gives the same text.
	r1 := startRuntime(t, Config{Name: "tiny", Threads: 1})
	if c, _ := chatText(t, r1, `,"max_tokens":24,"seed":42,"temperature":0.9,"top_p":0.95,"ignore_eos":true`); c != a {
		t.Errorf("1 thread gave %q, 2 threads %q", c, a)
	}
}

func TestStopSequence(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	full, _ := chatText(t, r, `,"max_tokens":40,"temperature":0,"ignore_eos":true`)
	if len(full) < 12 {
		t.Skipf("generated text %q too short to cut", full)
	}
	stop := full[len(full)/2 : len(full)/2+3]
	want := full[:strings.Index(full, stop)]
	for _, stream := range []bool{false, true} {
		body := chatBody(fmt.Sprintf(`,"max_tokens":40,"temperature":0,"ignore_eos":true,"stop":["zzzq",%q],"stream":%v`, stop, stream))
		evs, _ := collect(t, do(t, r, runtime.APIChat, body))
		var text strings.Builder
		var fin string
		for _, ev := range evs {
			if c := ev.Choices[0]; c.Message != nil {
				text.WriteString(c.Message.Content)
			} else if c.Delta.Content != nil {
				text.WriteString(*c.Delta.Content)
			}
			if f := ev.Choices[0].FinishReason; f != nil {
				fin = *f
			}
		}
		if text.String() != want || fin != "stop" {
			t.Errorf("stream=%v stop %q: got %q (%s), want %q (stop)", stream, stop, text.String(), fin, want)
		}
	}
}

// TestCancel cancels requests while they generate: the hook parks the
// generator before its 5th token until the request is cancelled, and no
// token may be sampled after that.
func TestCancel(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	var mu sync.Mutex
	calls := map[*job]int{}
	reached := make(chan struct{}, 1)
	r.testHook = func(j *job) {
		mu.Lock()
		calls[j]++
		n := calls[j]
		mu.Unlock()
		if n == 5 {
			reached <- struct{}{}
			<-j.ctx.Done()
		}
	}
	s := do(t, r, runtime.APIChat, chatBody(`,"max_tokens":400,"ignore_eos":true,"stream":true`))
	if _, err := s.Recv(); err != nil { // the role chunk
		t.Fatal(err)
	}
	<-reached
	at := r.Stats().CompletionTokens
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after := r.Stats().CompletionTokens; after != at || at != 4 {
		t.Errorf("%d tokens before cancellation (want 4), %d after (want 0)", at, after-at)
	}
	if s.Finish() != runtime.FinishCancelled {
		t.Errorf("finish %s", s.Finish())
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
	if u := s.Usage(); u.CompletionTokens > 4 {
		t.Errorf("usage %+v counts more than was generated", u)
	}

	// Cancelling the request context works too.
	ctx, cancel := context.WithCancel(context.Background())
	s2, err := r.Chat(ctx, &runtime.Request{API: runtime.APIChat, Body: chatBody(`,"max_tokens":400,"ignore_eos":true,"stream":true`)})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	at = r.Stats().CompletionTokens
	cancel()
	for {
		if _, err := s2.Recv(); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Recv after cancel: %v", err)
			}
			break
		}
	}
	if after := r.Stats().CompletionTokens; after != at {
		t.Errorf("%d tokens generated after cancellation", after-at)
	}
	if s2.Finish() != runtime.FinishCancelled {
		t.Errorf("finish %s", s2.Finish())
	}
	// The runtime still serves.
	if _, fin := chatText(t, r, `,"max_tokens":3,"ignore_eos":true`); fin != "length" {
		t.Errorf("finish %s", fin)
	}
}

func TestQueue(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny", MaxQueue: 2})
	release := make(chan struct{})
	started := make(chan int, 10)
	var mu sync.Mutex
	seen := map[*job]bool{}
	r.testHook = func(j *job) {
		mu.Lock()
		first := !seen[j]
		seen[j] = true
		mu.Unlock()
		if first {
			started <- j.params.maxTokens
			<-release
		}
	}
	// Requests are told apart by max_tokens.
	const A, B, C, D, E = 2, 3, 4, 5, 6
	body := func(tag int) []byte {
		return chatBody(fmt.Sprintf(`,"max_tokens":%d,"ignore_eos":true`, tag))
	}
	a := do(t, r, runtime.APIChat, body(A))
	if got := <-started; got != A {
		t.Fatalf("started %d", got)
	}
	b := do(t, r, runtime.APIChat, body(B))
	c := do(t, r, runtime.APIChat, body(C))
	if d := r.QueueDepth(); d != 2 {
		t.Errorf("QueueDepth = %d, want 2", d)
	}
	_, err := r.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Body: body(D)})
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable {
		t.Errorf("request beyond max_queue: %v", err)
	}
	// A queued request that is closed leaves the queue at once.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := r.QueueDepth(); d != 1 || c.Finish() != runtime.FinishCancelled {
		t.Errorf("after closing a queued request: QueueDepth = %d, finish %s", d, c.Finish())
	}
	e := do(t, r, runtime.APIChat, body(E))
	if d := r.QueueDepth(); d != 2 {
		t.Errorf("QueueDepth = %d, want 2", d)
	}
	close(release)
	if got := []int{<-started, <-started}; got[0] != B || got[1] != E {
		t.Errorf("order %v, want FIFO %d %d", got, B, E)
	}
	for _, s := range []runtime.Stream{a, b, e} {
		collect(t, s)
		if s.Finish() != runtime.FinishLength {
			t.Errorf("finish %s", s.Finish())
		}
	}
	if d := r.QueueDepth(); d != 0 {
		t.Errorf("QueueDepth = %d after draining", d)
	}
}

// The engine reports its load to the node's capacity advert.
var _ runtime.LoadReporter = (*Runtime)(nil)
