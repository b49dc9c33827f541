package engine

import (
	"fmt"
	"math"

	"github.com/fomonet/fomo/runtime/engine/gguf"
)

// MaxBatch is the number of prompt tokens a forward pass processes at once.
// Each weight row is read once per batch, so larger batches read less memory
// per prompt token.
const MaxBatch = 32

// workPerChunk is the number of multiply-adds a worker takes at a time;
// smaller matrices run on the calling goroutine alone.
const workPerChunk = 1 << 15

// rowTile is the multiple of rows that matmulJobs hands out at once for
// B > 1, so that the integer tile kernels take whole tiles.
const rowTile = 4

// Sequence is the state of one token sequence: its key/value cache and the
// scratch buffers of the forward pass. It is not safe for concurrent use;
// the Model it belongs to may serve several sequences.
type Sequence struct {
	m      *Model
	maxLen int
	tokens []int32 // tokens whose keys and values are cached
	// k and v hold, per layer, the len(tokens)*kvDim cached keys and
	// values as IEEE halves (as llama.cpp's cache does by default), which
	// halves what attention reads per token at long contexts.
	k, v [][]uint16

	x, xn, q, kk, vv, ao, g, u []float32 // per batch activations
	cos, sin                   []float32 // per batch rotation tables
	logits                     []float32
	jobs                       [3]matJob // scratch for matmulJobs
	// acts holds, per activation layout, the input vectors of a product
	// quantized for the integer kernels: MaxBatch each, reused by every
	// product (matmulJobs).
	acts [gguf.Layout256 + 1][]gguf.Acts
	// scores is the attention scratch: one score per cached position for
	// each pool worker, sized with the cache (growCache).
	scores []float32

	// The loops handed to the pool: method values made once, so that a
	// loop allocates nothing, and their arguments.
	matmulLoop, attnLoop func(worker, lo, hi int)
	mm                   struct {
		in   []float32
		B    int
		jobs []matJob
	}
	at struct{ li, pos0, B int }
}

// NewSequence returns an empty sequence that holds at most maxLen tokens
// (capped at the model's context length; < 1 means the context length).
// Cache memory grows with use.
func (m *Model) NewSequence(maxLen int) *Sequence {
	if maxLen < 1 || maxLen > m.HP.ContextLength {
		maxLen = m.HP.ContextLength
	}
	hp := m.HP
	qDim, kvDim := hp.Heads*hp.HeadDim, hp.KVHeads*hp.HeadDim
	s := &Sequence{
		m:      m,
		maxLen: maxLen,
		k:      make([][]uint16, hp.Layers),
		v:      make([][]uint16, hp.Layers),
		x:      make([]float32, MaxBatch*hp.Dim),
		xn:     make([]float32, MaxBatch*max(hp.Dim, qDim)),
		q:      make([]float32, MaxBatch*qDim),
		kk:     make([]float32, MaxBatch*kvDim),
		vv:     make([]float32, MaxBatch*kvDim),
		ao:     make([]float32, MaxBatch*qDim),
		g:      make([]float32, MaxBatch*hp.FFN),
		u:      make([]float32, MaxBatch*hp.FFN),
		cos:    make([]float32, MaxBatch*hp.RopeDim/2),
		sin:    make([]float32, MaxBatch*hp.RopeDim/2),
		logits: make([]float32, hp.Vocab),
		acts: [...][]gguf.Acts{
			gguf.Layout32:  make([]gguf.Acts, MaxBatch),
			gguf.Layout256: make([]gguf.Acts, MaxBatch),
		},
	}
	s.matmulLoop, s.attnLoop = s.matmulChunk, s.attentionChunk
	return s
}

// Len returns the number of tokens in the cache.
func (s *Sequence) Len() int { return len(s.tokens) }

// MaxLen returns the most tokens the sequence can hold.
func (s *Sequence) MaxLen() int { return s.maxLen }

// Tokens returns the cached tokens; the slice must not be modified.
func (s *Sequence) Tokens() []int32 { return s.tokens }

// Truncate drops every cached token from position n on, so that a new
// continuation can reuse a common prefix.
func (s *Sequence) Truncate(n int) {
	if n < 0 {
		n = 0
	}
	if n < len(s.tokens) {
		s.tokens = s.tokens[:n]
	}
}

