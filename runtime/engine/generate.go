package engine

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine/tokenizer"
)

// job is one queued request.
type job struct {
	queued  time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	api     runtime.API
	prompt  []int32
	params  genParams
	id      string
	created int64
	model   string
	out     *stream
}

// event is a response event with the tokens it accounts for.
type event struct {
	data             []byte
	prompt, complete int64
}

// stream is the runtime.Stream of a job. The generator appends events; the
// consumer takes them with Recv. Appending never blocks, so a slow reader
// does not hold up the model.
type stream struct {
	j      *job
	mu     sync.Mutex
	events []event
	notify chan struct{}
	done   chan struct{} // closed by end
	ended  bool
	err    error
	finish runtime.FinishReason
	usage  runtime.Usage // delivered through Recv
	closed bool
}

func newStream(j *job) *stream {
	return &stream{j: j, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *stream) push(e event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// end marks the stream finished; only the first call counts.
func (s *stream) end(f runtime.FinishReason, err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.finish, s.err = true, f, err
	s.mu.Unlock()
	close(s.done)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Recv returns the next event, io.EOF after the last, or the error that
// ended the response (the context's error when it was cancelled).
func (s *stream) Recv() (runtime.Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return runtime.Event{}, runtime.ErrClosed
		}
		if len(s.events) > 0 {
			e := s.events[0]
			s.events[0] = event{}
			s.events = s.events[1:]
			s.usage.PromptTokens += e.prompt
			s.usage.CompletionTokens += e.complete
			s.mu.Unlock()
			return runtime.Event{Data: e.data}, nil
		}
		if s.ended {
			err := s.err
			s.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return runtime.Event{}, err
		}
		s.mu.Unlock()
		<-s.notify
	}
}

// Usage counts the tokens delivered through Recv.
func (s *stream) Usage() runtime.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// Finish says how the response ended; "cancelled" if it was closed early.
func (s *stream) Finish() runtime.FinishReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		return runtime.FinishCancelled
	}
	return s.finish
}

// Close cancels the request if it is still queued or generating and waits
// until the model has stopped working on it.
func (s *stream) Close() error {
	s.j.cancel()
	<-s.done
	s.mu.Lock()
	s.closed = true
	s.events = nil
	s.mu.Unlock()
	return nil
}

// generate runs a job to completion on the model's sequence.
func (r *Runtime) generate(m *Model, seq *Sequence, j *job) {
	out := j.out
	if err := j.ctx.Err(); err != nil {
		out.end(runtime.FinishCancelled, err)
		return
	}
	g := &generation{j: j, tok: m.Tokenizer}
	g.stops = append(append([]string(nil), j.params.stops...), j.params.internalStops...)
	start := time.Now()
	finish, err := r.decode(m, seq, j, g)
	r.requests.Add(1)
	r.log.Debug("request finished", "runtime", r.Name(), "id", j.id, "api", string(j.api),
		"prompt_tokens", len(j.prompt), "cached_tokens", g.cached, "completion_tokens", g.total,
		"finish", string(finish), "queue_ms", start.Sub(j.queued).Milliseconds(),
		"prefill_ms", g.prefill.Milliseconds(), "decode_ms", time.Since(start.Add(g.prefill)).Milliseconds())
	if err != nil && finish != runtime.FinishCancelled {
		r.log.Error("generation failed", "runtime", r.Name(), "id", j.id, "err", err)
		out.end(runtime.FinishError, runtime.Errorf(500, runtime.ErrTypeAPI, "", "generation failed: %v", err))
		return
	}
	if finish == runtime.FinishCancelled {
		out.end(finish, err)
		return
	}
	g.finish(finish)
	out.end(finish, nil)
}

// decode evaluates the prompt and samples tokens until a stop condition.
func (r *Runtime) decode(m *Model, seq *Sequence, j *job, g *generation) (runtime.FinishReason, error) {
	prompt := j.prompt
	g.start = time.Now()
	// Reuse the cached prefix shared with the previous request; the last
	// prompt token is always evaluated to get fresh logits.
	n := 0
	for n < len(prompt)-1 && n < seq.Len() && seq.Tokens()[n] == prompt[n] {
		n++
	}
	seq.Truncate(n)
	var logits []float32
	for i := n; i < len(prompt); i += MaxBatch {
		if err := j.ctx.Err(); err != nil {
			seq.Truncate(i)
			return runtime.FinishCancelled, err
		}
		var err error
		if logits, err = seq.Forward(prompt[i:min(i+MaxBatch, len(prompt))]); err != nil {
			seq.Truncate(0)
			return runtime.FinishError, err
		}
	}
	r.promptN.Add(int64(len(prompt) - n))
	g.cached = n
	g.prefill = time.Since(g.start)
	g.begin(int64(len(prompt)))

	smp := newSampler(j.params.sampling)
	start := time.Now()
	defer func() {
		r.decodeNs.Add(int64(time.Since(start)))
	}()
	for produced := 0; ; {
		if r.testHook != nil {
			r.testHook(j)
		}
		if err := j.ctx.Err(); err != nil {
			return runtime.FinishCancelled, err
		}
		id := smp.sample(logits)
		produced++
		r.generated.Add(1)
		g.total++
		g.pending++
		if !j.params.ignoreEOS && m.Tokenizer.IsEOG(id) {
			return runtime.FinishStop, nil
		}
		if g.add(id) {
			return runtime.FinishStop, nil
		}
		if produced >= j.params.maxTokens || seq.Len() >= seq.MaxLen() {
			return runtime.FinishLength, nil
		}
		var err error
		if logits, err = seq.Forward([]int32{id}); err != nil {
			seq.Truncate(0)
			return runtime.FinishError, err
		}
		r.decodeN.Add(1)
	}
}

