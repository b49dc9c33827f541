package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

func TestBadRequests(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny"})
	long := strings.Repeat("tokens and more tokens ", 200)
	tests := []struct {
		name  string
		api   runtime.API
		body  string
		param string
		want  string
	}{
		{"malformed json", runtime.APIChat, `{"messages":[`, "", "could not parse"},
		{"empty body", runtime.APIChat, ``, "", "empty"},
		{"wrong type", runtime.APIChat, `{"messages":"hi"}`, "messages", "invalid type"},
		{"no messages", runtime.APIChat, `{"messages":[]}`, "messages", "non-empty"},
		{"bad role", runtime.APIChat, `{"messages":[{"role":"wizard","content":"x"}]}`, "messages[0].role", "unknown role"},
		{"image part", runtime.APIChat, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, "messages[0].content", "only text parts"},
		{"temperature", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"temperature":3}`, "temperature", "between 0 and 2"},
		{"top_p", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"top_p":0}`, "top_p", "top_p"},
		{"min_p", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"min_p":1.5}`, "min_p", "min_p"},
		{"top_k", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"top_k":-2}`, "top_k", "top_k"},
		{"max_tokens", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens", "at least 1"},
		{"n", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"n":2}`, "n", "not supported"},
		{"logprobs", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"logprobs":true}`, "logprobs", "not supported"},
		{"tools", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}`, "tools", "not supported"},
		{"stop type", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"stop":5}`, "stop", "string or an array"},
		{"too many stops", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}`, "stop", "at most 4"},
		{"stream_options", runtime.APIChat, `{"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, "stream_options", "only allowed"},
		{"prompt too long", runtime.APIChat, `{"messages":[{"role":"user","content":"` + long + `"}]}`, "messages", "maximum context length is 512 tokens. However, your prompt is"},
		{"completion too long", runtime.APIChat, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":600}`, "max_tokens", "maximum context length is 512 tokens. However, you requested"},
		{"no prompt", runtime.APICompletion, `{"model":"tiny"}`, "prompt", "required"},
		{"prompt array", runtime.APICompletion, `{"prompt":["a","b"]}`, "prompt", "exactly one"},
		{"prompt tokens", runtime.APICompletion, `{"prompt":[1,2,3]}`, "prompt", "string"},
		{"completion prompt too long", runtime.APICompletion, `{"prompt":"` + long + `"}`, "prompt", "your prompt is"},
		{"embeddings", runtime.APIEmbedding, `{"input":"x"}`, "model", "does not support embeddings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := runtime.Do(context.Background(), r, &runtime.Request{API: tc.api, Model: "tiny", Body: []byte(tc.body)})
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			var re *runtime.Error
			if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Type != runtime.ErrTypeInvalidRequest {
				t.Fatalf("error %v, want a 400 invalid_request_error", err)
			}
			if !strings.Contains(re.Message, tc.want) {
				t.Errorf("message %q lacks %q", re.Message, tc.want)
			}
			if got := ""; re.Param != nil {
				got = *re.Param
				if got != tc.param {
					t.Errorf("param %q, want %q", got, tc.param)
				}
			} else if tc.param != "" {
				t.Errorf("no param, want %q", tc.param)
			}
		})
	}
	if d := r.QueueDepth(); d != 0 {
		t.Errorf("QueueDepth = %d", d)
	}
}

func TestContextLengthCap(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny", ContextLength: 40})
	ms, err := r.Models(context.Background())
	if err != nil || len(ms) != 1 || ms[0].ContextLength != 40 || ms[0].ID != "tiny" {
		t.Fatalf("Models = %+v, %v", ms, err)
	}
	// Without max_tokens, generation stops with "length" at the context end.
	s := do(t, r, runtime.APICompletion, []byte(`{"prompt":"A graphics processor is a wide machine.","ignore_eos":true}`))
	collect(t, s)
	u := s.Usage()
	if s.Finish() != runtime.FinishLength || u.PromptTokens+u.CompletionTokens != 40 {
		t.Errorf("finish %s usage %+v, want length with 40 tokens in all", s.Finish(), u)
	}
}