// Forward appends tokens to the sequence and returns the logits that
// predict the token after the last one. The slice is owned by the sequence
// and overwritten by the next call.
func (s *Sequence) Forward(tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("engine: forward with no tokens")
	}
	if n := len(s.tokens) + len(tokens); n > s.maxLen {
		return nil, fmt.Errorf("engine: %d tokens exceed the context length of %d", n, s.maxLen)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= s.m.HP.Vocab {
			return nil, fmt.Errorf("engine: token id %d is outside the vocabulary of %d", t, s.m.HP.Vocab)
		}
	}
	for len(tokens) > 0 {
		b := min(len(tokens), MaxBatch)
		s.forwardBatch(tokens[:b], len(tokens) == b)
		tokens = tokens[b:]
	}
	return s.logits, nil
}

// forwardBatch runs B <= MaxBatch tokens through the network, appending
// their keys and values, and computes the logits of the last one if
// wantLogits.
func (s *Sequence) forwardBatch(tokens []int32, wantLogits bool) {
	m, hp := s.m, &s.m.HP
	B := len(tokens)
	pos0 := len(s.tokens)
	dim, hd := hp.Dim, hp.HeadDim
	qDim, kvDim := hp.Heads*hd, hp.KVHeads*hd

	for b, t := range tokens {
		if err := gguf.Dequantize(m.tokEmb.t, m.tokEmb.row(int(t)), s.x[b*dim:(b+1)*dim]); err != nil {
			panic(err) // sizes were validated at load
		}
	}
	half := hp.RopeDim / 2
	for b := range B {
		p := float64(pos0 + b)
		for i := range half {
			sn, cs := math.Sincos(p * m.invFreq[i])
			s.cos[b*half+i], s.sin[b*half+i] = float32(cs), float32(sn)
		}
	}
	s.growCache(pos0 + B)
	x, xn := s.x[:B*dim], s.xn[:B*dim]
	for li := range m.layers {
		l := &m.layers[li]
		rmsNorm(xn, x, l.attnNorm, dim, hp.Eps)
		q, k, v := s.q[:B*qDim], s.kk[:B*kvDim], s.vv[:B*kvDim]
		s.jobs[0] = matJob{out: q, w: &l.wq, bias: l.bq}
		s.jobs[1] = matJob{out: k, w: &l.wk, bias: l.bk}
		s.jobs[2] = matJob{out: v, w: &l.wv, bias: l.bv}
		s.matmulJobs(xn, B, s.jobs[:3])
		for b := range B {
			cs, sn := s.cos[b*half:(b+1)*half], s.sin[b*half:(b+1)*half]
			for h := range hp.Heads {
				rope(q[b*qDim+h*hd:b*qDim+(h+1)*hd], cs, sn, hp.RopeNeox)
			}
			for h := range hp.KVHeads {
				rope(k[b*kvDim+h*hd:b*kvDim+(h+1)*hd], cs, sn, hp.RopeNeox)
			}
		}
		toHalves(s.k[li][pos0*kvDim:], k)
		toHalves(s.v[li][pos0*kvDim:], v)
		s.attention(li, pos0, B)
		ao := s.ao[:B*qDim]
		s.matmul(xn[:B*dim], &l.wo, ao, B, nil)
		addTo(x, xn[:B*dim])

		rmsNorm(xn, x, l.ffnNorm, dim, hp.Eps)
		g, u := s.g[:B*hp.FFN], s.u[:B*hp.FFN]
		s.jobs[0] = matJob{out: g, w: &l.wGate}
		s.jobs[1] = matJob{out: u, w: &l.wUp}
		s.matmulJobs(xn, B, s.jobs[:2])
		siluMul(g, u)
		s.matmul(xn, &l.wDwn, g, B, nil)
		addTo(x, xn)
	}
	s.tokens = append(s.tokens, tokens...)
	if wantLogits {
		last := x[(B-1)*dim : B*dim]
		rmsNorm(xn[:dim], last, m.outNorm, dim, hp.Eps)
		s.matmul(s.logits, &m.output, xn[:dim], 1, nil)
	}
}

// growCache makes room for n cached positions per layer.
func (s *Sequence) growCache(n int) {
	kvDim := s.m.HP.KVHeads * s.m.HP.HeadDim
	need := n * kvDim
	if len(s.k[0]) >= need {
		return
	}
	size := max(need, min(2*len(s.k[0]), s.maxLen*kvDim), 64*kvDim)
	size = min(max(size, need), s.maxLen*kvDim)
	s.scores = make([]float32, s.m.pool.threads*(size/kvDim))
	for li := range s.k {
		nk := make([]uint16, size)
		copy(nk, s.k[li])
		s.k[li] = nk
		nv := make([]uint16, size)
		copy(nv, s.v[li])
		s.v[li] = nv
	}
}

