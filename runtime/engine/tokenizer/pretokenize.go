package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// preKind selects one of the hand-written pre-tokenizer scanners. Each
// scanner is equivalent to the regular expression quoted on its function;
// the patterns use a negative lookahead that Go's regexp cannot express, so
// they are implemented as explicit scanners.
type preKind int

const (
	preGPT2 preKind = iota + 1
	preLlama3
	preQwen2
)

// String names the pattern family.
func (p preKind) String() string {
	switch p {
	case preGPT2:
		return "gpt2"
	case preLlama3:
		return "llama3"
	case preQwen2:
		return "qwen2"
	}
	return fmt.Sprintf("preKind(%d)", int(p))
}

// preAliases maps the values found in the tokenizer.ggml.pre metadata key to
// the scanner whose pattern that pre-tokenizer uses.
var preAliases = map[string]preKind{
	"":                 preGPT2,
	"default":          preGPT2,
	"gpt2":             preGPT2,
	"gpt-2":            preGPT2,
	"llama3":           preLlama3,
	"llama-v3":         preLlama3,
	"llama-bpe":        preLlama3,
	"smaug-bpe":        preLlama3,
	"dbrx":             preLlama3,
	"falcon3":          preLlama3,
	"pixtral":          preLlama3,
	"qwen2":            preQwen2,
	"deepseek-r1-qwen": preQwen2,
}

// parsePre resolves a tokenizer.ggml.pre value.
func parsePre(name string) (preKind, error) {
	k, ok := preAliases[name]
	if !ok {
		return 0, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q (supported: gpt-2/gpt2/default, llama3/llama-bpe, qwen2)", name)
	}
	return k, nil
}

// runeClass is the coarse Unicode class the patterns care about.
type runeClass uint8

const (
	classOther  runeClass = iota // [^\s\p{L}\p{N}], also invalid UTF-8 bytes
	classLetter                  // \p{L}
	classNumber                  // \p{N}
	classSpace                   // \s
)

