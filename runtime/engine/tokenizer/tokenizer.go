// Package tokenizer turns text into token ids and back for the built-in
// inference engine. It implements the two vocabulary kinds that llama-family
// GGUF models ship:
//
//   - "gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer
//     (gpt2, llama3 and qwen2 patterns, implemented as hand-written scanners);
//   - "llama": SentencePiece BPE with score-ordered merges, "▁" for spaces
//     and <0xAB> byte-fallback tokens.
//
// The package also renders the common chat templates (ChatML, Llama 3,
// Llama 2), decodes token streams whose UTF-8 characters span several tokens,
// and trains small byte-level BPE vocabularies for synthetic models.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Token types as stored in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Model names accepted in Config.Model.
const (
	ModelGPT2  = "gpt2"  // byte-level BPE
	ModelLlama = "llama" // SentencePiece BPE
)

// Config describes a vocabulary, usually filled from GGUF tokenizer.ggml.*
// metadata. Absent token ids are -1.
type Config struct {
	// Model is "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE).
	Model string
	// Pre names the pre-tokenizer of a gpt2 model: "gpt-2" (llama.cpp's name),
	// "gpt2", "default" or "" for the GPT-2 pattern; "llama3", "llama-bpe"
	// (and a few aliases such as "smaug-bpe", "dbrx") for the Llama 3
	// pattern; "qwen2" for Qwen2's.
	// Ignored for llama models.
	Pre string
	// Tokens is the vocabulary; a token's id is its index.
	Tokens []string
	// Scores are the SentencePiece merge scores (required for llama models,
	// optional otherwise). Empty or one per token.
	Scores []float32
	// Types are token types (TypeNormal...). Empty or one per token; when
	// empty, types are inferred from the special ids and <0xAB> spellings.
	Types []int32
	// Merges are the ranked "left right" pairs of a gpt2 model, best first.
	Merges []string
	// Special token ids, -1 when absent.
	BOS, EOS, EOT, PAD, UNK int32
	// AddBOS and AddEOS tell Encode to add BOS/EOS when asked for special
	// tokens (tokenizer.ggml.add_bos_token / add_eos_token).
	AddBOS, AddEOS bool
	// NoSpacePrefix disables the SentencePiece dummy prefix (a space added in
	// front of the text); it is the negation of tokenizer.ggml.add_space_prefix,
	// which defaults to true.
	NoSpacePrefix bool
}

// Tokenizer encodes and decodes text for one vocabulary.
type Tokenizer struct {
	spm          bool
	pre          preKind
	ignoreMerges bool
	spacePrefix  bool

	tokens []string
	scores []float32
	types  []int32
	pieces [][]byte // decoded bytes of each token
	vocab  map[string]int32
	merges map[uint64]mergeRule
	// byteIDs maps a raw byte to its token: the byte-level character token
	// (gpt2) or the <0xAB> byte-fallback token (llama); -1 if missing.
	byteIDs [256]int32

	bos, eos, eot, pad, unk int32
	addBOS, addEOS          bool
	eog                     map[int32]bool

	// Tokens matched literally in the input, indexed by first byte and
	// sorted longest first: always (user-defined) and with parseSpecial
	// (control, unknown, user-defined).
	literal, special [256][]int32

	cacheMu sync.RWMutex
	cache   map[string][]int32
}

// The per-word encoding cache holds at most maxCacheEntries words of at most
// maxCachedWord bytes; it is cleared when full.
const (
	maxCacheEntries = 1 << 16
	maxCachedWord   = 128
)

// eogNames are end-of-generation tokens recognized by their spelling in
// addition to EOS and EOT.
var eogNames = map[string]bool{
	"<|eot_id|>":      true,
	"<|eom_id|>":      true,
	"<|im_end|>":      true,
	"<|end_of_text|>": true,
	"<|endoftext|>":   true,
	"<|end|>":         true,
	"<end_of_turn>":   true,
	"<|return|>":      true,
	"<|call|>":        true,
	"</s>":            true,
}

// DefaultAddBOS is the value to use for Config.AddBOS when the GGUF key
// tokenizer.ggml.add_bos_token is absent: SentencePiece vocabularies and the
// Llama 3 pre-tokenizer family add BOS, other byte-level vocabularies do not.
func DefaultAddBOS(model, pre string) bool {
	if model == ModelLlama {
		return true
	}
	k, err := parsePre(pre)
	return err == nil && k == preLlama3
}