// generation turns sampled tokens into response events, holding back text
// that may be the start of a stop sequence.
type generation struct {
	j       *job
	tok     *tokenizer.Tokenizer
	dec     *tokenizer.StreamDecoder
	stops   []string
	held    string // decoded text not yet sent
	text    strings.Builder
	prompt  int64
	total   int64 // completion tokens so far
	pending int64 // completion tokens not yet attributed to an event
	stopped bool
	start   time.Time
	prefill time.Duration
	cached  int // prompt tokens reused from the previous request
}

// begin is called once the prompt is evaluated: the first streamed chunk
// carries the role.
func (g *generation) begin(promptTokens int64) {
	g.prompt = promptTokens
	g.dec = g.tok.NewStreamDecoder(tokenizer.SkipControl())
	if g.j.params.stream && g.j.api == runtime.APIChat {
		g.emit(g.chatChunk(&chatContent{Role: "assistant", Content: ptr("")}, nil), promptTokens, 0)
		g.prompt = 0
	}
}

// add consumes one token (already counted in pending) and reports whether
// a stop sequence was reached.
func (g *generation) add(id int32) bool {
	piece, err := g.dec.Write(id)
	if err != nil {
		return false
	}
	g.held += piece
	if len(g.stops) > 0 {
		cut, keep := -1, 0
		for _, s := range g.stops {
			if i := strings.Index(g.held, s); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
		if cut >= 0 {
			g.send(g.held[:cut])
			g.held = ""
			g.stopped = true
			return true
		}
		for _, s := range g.stops {
			keep = max(keep, overlap(g.held, s))
		}
		g.send(g.held[:len(g.held)-keep])
		g.held = g.held[len(g.held)-keep:]
		return false
	}
	g.send(g.held)
	g.held = ""
	return false
}

// overlap returns the length of the longest suffix of s that is a proper
// prefix of stop.
func overlap(s, stop string) int {
	for n := min(len(s), len(stop)-1); n > 0; n-- {
		if strings.HasSuffix(s, stop[:n]) {
			return n
		}
	}
	return 0
}

// send delivers text: a content chunk when streaming, else it is kept for
// the final document.
func (g *generation) send(text string) {
	if text == "" {
		return
	}
	g.text.WriteString(text)
	if !g.j.params.stream {
		return
	}
	var data []byte
	if g.j.api == runtime.APIChat {
		data = g.chatChunk(&chatContent{Content: &text}, nil)
	} else {
		data = g.textChunk(text, nil)
	}
	g.emit(data, g.prompt, g.pending)
	g.prompt, g.pending = 0, 0
}

// finish flushes held text and sends the final events.
func (g *generation) finish(reason runtime.FinishReason) {
	if !g.stopped {
		g.send(g.held + g.dec.Flush())
		g.held = ""
	}
	fr := finishString(reason)
	u := &usageJSON{PromptTokens: int64(len(g.j.prompt)), CompletionTokens: g.total}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	if !g.j.params.stream {
		var doc responseJSON
		if g.j.api == runtime.APIChat {
			text := g.text.String()
			doc = responseJSON{ID: g.j.id, Object: "chat.completion", Created: g.j.created, Model: g.j.model,
				Choices: []chatChoice{{Message: &chatContent{Role: "assistant", Content: &text}, FinishReason: fr}}, Usage: u}
		} else {
			doc = responseJSON{ID: g.j.id, Object: "text_completion", Created: g.j.created, Model: g.j.model,
				Choices: []textChoice{{Text: g.text.String(), FinishReason: fr}}, Usage: u}
		}
		data, _ := json.Marshal(doc)
		g.emit(data, u.PromptTokens, u.CompletionTokens)
		return
	}
	var data []byte
	if g.j.api == runtime.APIChat {
		data = g.chatChunk(&chatContent{}, fr)
	} else {
		data = g.textChunk("", fr)
	}
	g.emit(data, g.prompt, g.pending)
	g.prompt, g.pending = 0, 0
	if g.j.params.includeUsage {
		doc := streamUsageJSON{ID: g.j.id, Object: g.object(), Created: g.j.created, Model: g.j.model, Choices: []any{}, Usage: u}
		data, _ := json.Marshal(doc)
		g.emit(data, 0, 0)
	}
}

func (g *generation) emit(data []byte, prompt, complete int64) {
	g.j.out.push(event{data: data, prompt: prompt, complete: complete})
}

func (g *generation) object() string {
	if g.j.api == runtime.APIChat {
		return "chat.completion.chunk"
	}
	return "text_completion"
}

func (g *generation) chatChunk(delta *chatContent, finish *string) []byte {
	doc := responseJSON{ID: g.j.id, Object: "chat.completion.chunk", Created: g.j.created, Model: g.j.model,
		Choices: []chatChoice{{Delta: delta, FinishReason: finish}}}
	return g.marshalChunk(doc)
}

func (g *generation) textChunk(text string, finish *string) []byte {
	doc := responseJSON{ID: g.j.id, Object: "text_completion", Created: g.j.created, Model: g.j.model,
		Choices: []textChoice{{Text: text, FinishReason: finish}}}
	return g.marshalChunk(doc)
}

// marshalChunk writes a streamed chunk; with include_usage every chunk but
// the last carries "usage": null.
func (g *generation) marshalChunk(doc responseJSON) []byte {
	var data []byte
	if g.j.params.includeUsage {
		data, _ = json.Marshal(streamUsageJSON(doc))
	} else {
		data, _ = json.Marshal(doc)
	}
	return data
}