func classify(r rune) runeClass {
	if r < utf8.RuneSelf {
		c := byte(r)
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return classLetter
		case c >= '0' && c <= '9':
			return classNumber
		case c == ' ', c >= '\t' && c <= '\r':
			return classSpace
		}
		return classOther
	}
	switch {
	case r == utf8.RuneError:
		return classOther
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// scanner walks a string rune by rune. Invalid UTF-8 bytes are treated as
// one-byte runes of class classOther so that every input byte lands in
// exactly one piece.
type scanner struct {
	s string
}

// at returns the rune at byte offset i, its width and class; width is 0 at
// the end of the string.
func (sc scanner) at(i int) (rune, int, runeClass) {
	if i >= len(sc.s) {
		return 0, 0, classOther
	}
	r, w := utf8.DecodeRuneInString(sc.s[i:])
	if r == utf8.RuneError {
		// Either a literal U+FFFD or an invalid byte; both are "other".
		return r, w, classOther
	}
	return r, w, classify(r)
}

// run returns the end of the maximal run of runes of class c starting at i.
func (sc scanner) run(i int, c runeClass) int {
	for i < len(sc.s) {
		_, w, k := sc.at(i)
		if k != c {
			break
		}
		i += w
	}
	return i
}

// spaceRun handles the two trailing alternatives shared by every pattern,
// `\s+(?!\S)|\s+`, at offset i where a whitespace rune starts. The greedy run
// is kept whole when it reaches the end of the text; otherwise the last
// whitespace rune is left for the next piece unless the run is a single rune.
func (sc scanner) spaceRun(i int) int {
	end := sc.run(i, classSpace)
	if end == len(sc.s) {
		return end
	}
	// Back off one rune so the lookahead sees whitespace.
	_, lastStart := lastRune(sc.s[i:end])
	if lastStart > 0 {
		return i + lastStart
	}
	return end
}

// lastRune returns the last rune of s and its byte offset.
func lastRune(s string) (rune, int) {
	r, w := utf8.DecodeLastRuneInString(s)
	return r, len(s) - w
}

// contraction reports the length of an English contraction ('s 't 're 've 'm
// 'll 'd) at offset i, or 0. foldCase makes the match ASCII case-insensitive.
func (sc scanner) contraction(i int, foldCase bool) int {
	s := sc.s
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	lower := func(c byte) byte {
		if foldCase && c >= 'A' && c <= 'Z' {
			return c + ('a' - 'A')
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < len(s) {
		a, b := lower(s[i+1]), lower(s[i+2])
		if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
			return 3
		}
	}
	return 0
}

// pretokenize splits text into pieces with the selected pattern and calls
// emit for each piece in order. The pieces concatenate to text.
func pretokenize(kind preKind, text string, emit func(piece string)) {
	sc := scanner{s: text}
	next := sc.nextGPT2
	switch kind {
	case preLlama3:
		next = func(i int) int { return sc.nextLlama3(i, 3) }
	case preQwen2:
		next = func(i int) int { return sc.nextLlama3(i, 1) }
	}
	for i := 0; i < len(text); {
		j := next(i)
		if j <= i { // cannot happen; guard against an infinite loop
			_, w, _ := sc.at(i)
			j = i + w
		}
		emit(text[i:j])
		i = j
	}
}

// pretokenizeAll returns the pieces as a slice (tests and training).
func pretokenizeAll(kind preKind, text string) []string {
	var out []string
	pretokenize(kind, text, func(p string) { out = append(out, p) })
	return out
}

// nextGPT2 returns the end of the piece starting at i under
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func (sc scanner) nextGPT2(i int) int {
	if n := sc.contraction(i, false); n > 0 {
		return i + n
	}
	r, w, c := sc.at(i)
	if r == ' ' {
		// ` ?X+` for the three classes: the space joins the following run.
		if _, _, c2 := sc.at(i + w); i+w < len(sc.s) && c2 != classSpace {
			return sc.run(i+w, c2)
		}
	}
	if c != classSpace {
		return sc.run(i, c)
	}
	return sc.spaceRun(i)
}

// nextLlama3 returns the end of the piece starting at i under the llama3
// pattern (maxDigits 3)
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// or the qwen2 pattern, identical except for \p{N} taken one at a time
// (maxDigits 1).
func (sc scanner) nextLlama3(i int, maxDigits int) int {
	if n := sc.contraction(i, true); n > 0 {
		return i + n
	}
	r, w, c := sc.at(i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == classLetter {
		return sc.run(i, classLetter)
	}
	if c != classNumber && r != '\r' && r != '\n' {
		if _, _, c2 := sc.at(i + w); i+w < len(sc.s) && c2 == classLetter {
			return sc.run(i+w, classLetter)
		}
	}
	// \p{N}{1,maxDigits}
	if c == classNumber {
		j := i
		for n := 0; n < maxDigits && j < len(sc.s); n++ {
			_, w2, c2 := sc.at(j)
			if c2 != classNumber {
				break
			}
			j += w2
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := -1
	if c == classOther {
		start = i
	} else if r == ' ' {
		if _, _, c2 := sc.at(i + w); i+w < len(sc.s) && c2 == classOther {
			start = i + w
		}
	}
	if start >= 0 {
		j := sc.run(start, classOther)
		for j < len(sc.s) && (sc.s[j] == '\r' || sc.s[j] == '\n') {
			j++
		}
		return j
	}
	// Here c is classSpace. `\s*[\r\n]+`: the match ends after the last CR or
	// LF of the whitespace run.
	end := sc.run(i, classSpace)
	for k := end - 1; k >= i; k-- {
		if sc.s[k] == '\r' || sc.s[k] == '\n' {
			return k + 1
		}
	}
	return sc.spaceRun(i)
}