// chatMarkers are chat-template tokens taken as control tokens when the
// vocabulary has no token types.
var chatMarkers = map[string]bool{
	"<|im_start|>":        true,
	"<|begin_of_text|>":   true,
	"<|start_header_id|>": true,
	"<|end_header_id|>":   true,
	"<start_of_turn>":     true,
}

// New validates cfg and builds a Tokenizer.
func New(cfg Config) (*Tokenizer, error) {
	t := &Tokenizer{
		tokens:      cfg.Tokens,
		vocab:       make(map[string]int32, len(cfg.Tokens)),
		bos:         cfg.BOS,
		eos:         cfg.EOS,
		eot:         cfg.EOT,
		pad:         cfg.PAD,
		unk:         cfg.UNK,
		addBOS:      cfg.AddBOS,
		addEOS:      cfg.AddEOS,
		spacePrefix: !cfg.NoSpacePrefix,
		eog:         map[int32]bool{},
		cache:       map[string][]int32{},
	}
	switch cfg.Model {
	case ModelGPT2:
		pre, err := parsePre(cfg.Pre)
		if err != nil {
			return nil, err
		}
		t.pre = pre
		t.ignoreMerges = pre == preLlama3
		t.spacePrefix = false
	case ModelLlama:
		t.spm = true
	default:
		return nil, fmt.Errorf("tokenizer: unsupported model %q (supported: %q byte-level BPE, %q SentencePiece BPE)", cfg.Model, ModelGPT2, ModelLlama)
	}
	n := len(cfg.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: vocabulary of %d tokens is too large", n)
	}
	if len(cfg.Scores) != 0 && len(cfg.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(cfg.Scores), n)
	}
	if len(cfg.Types) != 0 && len(cfg.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(cfg.Types), n)
	}
	if t.spm && len(cfg.Scores) == 0 {
		return nil, errors.New("tokenizer: llama (SentencePiece) vocabulary has no scores")
	}
	for _, sp := range []struct {
		name string
		id   int32
	}{{"bos", cfg.BOS}, {"eos", cfg.EOS}, {"eot", cfg.EOT}, {"padding", cfg.PAD}, {"unknown", cfg.UNK}} {
		if sp.id < -1 || int(sp.id) >= n {
			return nil, fmt.Errorf("tokenizer: %s token id %d out of range [0, %d) (use -1 when absent)", sp.name, sp.id, n)
		}
	}
	if cfg.AddBOS && cfg.BOS < 0 {
		return nil, errors.New("tokenizer: add_bos_token is set but there is no bos token")
	}
	if cfg.AddEOS && cfg.EOS < 0 {
		return nil, errors.New("tokenizer: add_eos_token is set but there is no eos token")
	}
	t.scores = cfg.Scores
	t.types = make([]int32, n)
	for i, tok := range cfg.Tokens {
		id := int32(i)
		if _, dup := t.vocab[tok]; !dup {
			t.vocab[tok] = id
		}
		switch {
		case len(cfg.Types) != 0:
			t.types[i] = cfg.Types[i]
		case id == cfg.UNK:
			t.types[i] = TypeUnknown
		case id == cfg.BOS || id == cfg.EOS || id == cfg.EOT || id == cfg.PAD || eogNames[tok] || chatMarkers[tok]:
			t.types[i] = TypeControl
		case t.spm && isByteToken(tok):
			t.types[i] = TypeByte
		default:
			t.types[i] = TypeNormal
		}
	}
	if t.unk < 0 {
		for i, ty := range t.types {
			if ty == TypeUnknown {
				t.unk = int32(i)
				break
			}
		}
	}
	for b := range t.byteIDs {
		t.byteIDs[b] = -1
	}
	if t.spm {
		for i, tok := range cfg.Tokens {
			if t.types[i] == TypeByte || (len(cfg.Types) == 0 && isByteToken(tok)) {
				if b, ok := parseByteToken(tok); ok && t.byteIDs[b] < 0 {
					t.byteIDs[b] = int32(i)
				}
			}
		}
	} else {
		for b := range t.byteIDs {
			if id, ok := t.vocab[byteToStr[b]]; ok {
				t.byteIDs[b] = id
			}
		}
		if err := t.loadMerges(cfg.Merges); err != nil {
			return nil, err
		}
	}
	t.pieces = make([][]byte, n)
	for i := range cfg.Tokens {
		t.pieces[i] = t.decodePiece(int32(i))
	}
	for i, tok := range cfg.Tokens {
		id := int32(i)
		ty := t.types[i]
		if id == t.eos || id == t.eot || (eogNames[tok] && (ty == TypeControl || ty == TypeUserDefined)) {
			t.eog[id] = true
		}
		if tok == "" {
			continue
		}
		switch ty {
		case TypeUserDefined:
			t.literal[tok[0]] = append(t.literal[tok[0]], id)
			t.special[tok[0]] = append(t.special[tok[0]], id)
		case TypeControl, TypeUnknown:
			t.special[tok[0]] = append(t.special[tok[0]], id)
		}
	}
	for _, tab := range []*[256][]int32{&t.literal, &t.special} {
		for b := range tab {
			l := tab[b]
			// Longest first so that "<|im_start|>" wins over "<|im".
			sortIDsByLenDesc(l, t.tokens)
		}
	}
	return t, nil
}

