package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// GPT-2's byte-level BPE works on text where every byte is replaced by a
// printable Unicode character: bytes that are already printable (and not a
// space) stand for themselves, the other 68 bytes are moved, in byte order,
// to U+0100 and above. Token strings in a byte-level vocabulary are written in
// this alphabet, so " hello" is stored as "Ġhello".
var (
	byteToRune [256]rune
	byteToStr  [256]string
	// runeToByte inverts byteToRune; -1 for runes outside the alphabet.
	runeToByte [324]int16
)

func init() {
	for i := range runeToByte {
		runeToByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		byteToStr[b] = string(r)
		runeToByte[r] = int16(b)
	}
}

// byteLevelEncode maps raw bytes to the byte-level alphabet.
func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteToStr[s[i]])
	}
	return sb.String()
}

// byteLevelDecode maps a byte-level string back to raw bytes. Characters
// outside the alphabet are kept as their UTF-8 encoding.
func byteLevelDecode(dst []byte, s string) []byte {
	for _, r := range s {
		if r >= 0 && int(r) < len(runeToByte) && runeToByte[r] >= 0 {
			dst = append(dst, byte(runeToByte[r]))
			continue
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// mergeRule is the outcome of merging one ordered pair of token ids.
type mergeRule struct {
	rank   int32
	result int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// symbol is one node of the doubly linked list the merge loops work on.
type symbol struct {
	id         int32 // token id (BPE) or -1
	start, end int   // byte range in the word (SPM)
	prev, next int
	dead       bool
}

// candidate is a possible merge of symbols left and right. For BPE lower
// priority wins; ties go to the leftmost pair.
type candidate struct {
	prio        float64
	left, right int
	size        int // combined length when queued, to detect stale entries (SPM)
	result      int32
	lid, rid    int32 // ids when queued, to detect stale entries (BPE)
}

// candHeap is a binary min-heap of candidates, typed to avoid the boxing of
// container/heap.
type candHeap []candidate

func (h candHeap) less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio < h[j].prio
	}
	return h[i].left < h[j].left
}

func (h *candHeap) init() {
	for i := len(*h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *candHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candHeap) pop() candidate {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down(0)
	return top
}

func (h candHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// byteID returns the token of byte b, or the unknown token where the
// vocabulary has none.
func (t *Tokenizer) byteID(b byte) (int32, error) {
	if id := t.byteIDs[b]; id >= 0 {
		return id, nil
	}
	if t.unk < 0 {
		return 0, errNoByteToken(b)
	}
	return t.unk, nil
}

// mergeSymbols merges adjacent symbols of the list syms, the best
// candidate first, until no pair merges: cand proposes the merge of
// symbols l and r (either may be -1, which merges nothing), current
// reports whether a queued candidate still describes its two symbols, and
// merge makes l the merged symbol before r is dropped.
func mergeSymbols(syms []symbol, cand func(l, r int) (candidate, bool), current func(c candidate, l, r *symbol) bool, merge func(c candidate, l, r *symbol)) {
	h := make(candHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if c, ok := cand(i, i+1); ok {
			h = append(h, c)
		}
	}
	h.init()
	for len(h) > 0 {
		c := h.pop()
		l, r := &syms[c.left], &syms[c.right]
		if l.dead || r.dead || l.next != c.right || !current(c, l, r) {
			continue
		}
		merge(c, l, r)
		r.dead = true
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.left
		}
		if nc, ok := cand(l.prev, c.left); ok {
			h.push(nc)
		}
		if nc, ok := cand(c.left, l.next); ok {
			h.push(nc)
		}
	}
}

// bpeWord encodes one pre-token with the byte-level merges and appends the
// ids to out.
func (t *Tokenizer) bpeWord(out []int32, word string) ([]int32, error) {
	if word == "" {
		return out, nil
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[byteLevelEncode(word)]; ok && t.isNormal(id) {
			return append(out, id), nil
		}
	}
	syms := make([]symbol, len(word))
	for i := 0; i < len(word); i++ {
		id, err := t.byteID(word[i])
		if err != nil {
			return out, err
		}
		syms[i] = symbol{id: id, prev: i - 1, next: i + 1}
	}
	syms[len(syms)-1].next = -1
	cand := func(l, r int) (candidate, bool) {
		if l < 0 || r < 0 {
			return candidate{}, false
		}
		m, ok := t.merges[pairKey(syms[l].id, syms[r].id)]
		if !ok {
			return candidate{}, false
		}
		return candidate{prio: float64(m.rank), left: l, right: r, result: m.result, lid: syms[l].id, rid: syms[r].id}, true
	}
	mergeSymbols(syms, cand,
		func(c candidate, l, r *symbol) bool { return l.id == c.lid && r.id == c.rid },
		func(c candidate, l, _ *symbol) { l.id = c.result })
	for i := 0; i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out, nil
}