// matmul computes out[b] = w·in[b] (+ bias) for B vectors, splitting the
// rows of w over the pool. Each output element is computed on its own (one
// DotRow call, or one integer kernel's sum on the quantized in[b]), so the
// result does not depend on the thread count or on B.
func (s *Sequence) matmul(out []float32, w *matrix, in []float32, B int, bias []float32) {
	s.jobs[0] = matJob{out: out, w: w, bias: bias}
	s.matmulJobs(in, B, s.jobs[:1])
}

// matJob is one product of matmulJobs: out[b] = w·in[b] (+ bias).
type matJob struct {
	out  []float32
	w    *matrix
	bias []float32   // nil for none
	acts []gguf.Acts // the B quantized inputs, nil for float ones (set by matmulJobs)
}

// matmulJobs computes the products of several matrices with the same
// columns and input in one parallel loop over their rows taken together,
// which saves the hand-offs to the pool of one loop per matrix.
//
// Where a matrix's type has an integer kernel, the B input vectors are
// quantized once, before the loop, in the layout it takes, and shared by
// the jobs taking that layout; its rows take all B tokens in one kernel
// call, which decodes each weight block once. Each token is quantized on
// its own and each kernel's per-token result equals the single-token one,
// so the results still do not depend on B or on the thread count.
func (s *Sequence) matmulJobs(in []float32, B int, jobs []matJob) {
	cols, total := jobs[0].w.cols, 0
	var done [len(s.acts)]bool
	for i := range jobs {
		j := &jobs[i]
		total += j.w.rows
		j.acts = nil
		l := s.m.actLayout(j.w.t)
		if l == gguf.LayoutNone {
			continue
		}
		j.acts = s.acts[l][:B]
		if !done[l] {
			for b := range j.acts {
				j.acts[b].Quantize(in[b*cols:(b+1)*cols], l)
			}
			done[l] = true
		}
	}
	chunk := max(1, workPerChunk/(cols*B))
	if B > 1 {
		// Whole tiles of rows for DotRowsActsN (MatMulF32's tiles are
		// three rows), and enough of them to amortize its packing of
		// the tokens.
		tile := rowTile
		if jobs[0].w.t == gguf.TypeF32 {
			tile = 3
		}
		chunk = max(chunk, 8*tile+tile-1) / tile * tile
	}
	s.mm.in, s.mm.B, s.mm.jobs = in, B, jobs
	s.m.pool.run(total, chunk, s.matmulLoop)
	s.mm.in, s.mm.jobs = nil, nil
}

// matmulChunk computes the rows [lo, hi) of matmulJobs's products, taken
// together, with its arguments in s.mm.
func (s *Sequence) matmulChunk(_, lo, hi int) {
	in, B, jobs := s.mm.in, s.mm.B, s.mm.jobs
	cols := jobs[0].w.cols
	ji, base := 0, 0
	for r := lo; r < hi; {
		for r >= base+jobs[ji].w.rows {
			base += jobs[ji].w.rows
			ji++
		}
		j := &jobs[ji]
		w := j.w
		end := min(hi, base+w.rows)
		rlo, rhi := r-base, end-base // this job's rows in the chunk
		rows := w.data[rlo*w.rowSize : rhi*w.rowSize]
		switch {
		case j.acts != nil:
			// All B quantized tokens in one call: each weight block is
			// decoded once for all of them.
			gguf.DotRowsActsN(w.t, rows, rhi-rlo, j.acts, j.out[rlo:], 1, w.rows)
		case w.t == gguf.TypeF32 && B > 1:
			// Each weight loaded once for several tokens; each result
			// equals DotRow's.
			gguf.MatMulF32(rows, cols, in[:B*cols], B, j.out[rlo:], w.rows)
		default:
			for lr := rlo; lr < rhi; lr++ {
				row := w.row(lr)
				for b := range B {
					j.out[b*w.rows+lr] = gguf.DotRow(w.t, row, in[b*cols:(b+1)*cols])
				}
			}
		}
		if j.bias != nil {
			for b := range B {
				o := j.out[b*w.rows : (b+1)*w.rows]
				for lr := rlo; lr < rhi; lr++ {
					o[lr] += j.bias[lr]
				}
			}
		}
		r = end
	}
}

// actLayout returns the layout in which the products with a matrix of type
// t take their input: LayoutNone for float activations (DotRow).
func (m *Model) actLayout(t gguf.Type) gguf.ActLayout {
	if m.floatActs {
		return gguf.LayoutNone
	}
	return gguf.ActLayoutOf(t)
}