func TestLifecycle(t *testing.T) {
	path, err := tinyPath()
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Model: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h := r.Health(ctx); h.OK || h.Status != "starting" {
		t.Errorf("before Start: %+v", h)
	}
	if _, err := r.Models(ctx); err == nil {
		t.Error("Models before Start succeeded")
	}
	if _, err := r.Chat(ctx, &runtime.Request{API: runtime.APIChat, Body: chatBody("")}); err == nil {
		t.Error("Chat before Start succeeded")
	} else if re := runtime.AsError(err); re.Status != http.StatusServiceUnavailable {
		t.Errorf("Chat before Start: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if h := r.Health(ctx); !h.OK || h.Status != "ready" {
		t.Errorf("after Start: %+v", h)
	}
	ms, err := r.Models(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != "synth-llama-tiny" || ms[0].ContextLength != 512 {
		t.Errorf("Models = %+v, %v (want general.name)", ms, err)
	}
	if r.Name() != "tiny" { // the file name
		t.Errorf("Name = %q", r.Name())
	}
	// A request still running when the runtime closes ends as cancelled.
	running := make(chan struct{})
	var once sync.Once
	r.testHook = func(j *job) {
		once.Do(func() {
			close(running)
			<-j.ctx.Done()
		})
	}
	s := do(t, r, runtime.APIChat, chatBody(`,"ignore_eos":true,"stream":true`))
	<-running
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	collectUntilError(s)
	if s.Finish() != runtime.FinishCancelled {
		t.Errorf("finish %s", s.Finish())
	}
	if h := r.Health(ctx); h.OK || h.Status != "down" {
		t.Errorf("after Close: %+v", h)
	}
	if _, err := r.Chat(ctx, &runtime.Request{API: runtime.APIChat, Body: chatBody("")}); err == nil {
		t.Error("Chat after Close succeeded")
	}
}

func collectUntilError(s runtime.Stream) {
	for {
		if _, err := s.Recv(); err != nil {
			return
		}
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.gguf"), bad} {
		r, err := New(Config{Name: "x", Model: path})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), `engine runtime "x"`) {
			t.Errorf("%s: Start error %v", path, err)
		}
		if h := r.Health(context.Background()); h.OK || h.Status != "down" || h.Detail == "" {
			t.Errorf("%s: health %+v", path, h)
		}
		_ = r.Close()
	}
}

func TestConfigValidate(t *testing.T) {
	var fromTOML Config
	if _, err := toml.Decode(`
name = "chat"
model = "/models/m.gguf"
threads = 2
chat_template = "chatml"
max_queue = 3
context_length = 100
`, &fromTOML); err != nil {
		t.Fatal(err)
	}
	if want := (Config{Name: "chat", Model: "/models/m.gguf", Threads: 2, ChatTemplate: "chatml", MaxQueue: 3, ContextLength: 100}); fromTOML != want {
		t.Errorf("TOML decoded to %+v, want %+v", fromTOML, want)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Model: "m.gguf"}, ""},
		{Config{Model: "m.gguf", Threads: 4, MaxQueue: -1, ContextLength: 128, ChatTemplate: "llama3"}, ""},
		{Config{}, "model: "},
		{Config{Model: "m.gguf", Threads: -1}, "threads"},
		{Config{Model: "m.gguf", MaxQueue: -2}, "max_queue"},
		{Config{Model: "m.gguf", ContextLength: -1}, "context_length"},
		{Config{Model: "m.gguf", ChatTemplate: "vicuna"}, "chat_template"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if _, nerr := New(tc.cfg); (nerr == nil) != (err == nil) {
			t.Errorf("New and Validate disagree for %+v", tc.cfg)
		}
	}
}

func TestChatTemplateOverride(t *testing.T) {
	r := startRuntime(t, Config{Name: "tiny", ChatTemplate: "llama3"})
	s := do(t, r, runtime.APIChat, chatBody(`,"max_tokens":2,"ignore_eos":true`))
	collect(t, s)
	// The Llama 3 rendering has no special tokens in this vocabulary and is
	// longer than the ChatML one.
	if u := s.Usage(); u.PromptTokens <= promptTokens(t, r, testMsgs) {
		t.Errorf("prompt tokens %d with the llama3 template", u.PromptTokens)
	}
}

