package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
)

// After [DONE], up to drainBytes of the body are read, for at most
// drainTimeout, so the connection can be reused.
const (
	drainBytes   = 4 << 10
	drainTimeout = 500 * time.Millisecond
)

// stream is a runtime.Stream over an upstream's server-sent events. Recv is
// meant for one goroutine; Close, Usage and Finish may be called from any.
type stream struct {
	r           *Runtime
	api         runtime.API
	ctx         context.Context // the caller's
	rctx        context.Context // the upstream request's
	cancel      context.CancelCauseFunc
	body        io.ReadCloser
	dec         *sseDecoder
	idle        Timer
	reqBody     []byte
	clientUsage bool

	mu       sync.Mutex
	done     bool
	closed   bool
	err      error
	finish   runtime.FinishReason
	last     runtime.FinishReason // last finish_reason delivered
	upstream *runtime.Usage       // last usage the upstream reported
	chunks   int64                // delivered chunks with content
	prompt   int64                // estimated prompt tokens, -1 until computed
}

func (r *Runtime) newStream(ctx, rctx context.Context, cancel context.CancelCauseFunc, api runtime.API,
	reqBody []byte, clientUsage bool, body io.ReadCloser) *stream {
	s := &stream{
		r: r, api: api, ctx: ctx, rctx: rctx, cancel: cancel, body: body,
		dec:         newSSEDecoder(body, r.maxEvent, r.cfg.MaxResponseBytes),
		reqBody:     reqBody,
		clientUsage: clientUsage,
		prompt:      -1,
	}
	idle := r.cfg.IdleTimeout
	s.idle = r.clock.AfterFunc(idle, func() { cancel(errIdle) })
	s.dec.activity = func() { s.idle.Reset(idle) }
	return s
}

// Recv returns the next event: the data of one server-sent event, byte for
// byte. It returns io.EOF after the upstream's [DONE].
func (s *stream) Recv() (runtime.Event, error) {
	s.mu.Lock()
	if s.done {
		err := s.err
		s.mu.Unlock()
		return runtime.Event{}, err
	}
	s.mu.Unlock()
	if s.ctx.Err() != nil {
		return runtime.Event{}, s.fail(s.ctx.Err())
	}
	for {
		data, err := s.dec.Next()
		if err != nil {
			return runtime.Event{}, s.fail(err)
		}
		if string(data) == "[DONE]" {
			return runtime.Event{}, s.end(io.EOF, "")
		}
		var c chunk
		parsed := json.Unmarshal(data, &c) == nil
		if parsed && len(c.Error) > 0 && !isNull(c.Error) {
			e := streamError(c.Error)
			s.r.log.Warn("upstream sent an error event", "status", e.Status, "err", e.Message)
			return runtime.Event{}, s.end(e, runtime.FinishError)
		}
		var content int64
		var finish runtime.FinishReason
		var usage *runtime.Usage
		skip := false
		if parsed {
			if c.Usage != nil {
				u := c.Usage.usage()
				usage = &u
				skip = len(c.Choices) == 0 && !s.clientUsage
			}
			for _, ch := range c.Choices {
				d := ch.Delta
				if ch.Text != "" || d.Content != "" || d.ReasoningContent != "" || d.Reasoning != "" ||
					(len(d.ToolCalls) > 0 && !isNull(d.ToolCalls)) {
					content++
				}
				if ch.FinishReason != nil && *ch.FinishReason != "" {
					finish = finishReason(*ch.FinishReason)
				}
			}
		}
		s.mu.Lock()
		if s.done {
			err := s.err
			s.mu.Unlock()
			return runtime.Event{}, err
		}
		if usage != nil {
			s.upstream = usage
		}
		if skip {
			s.mu.Unlock()
			continue
		}
		s.chunks += content
		if finish != "" {
			s.last = finish
		}
		s.mu.Unlock()
		return runtime.Event{Data: bytes.Clone(data)}, nil
	}
}

// fail ends the stream after a read error, classifying it.
func (s *stream) fail(err error) error {
	r := s.r
	switch {
	case s.ctx.Err() != nil:
		return s.end(r.ctxError(s.ctx), runtime.FinishCancelled)
	case context.Cause(s.rctx) == runtime.ErrClosed:
		return s.end(runtime.ErrClosed, runtime.FinishCancelled)
	case s.rctx.Err() != nil:
		if e := r.timeoutError(context.Cause(s.rctx)); e != nil {
			return s.end(e, runtime.FinishError)
		}
	case errors.Is(err, errEventTooLarge):
		r.log.Warn("upstream sent an oversized event", "limit", r.maxEvent)
		return s.end(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"upstream %s sent an event larger than %d bytes", r.who(), r.maxEvent), runtime.FinishError)
	case errors.Is(err, errStreamTooLarge):
		r.log.Warn("upstream sent an oversized stream", "limit", r.cfg.MaxResponseBytes)
		return s.end(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"upstream %s sent a stream larger than %d bytes", r.who(), r.cfg.MaxResponseBytes), runtime.FinishError)
	}
	r.log.Warn("upstream stream broke", "err", err)
	return s.end(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
		"upstream closed the stream before it finished (%s: %v)", r.who(), unwrapURLError(err)), runtime.FinishError)
}

// end records the outcome of the stream once and releases the upstream
// request. err io.EOF is the normal end, after [DONE].
func (s *stream) end(err error, finish runtime.FinishReason) error {
	s.mu.Lock()
	if s.done {
		err := s.err
		s.mu.Unlock()
		return err
	}
	if err == io.EOF {
		finish = s.last
		if finish == "" {
			finish = runtime.FinishStop
		}
	}
	s.done, s.err, s.finish = true, err, finish
	s.mu.Unlock()
	if err == io.EOF {
		// Read the end of the body so the connection can be reused.
		s.idle.Reset(drainTimeout)
		io.Copy(io.Discard, io.LimitReader(s.body, drainBytes))
	}
	s.idle.Stop()
	s.cancel(nil)
	s.body.Close()
	return err
}

// Usage returns the upstream's reported usage, or the count of delivered
// content chunks and a chars/4 estimate of the prompt when it reported none.
func (s *stream) Usage() runtime.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.upstream != nil {
		return *s.upstream
	}
	if s.prompt < 0 {
		s.prompt = estimateTokens(promptChars(s.api, s.reqBody))
	}
	return runtime.Usage{PromptTokens: s.prompt, CompletionTokens: s.chunks, Estimated: true}
}

// Finish returns how the stream ended; "" while it is still running.
func (s *stream) Finish() runtime.FinishReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finish
}

// Close aborts the upstream request if the stream has not ended; the stream
// then counts as cancelled.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	wasDone := s.done
	if !wasDone {
		s.done, s.err, s.finish = true, runtime.ErrClosed, runtime.FinishCancelled
	}
	s.mu.Unlock()
	if !wasDone {
		s.cancel(runtime.ErrClosed)
		s.idle.Stop()
		s.body.Close()
	}
	return nil
}
