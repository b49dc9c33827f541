package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// TemplateKind is a chat prompt format.
type TemplateKind int

// Supported chat templates.
const (
	// TemplateChatML is the <|im_start|>role ... <|im_end|> format (Qwen,
	// many fine-tunes).
	TemplateChatML TemplateKind = iota + 1
	// TemplateLlama3 is Meta Llama 3 Instruct's header format.
	TemplateLlama3
	// TemplateLlama2 is Meta Llama 2 Chat's [INST] <<SYS>> format.
	TemplateLlama2
)

// templateNames are the names accepted by ParseTemplateKind, as they are
// written in the chat_template setting of a runtime's config.
var templateNames = map[string]TemplateKind{
	"chatml": TemplateChatML,
	"llama3": TemplateLlama3,
	"llama2": TemplateLlama2,
}

// String returns the name ParseTemplateKind accepts.
func (k TemplateKind) String() string {
	switch k {
	case TemplateChatML:
		return "chatml"
	case TemplateLlama3:
		return "llama3"
	case TemplateLlama2:
		return "llama2"
	}
	return fmt.Sprintf("TemplateKind(%d)", int(k))
}

// Message is one chat turn.
type Message struct {
	Role    string
	Content string
}

// ParseTemplateKind resolves a template name: "chatml", "llama3" or
// "llama2" (case-insensitive).
func ParseTemplateKind(name string) (TemplateKind, error) {
	if k, ok := templateNames[strings.ToLower(strings.TrimSpace(name))]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("tokenizer: unknown chat template name %q (supported: chatml, llama3, llama2)", name)
}

// ErrUnknownTemplate is returned (wrapped) by DetectTemplate when a chat
// template is not recognized.
var ErrUnknownTemplate = errors.New("tokenizer: unrecognized chat template")

// DetectTemplate recognizes the format of a Jinja chat template (GGUF
// tokenizer.chat_template) by its distinctive markers.
func DetectTemplate(tmpl string) (TemplateKind, error) {
	switch {
	case strings.TrimSpace(tmpl) == "":
		return 0, fmt.Errorf("%w: the model has no chat template; name one with chat_template = \"chatml\", \"llama3\" or \"llama2\" in the runtime config", ErrUnknownTemplate)
	case strings.Contains(tmpl, "<|start_header_id|>") && strings.Contains(tmpl, "<|end_header_id|>"):
		return TemplateLlama3, nil
	case strings.Contains(tmpl, "<|im_start|>"):
		return TemplateChatML, nil
	case strings.Contains(tmpl, "[INST]") && strings.Contains(tmpl, "<<SYS>>"):
		return TemplateLlama2, nil
	}
	return 0, fmt.Errorf("%w (supported: chatml, llama3, llama2); name one with chat_template = \"chatml\", \"llama3\" or \"llama2\" in the runtime config", ErrUnknownTemplate)
}

// StopTokens returns the strings that end an assistant turn in this format.
func (k TemplateKind) StopTokens() []string {
	switch k {
	case TemplateChatML:
		return []string{"<|im_end|>", "<|endoftext|>"}
	case TemplateLlama3:
		return []string{"<|eot_id|>", "<|end_of_text|>"}
	case TemplateLlama2:
		return []string{"</s>"}
	}
	return nil
}

// Apply renders msgs as the official template does, special tokens written
// as text: encode the result with parseSpecial set. The Llama 3 and Llama 2
// formats begin with their BOS token text; Encode with addSpecial does not
// add a second one. With addGenerationPrompt the opening of an assistant
// turn is appended (Llama 2's format has none: its prompt already ends with
// [/INST]). ChatML is the plain format: model-specific defaults such as
// Qwen2's "You are a helpful assistant." system turn are not added; the
// Llama 3 form is Llama 3 Instruct's, without Llama 3.1's date preamble.
func (k TemplateKind) Apply(msgs []Message, addGenerationPrompt bool) (string, error) {
	if len(msgs) == 0 {
		return "", errors.New("tokenizer: chat has no messages")
	}
	var sb strings.Builder
	switch k {
	case TemplateChatML:
		for _, m := range msgs {
			sb.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			sb.WriteString("<|im_start|>assistant\n")
		}
	case TemplateLlama3:
		sb.WriteString("<|begin_of_text|>")
		for _, m := range msgs {
			sb.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + pyStrip(m.Content) + "<|eot_id|>")
		}
		if addGenerationPrompt {
			sb.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case TemplateLlama2:
		return applyLlama2(msgs)
	default:
		return "", fmt.Errorf("tokenizer: unknown chat template %v", k)
	}
	return sb.String(), nil
}

// applyLlama2 follows Llama 2 Chat's template: an optional leading system
// message folded into the first user turn between <<SYS>> markers, then
// strictly alternating user/assistant turns, each user turn opened by BOS and
// each assistant turn closed by EOS.
func applyLlama2(msgs []Message) (string, error) {
	loop := msgs
	system, hasSystem := "", false
	if msgs[0].Role == "system" {
		system, hasSystem = msgs[0].Content, true
		loop = msgs[1:]
	}
	if len(loop) == 0 {
		return "", errors.New("tokenizer: llama2 chat needs a user message after the system message")
	}
	var sb strings.Builder
	for i, m := range loop {
		if (m.Role == "user") != (i%2 == 0) {
			return "", errors.New("tokenizer: llama2 chat roles must alternate user/assistant/user/assistant/...")
		}
		content := m.Content
		if i == 0 && hasSystem {
			content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + m.Content
		}
		switch m.Role {
		case "user":
			sb.WriteString("<s>[INST] " + pyStrip(content) + " [/INST]")
		case "assistant":
			sb.WriteString(" " + pyStrip(content) + " </s>")
		}
	}
	return sb.String(), nil
}

// pyStrip trims whitespace as Python's str.strip (and Jinja's trim filter)
// does: Unicode White_Space plus the ASCII separators 0x1C-0x1F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}