// attention computes s.ao for the B tokens at positions pos0... of layer
// li, one (token, head) pair per work item. Where the build has them and
// the head dimension is a multiple of 8, one kernel call takes all the
// scores of an item and one its weighted sum of values, instead of a call
// per cached position; an item's result does not depend on B or on the
// thread count either way.
func (s *Sequence) attention(li, pos0, B int) {
	hp := &s.m.HP
	chunk := max(1, workPerChunk/((pos0+B)*hp.HeadDim*2))
	s.at.li, s.at.pos0, s.at.B = li, pos0, B
	s.m.pool.run(B*hp.Heads, chunk, s.attnLoop)
}

// attentionChunk computes the (token, head) items [lo, hi) of attention,
// with its arguments in s.at.
func (s *Sequence) attentionChunk(worker, lo, hi int) {
	li, pos0, B := s.at.li, s.at.pos0, s.at.B
	hp := &s.m.HP
	hd := hp.HeadDim
	qDim, kvDim := hp.Heads*hd, hp.KVHeads*hd
	group := hp.Heads / hp.KVHeads
	span := pos0 + B
	scale := float32(1 / math.Sqrt(float64(hd)))
	keys, vals := s.k[li], s.v[li]
	stride := len(s.scores) / s.m.pool.threads
	vector := haveAttnAVX2 && hd%8 == 0
	scores := s.scores[worker*stride : worker*stride+span]
	for item := lo; item < hi; item++ {
		b, h := item/hp.Heads, item%hp.Heads
		n := pos0 + b + 1 // causal: positions 0..pos0+b
		q := s.q[b*qDim+h*hd : b*qDim+(h+1)*hd]
		kvOff := (h / group) * hd
		sc := scores[:n]
		out := s.ao[b*qDim+h*hd : b*qDim+(h+1)*hd]
		mx := float32(math.Inf(-1))
		if vector {
			last := (n-1)*kvDim + kvOff + hd - 1 // the last element the kernels read
			_, _ = keys[last], vals[last]
			attnDotsAVX2(&q[0], &keys[kvOff], hd, kvDim, n, scale, &sc[0])
			for _, d := range sc {
				mx = max(mx, d)
			}
			inv := float32(1 / expShift(sc, mx))
			attnMixAVX2(&sc[0], &vals[kvOff], hd, kvDim, n, &out[0])
			for i := range out {
				out[i] *= inv
			}
			continue
		}
		for t := range n {
			d := dotHalves(q, keys[t*kvDim+kvOff:t*kvDim+kvOff+hd]) * scale
			sc[t] = d
			mx = max(mx, d)
		}
		inv := float32(1 / expShift(sc, mx))
		clear(out)
		for t, w := range sc {
			addScaledHalves(out, w*inv, vals[t*kvDim+kvOff:t*kvDim+kvOff+hd])
		}
	}
}

// rmsNorm writes x/rms(x)*w for each row of n elements.
func rmsNorm(out, x, w []float32, n int, eps float32) {
	for r := 0; r+n <= len(x); r += n {
		row := x[r : r+n]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(n)+float64(eps)))
		o := out[r : r+n]
		for i, v := range row {
			o[i] = v * inv * w[i]
		}
	}
}

// rope rotates the first 2*len(cs) elements of one head vector: adjacent
// pairs (0,1), (2,3)... in normal mode, pairs (i, i+len(cs)) in NEOX mode.
func rope(v, cs, sn []float32, neox bool) {
	half := len(cs)
	for i := range half {
		a, b := 2*i, 2*i+1
		if neox {
			a, b = i, i+half
		}
		x0, x1 := v[a], v[b]
		v[a] = x0*cs[i] - x1*sn[i]
		v[b] = x0*sn[i] + x1*cs[i]
	}
}

func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// toHalves stores src as IEEE halves in dst, rounded to nearest even.
func toHalves(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = gguf.F32ToF16(v)
	}
}

// dotHalves returns the dot product of q with the halves k (len(q) of
// them).
func dotHalves(q []float32, k []uint16) float32 {
	k = k[:len(q)]
	var s float32
	for i, v := range q {
		s += v * gguf.F16ToF32(k[i])
	}
	return s
}

// addScaledHalves adds w times the halves v to out, element by element.
func addScaledHalves(out []float32, w float32, v []uint16) {
	v = v[:len(out)]
	for i, h := range v {
		out[i] += w * gguf.F16ToF32(h)
	}
}