func sortIDsByLenDesc(ids []int32, tokens []string) {
	slices.SortStableFunc(ids, func(a, b int32) int { return len(tokens[b]) - len(tokens[a]) })
}

// loadMerges ranks the gpt2 merges. Merges whose parts or result are not in
// the vocabulary can never apply to token ids and are skipped.
func (t *Tokenizer) loadMerges(merges []string) error {
	if len(merges) == 0 {
		return errors.New("tokenizer: gpt2 (byte-level BPE) vocabulary has no merges")
	}
	t.merges = make(map[uint64]mergeRule, len(merges))
	for rank, m := range merges {
		sp := -1
		if len(m) > 1 {
			sp = strings.IndexByte(m[1:], ' ')
		}
		if sp < 0 {
			return fmt.Errorf("tokenizer: merge %d %q is not two tokens separated by a space", rank, m)
		}
		sp++
		a, b := m[:sp], m[sp+1:]
		la, okA := t.vocab[a]
		lb, okB := t.vocab[b]
		res, okR := t.vocab[a+b]
		if !okA || !okB || !okR {
			continue
		}
		k := pairKey(la, lb)
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = mergeRule{rank: int32(rank), result: res}
		}
	}
	return nil
}

func isByteToken(s string) bool {
	_, ok := parseByteToken(s)
	return ok
}

// parseByteToken parses the SentencePiece byte spelling "<0xAB>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

func byteTokenName(b byte) string { return fmt.Sprintf("<0x%02X>", b) }

// decodePiece computes the bytes a token stands for.
func (t *Tokenizer) decodePiece(id int32) []byte {
	tok := t.tokens[id]
	switch t.types[id] {
	case TypeControl:
		return []byte(tok)
	case TypeUnknown:
		return []byte("\u2585")
	case TypeByte:
		if b, ok := parseByteToken(tok); ok {
			return []byte{b}
		}
	case TypeUserDefined:
		if !t.spm {
			return []byte(tok)
		}
	}
	if t.spm {
		return []byte(strings.ReplaceAll(tok, spmSpace, " "))
	}
	return byteLevelDecode(nil, tok)
}

func errNoByteToken(b byte) error {
	return fmt.Errorf("tokenizer: no token for byte 0x%02X and no unknown token", b)
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn id, or -1.
func (t *Tokenizer) EOT() int32 { return t.eot }

// AddBOS reports whether Encode adds BOS when asked for special tokens.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// IsEOG reports whether id ends generation: EOS, EOT, or an end-of-turn or
// end-of-text control token such as <|im_end|>, <|eot_id|>, <|end_of_text|>.
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGs returns the end-of-generation ids in increasing order.
func (t *Tokenizer) EOGs() []int32 {
	out := make([]int32, 0, len(t.eog))
	for id := range int32(len(t.tokens)) {
		if t.eog[id] {
			out = append(out, id)
		}
	}
	return out
}

// IsControl reports whether id is a control token (BOS, EOS, <|im_start|>,
// ...), whose text callers usually do not show.
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.types) && t.types[id] == TypeControl
}