// FuzzParseRequest feeds arbitrary bodies to the request decoders.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(chatBody(`,"stop":["a"],"stream":true,"stream_options":{"include_usage":true}`)))
	f.Add([]byte(`{"prompt":["x"],"max_tokens":3,"seed":-1,"top_k":5,"min_p":0.1}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":null}],"logprobs":false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, err := range []error{errOf(parseChat(body)), errOf(parseCompletion(body))} {
			if err != nil {
				if re := runtime.AsError(err); re.Status != http.StatusBadRequest {
					t.Fatalf("error %v is not a 400", err)
				}
			}
		}
	})
}

func errOf[A, B any](_ A, _ B, err error) error { return err }

// TestSynthPresetsLoad checks that every llama/qwen2 synthetic preset loads
// (except the large one, exercised by the benchmark).
func TestSynthPresetsLoad(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		m := loadBytes(t, synthBytes(t, synth.Options{Arch: arch, Preset: "small", Layers: 1}), 1)
		if m.HP.Dim != 256 || m.HP.Arch != arch {
			t.Errorf("%s: %+v", arch, m.HP)
		}
	}
}

// TestSentencePieceModel serves a model whose vocabulary is a SentencePiece
// ("llama") one with byte fallback, as Llama 2 and TinyLlama ship.
func TestSentencePieceModel(t *testing.T) {
	base := synthBytes(t, synth.Options{Seed: 3})
	f, err := gguf.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
	}
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] && len(tokens) < 512 {
			seen[p] = true
			tokens = append(tokens, p)
			types = append(types, 1)
		}
	}
	add("\u2581")
	for c := 'a'; c <= 'z'; c++ {
		add(string(c))
	}
	prompt := "the model reads the weights"
	for _, w := range strings.Fields(prompt + " " + strings.ToLower(synth.Corpus())) {
		p := "\u2581"
		for _, c := range w {
			if c < 'a' || c > 'z' {
				break
			}
			p += string(c)
			add(p)
		}
	}
	for len(tokens) < 512 {
		add(fmt.Sprintf("\u2581pad%d", len(tokens)))
	}
	scores := make([]float32, len(tokens))
	for i := range scores {
		scores[i] = -float32(i)
	}
	data := rewriteGGUF(t, f, func(k string, v any) (any, bool) {
		switch k {
		case "tokenizer.ggml.model":
			return "llama", true
		case "tokenizer.ggml.tokens":
			return tokens, true
		case "tokenizer.ggml.token_type":
			return types, true
		case "tokenizer.ggml.bos_token_id":
			return uint32(1), true
		case "tokenizer.ggml.eos_token_id":
			return uint32(2), true
		case "tokenizer.ggml.add_bos_token":
			return true, true
		case "tokenizer.ggml.merges", "tokenizer.ggml.pre", "tokenizer.ggml.padding_token_id":
			return nil, false
		case "tokenizer.chat_template":
			return "{{ bos_token }}{% for message in messages %}[INST] <<SYS>> {{ message['content'] }} [/INST]{% endfor %}", true
		}
		return v, true
	}, nil, gguf.KV{Key: "tokenizer.ggml.scores", Value: scores})
	path := filepath.Join(t.TempDir(), "spm.gguf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRuntime(t, Config{Name: "spm", Model: path})
	ids, err := r.model.Tokenizer.Encode(prompt, true, true)
	if err != nil || ids[0] != 1 || len(ids) > 8 {
		t.Fatalf("Encode = %v, %v; want BOS and whole-word pieces", ids, err)
	}
	s := do(t, r, runtime.APICompletion, []byte(`{"prompt":"`+prompt+`","max_tokens":6,"ignore_eos":true}`))
	collect(t, s)
	if u := s.Usage(); u.PromptTokens != int64(len(ids)) || u.CompletionTokens != 6 {
		t.Errorf("usage %+v, want %d+6", u, len(ids))
	}
	// The llama2 chat format is detected from the template.
	s = do(t, r, runtime.APIChat, []byte(`{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"the model"}],"max_tokens":2,"ignore_eos":true}`))
	collect(t, s)
	if s.Finish() != runtime.FinishLength {
		t.Errorf("chat finish %s", s.Finish())
	}
}
