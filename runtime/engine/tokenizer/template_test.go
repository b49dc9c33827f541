package tokenizer

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

var chat = []Message{
	{Role: "system", Content: "You are helpful."},
	{Role: "user", Content: " Hi \n"},
	{Role: "assistant", Content: "Hello!"},
	{Role: "user", Content: "How are you?"},
}

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		kind TemplateKind
		msgs []Message
		gen  bool
		want string
	}{
		{"chatml", TemplateChatML, chat, true,
			"<|im_start|>system\nYou are helpful.<|im_end|>\n" +
				"<|im_start|>user\n Hi \n<|im_end|>\n" +
				"<|im_start|>assistant\nHello!<|im_end|>\n" +
				"<|im_start|>user\nHow are you?<|im_end|>\n" +
				"<|im_start|>assistant\n"},
		{"chatml no generation prompt", TemplateChatML, chat[1:2], false,
			"<|im_start|>user\n Hi \n<|im_end|>\n"},
		{"llama3", TemplateLlama3, chat, true,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"llama3 no generation prompt", TemplateLlama3, chat[1:2], false,
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"},
		// strip() applies to the whole first turn, so the user text keeps its
		// leading space after the system block.
		{"llama2 with system", TemplateLlama2, chat, true,
			"<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\n Hi [/INST] Hello! </s><s>[INST] How are you? [/INST]"},
		{"llama2 without system", TemplateLlama2, chat[1:], false,
			"<s>[INST] Hi [/INST] Hello! </s><s>[INST] How are you? [/INST]"},
		{"llama2 system whitespace kept", TemplateLlama2, []Message{{"system", "  spaced  "}, {"user", " Hi "}}, true,
			"<s>[INST] <<SYS>>\n  spaced  \n<</SYS>>\n\n Hi [/INST]"},
		{"llama2 empty system", TemplateLlama2, []Message{{"system", ""}, {"user", "Hi"}}, true,
			"<s>[INST] <<SYS>>\n\n<</SYS>>\n\nHi [/INST]"},
		{"llama2 ends with assistant", TemplateLlama2, chat[1:3], true,
			"<s>[INST] Hi [/INST] Hello! </s>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kind.Apply(tt.msgs, tt.gen)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Apply =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name string
		kind TemplateKind
		msgs []Message
		want string
	}{
		{"no messages", TemplateChatML, nil, "no messages"},
		{"llama2 assistant first", TemplateLlama2, []Message{{"assistant", "x"}}, "alternate"},
		{"llama2 two users", TemplateLlama2, []Message{{"user", "a"}, {"user", "b"}}, "alternate"},
		{"llama2 system only", TemplateLlama2, []Message{{"system", "s"}}, "needs a user message"},
		{"llama2 system later", TemplateLlama2, []Message{{"user", "a"}, {"assistant", "b"}, {"system", "c"}}, "alternate"},
		{"unknown kind", TemplateKind(99), chat, "unknown chat template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.kind.Apply(tt.msgs, true)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDetectTemplate(t *testing.T) {
	tests := []struct {
		file string
		want TemplateKind
	}{
		{"chatml.jinja", TemplateChatML},
		{"qwen2.jinja", TemplateChatML},
		{"llama3.jinja", TemplateLlama3},
		{"llama2.jinja", TemplateLlama2},
		{"gemma.jinja", 0},
		{"mistral.jinja", 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/templates/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DetectTemplate(string(b))
			if tt.want == 0 {
				if !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), "chat_template") {
					t.Errorf("DetectTemplate = %v, %v; want an unknown-template error naming chat_template", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("DetectTemplate = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := DetectTemplate("  "); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("DetectTemplate(empty) error = %v", err)
	}
}

func TestParseTemplateKind(t *testing.T) {
	for name, want := range map[string]TemplateKind{"chatml": TemplateChatML, "llama3": TemplateLlama3, "Llama2": TemplateLlama2, " chatml ": TemplateChatML} {
		got, err := ParseTemplateKind(name)
		if err != nil || got != want {
			t.Errorf("ParseTemplateKind(%q) = %v, %v", name, got, err)
		}
		if strings.TrimSpace(strings.ToLower(name)) != got.String() {
			t.Errorf("String() = %q for %q", got.String(), name)
		}
	}
	if _, err := ParseTemplateKind("alpaca"); err == nil || !strings.Contains(err.Error(), "chatml, llama3, llama2") {
		t.Errorf("ParseTemplateKind(alpaca) error = %v", err)
	}
}

func TestStopTokens(t *testing.T) {
	for kind, want := range map[TemplateKind]string{TemplateChatML: "<|im_end|>", TemplateLlama3: "<|eot_id|>", TemplateLlama2: "</s>"} {
		if got := kind.StopTokens(); len(got) == 0 || got[0] != want {
			t.Errorf("%v.StopTokens() = %q, want first %q", kind, got, want)
		}
	}
	if TemplateKind(0).StopTokens() != nil {
		t.Error("StopTokens of an invalid kind")
	}
}

// TestApplyThenEncode renders a ChatML prompt and encodes it with special
// tokens parsed, as the engine does.
func TestApplyThenEncode(t *testing.T) {
	tk := trained(t, "qwen2")
	prompt, err := TemplateChatML.Apply(chat, true)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tk.Encode(prompt, true, true)
	if err != nil {
		t.Fatal(err)
	}
	start, end := idsOf(t, tk, "<|im_start|>")[0], idsOf(t, tk, "<|im_end|>")[0]
	var got []int32
	for _, id := range ids {
		if id == start || id == end {
			got = append(got, id)
		}
	}
	want := []int32{start, end, start, end, start, end, start, end, start}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("special ids in prompt = %v, want %v", got, want)
	}
	if dec, _ := tk.Decode(ids); dec != prompt {
		t.Errorf("Decode = %q", dec)
	}
}