// TokenType returns the type of id (TypeNormal...), or TypeUndefined when
// id is out of range.
func (t *Tokenizer) TokenType(id int32) int32 {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// TokenText returns the vocabulary spelling of id.
func (t *Tokenizer) TokenText(id int32) (string, error) {
	if err := t.checkID(id); err != nil {
		return "", err
	}
	return t.tokens[id], nil
}

// TokenID returns the id whose vocabulary spelling is text.
func (t *Tokenizer) TokenID(text string) (int32, bool) {
	id, ok := t.vocab[text]
	return id, ok
}

func (t *Tokenizer) checkID(id int32) error {
	if id < 0 || int(id) >= len(t.tokens) {
		return fmt.Errorf("tokenizer: token id %d out of range [0, %d)", id, len(t.tokens))
	}
	return nil
}

func (t *Tokenizer) isNormal(id int32) bool {
	ty := t.types[id]
	return ty == TypeNormal || ty == TypeUndefined || ty == TypeUnused
}

// TokenBytes returns the raw bytes one token stands for: the text of a
// control token, the byte of a byte token, the decoded text otherwise. A
// multi-byte UTF-8 character may be split across tokens; see StreamDecoder.
func (t *Tokenizer) TokenBytes(id int32) ([]byte, error) {
	if err := t.checkID(id); err != nil {
		return nil, err
	}
	return append([]byte(nil), t.pieces[id]...), nil
}

// Decode turns ids into text. Control tokens are rendered as their text
// (see IsControl to leave them out) and the unknown token as "▅" (U+2585).
// For SentencePiece vocabularies with the dummy prefix, the leading space of
// the first non-control token is removed, undoing what Encode added. Bytes
// that do not form valid UTF-8 are kept as they are.
func (t *Tokenizer) Decode(ids []int32) (string, error) {
	var buf []byte
	strip := t.spacePrefix
	for _, id := range ids {
		if err := t.checkID(id); err != nil {
			return "", err
		}
		p := t.pieces[id]
		if strip && t.types[id] != TypeControl {
			strip = false
			if len(p) > 0 && p[0] == ' ' {
				p = p[1:]
			}
		}
		buf = append(buf, p...)
	}
	return string(buf), nil
}

// Encode turns text into ids. With addSpecial, BOS and EOS are added as the
// vocabulary asks (AddBOS/AddEOS); a BOS written literally at the start of the
// text and parsed as a special token is not doubled. With parseSpecial,
// control tokens written literally in the text (for example "<|im_start|>")
// map to their ids; without it they are encoded as plain text.
// User-defined tokens are always matched literally, as added tokens are.
func (t *Tokenizer) Encode(text string, addSpecial bool, parseSpecial bool) ([]int32, error) {
	out := make([]int32, 0, len(text)/3+2)
	bosAdded := addSpecial && t.addBOS
	if bosAdded {
		out = append(out, t.bos)
	}
	table := &t.literal
	if parseSpecial {
		table = &t.special
	}
	prevSpecial := true
	start := 0
	var err error
	flush := func(end int) {
		if err != nil || end <= start {
			return
		}
		out, err = t.encodeFragment(out, text[start:end], prevSpecial)
		prevSpecial = false
	}
	for i := 0; i < len(text); {
		id := t.matchSpecial(table, text, i)
		if id < 0 {
			i++
			continue
		}
		flush(i)
		if err != nil {
			return nil, err
		}
		if !(bosAdded && id == t.bos && len(out) == 1) {
			out = append(out, id)
		}
		prevSpecial = true
		i += len(t.tokens[id])
		start = i
	}
	flush(len(text))
	if err != nil {
		return nil, err
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out, nil
}

// matchSpecial returns the longest token of table spelled at text[i:], or -1.
func (t *Tokenizer) matchSpecial(table *[256][]int32, text string, i int) int32 {
	for _, id := range table[text[i]] {
		if strings.HasPrefix(text[i:], t.tokens[id]) {
			return id
		}
	}
	return -1
}

// encodeFragment encodes text that contains no special token.
func (t *Tokenizer) encodeFragment(out []int32, frag string, afterSpecial bool) ([]int32, error) {
	if t.spm {
		if t.spacePrefix && afterSpecial {
			frag = " " + frag
		}
		return t.spmEncode(out, strings.ReplaceAll(frag, " ", spmSpace))
	}
	var err error
	pretokenize(t.pre, frag, func(word string) {
		if err != nil {
			return
		}
		out, err = t.encodeWord(out, word)
	})
	return out, err
}

// encodeWord encodes one pre-token through the cache.
func (t *Tokenizer) encodeWord(out []int32, word string) ([]int32, error) {
	if len(word) > maxCachedWord {
		return t.bpeWord(out, word)
	}
	t.cacheMu.RLock()
	ids, ok := t.cache[word]
	t.cacheMu.RUnlock()
	if ok {
		return append(out, ids...), nil
	}
	n := len(out)
	out, err := t.bpeWord(out, word)
	if err != nil {
		return out, err
	}
	ids = append([]int32(nil), out[n:]...)
	t.cacheMu.Lock()
	if len(t.cache) >= maxCacheEntries {
		clear(t.cache)
	}
	t.cache[strings.Clone(word)] = ids
	t.cacheMu.Unlock()
	return out, nil
}
