package tokenizer

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
)

// maxTrainVocab bounds TrainBPE's vocabulary size.
const maxTrainVocab = 1 << 20

// ByteTokens returns the 256 byte-level base tokens in GPT-2's order: the
// printable bytes first, then the remapped ones.
func ByteTokens() []string {
	out := make([]string, 0, 256)
	for b := 0; b < 256; b++ {
		if byteToRune[b] == rune(b) {
			out = append(out, byteToStr[b])
		}
	}
	for b := 0; b < 256; b++ {
		if byteToRune[b] != rune(b) {
			out = append(out, byteToStr[b])
		}
	}
	return out
}

// TrainBPE learns a byte-level BPE vocabulary of at most vocabSize tokens
// from corpus, pre-tokenized with the named pattern (see Config.Pre). The
// tokens begin with the 256 byte tokens (ByteTokens), followed by the result
// of each merge, in the order learned, unless an earlier merge already made
// the same string; merges are "left right" strings as in Config.Merges. Each step merges the most frequent adjacent pair; ties go
// to the pair whose left, then right, token string sorts first, so the
// result depends only on the input. Training stops early when no pair occurs
// twice.
func TrainBPE(corpus string, vocabSize int, pre string) (tokens []string, merges []string, err error) {
	kind, err := parsePre(pre)
	if err != nil {
		return nil, nil, err
	}
	if vocabSize < 256 || vocabSize > maxTrainVocab {
		return nil, nil, fmt.Errorf("tokenizer: vocabulary size %d out of range [256, %d]", vocabSize, maxTrainVocab)
	}
	if corpus == "" {
		return nil, nil, errors.New("tokenizer: empty training corpus")
	}
	tr := &trainer{ids: map[string]int32{}, counts: map[uint64]int{}, where: map[uint64][]int32{}}
	for _, tok := range ByteTokens() {
		tr.addToken(tok)
	}
	freq := map[string]int{}
	pretokenize(kind, corpus, func(w string) { freq[w]++ })
	words := make([]string, 0, len(freq))
	for w := range freq {
		words = append(words, w)
	}
	sort.Strings(words)
	tr.words = make([][]int32, len(words))
	tr.freq = make([]int, len(words))
	for i, w := range words {
		syms := make([]int32, len(w))
		for j := 0; j < len(w); j++ {
			syms[j] = tr.ids[byteToStr[w[j]]]
		}
		tr.words[i], tr.freq[i] = syms, freq[w]
		tr.addPairs(int32(i), 1)
	}
	for k, c := range tr.counts {
		tr.h.items = append(tr.h.items, trainPair{count: c, key: k})
	}
	tr.h.tokens = tr.tokens
	heap.Init(&tr.h)
	stamp := make([]int, len(words))
	for iter := 1; len(tr.tokens) < vocabSize; iter++ {
		best, ok := tr.popBest()
		if !ok {
			break
		}
		a, b := int32(best>>32), int32(uint32(best))
		merged := tr.tokens[a] + tr.tokens[b]
		id, exists := tr.ids[merged]
		if !exists {
			id = tr.addToken(merged)
		}
		merges = append(merges, tr.tokens[a]+" "+tr.tokens[b])
		touched := map[uint64]bool{}
		for _, w := range tr.where[best] {
			if stamp[w] == iter {
				continue
			}
			stamp[w] = iter
			if !hasPair(tr.words[w], a, b) {
				continue
			}
			tr.touch(w, touched)
			tr.addPairs(w, -1)
			tr.words[w] = replacePair(tr.words[w], a, b, id)
			tr.addPairs(w, 1)
			tr.touch(w, touched)
		}
		delete(tr.where, best)
		keys := make([]uint64, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if c := tr.counts[k]; c > 0 {
				heap.Push(&tr.h, trainPair{count: c, key: k})
			}
		}
	}
	return tr.tokens, merges, nil
}

type trainer struct {
	tokens []string
	ids    map[string]int32
	words  [][]int32
	freq   []int
	counts map[uint64]int
	where  map[uint64][]int32
	h      pairHeap
}

func (tr *trainer) addToken(s string) int32 {
	id := int32(len(tr.tokens))
	tr.tokens = append(tr.tokens, s)
	tr.ids[s] = id
	tr.h.tokens = tr.tokens
	return id
}

// addPairs adds (sign 1) or removes (sign -1) word w's adjacent pairs.
func (tr *trainer) addPairs(w int32, sign int) {
	syms := tr.words[w]
	for i := 0; i+1 < len(syms); i++ {
		k := pairKey(syms[i], syms[i+1])
		tr.counts[k] += sign * tr.freq[w]
		if tr.counts[k] <= 0 {
			delete(tr.counts, k)
		}
		if sign > 0 {
			tr.where[k] = append(tr.where[k], w)
		}
	}
}

func (tr *trainer) touch(w int32, touched map[uint64]bool) {
	syms := tr.words[w]
	for i := 0; i+1 < len(syms); i++ {
		touched[pairKey(syms[i], syms[i+1])] = true
	}
}

// popBest returns the most frequent pair still occurring at least twice.
func (tr *trainer) popBest() (uint64, bool) {
	for tr.h.Len() > 0 {
		p := heap.Pop(&tr.h).(trainPair)
		if c := tr.counts[p.key]; c == p.count && c >= 2 {
			return p.key, true
		}
	}
	return 0, false
}

func hasPair(syms []int32, a, b int32) bool {
	for i := 0; i+1 < len(syms); i++ {
		if syms[i] == a && syms[i+1] == b {
			return true
		}
	}
	return false
}

// replacePair merges non-overlapping occurrences of (a, b), left to right.
func replacePair(syms []int32, a, b, id int32) []int32 {
	out := syms[:0]
	for i := 0; i < len(syms); i++ {
		if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
			out = append(out, id)
			i++
			continue
		}
		out = append(out, syms[i])
	}
	return out
}

type trainPair struct {
	count int
	key   uint64
}

// pairHeap orders pairs by count, most first, then by the token strings.
type pairHeap struct {
	items  []trainPair
	tokens []string
}

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	x, y := h.items[i], h.items[j]
	if x.count != y.count {
		return x.count > y.count
	}
	xa, xb := h.tokens[int32(x.key>>32)], h.tokens[int32(uint32(x.key))]
	ya, yb := h.tokens[int32(y.key>>32)], h.tokens[int32(uint32(y.key))]
	if xa != ya {
		return xa < ya
	}
	return xb < yb
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(trainPair)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
