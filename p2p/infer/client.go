package infer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fomonet/fomo/p2p/infer/pb"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// codeLocalLimit marks a Dial that failed on this node's own resource
// limits, which says nothing about the provider.
const codeLocalLimit = "local_resource_limit"

type dialConfig struct {
	streamLimits
}

// DialOption configures Dial.
type DialOption func(*dialConfig)

// WithMaxFrameSize sets the largest frame the client writes or reads.
func WithMaxFrameSize(n int) DialOption { return func(c *dialConfig) { c.maxFrame = n } }

// WithRequestBodyLimit sets the largest request body the client sends.
func WithRequestBodyLimit(n int) DialOption { return func(c *dialConfig) { c.maxBody = n } }

// WithTimeouts sets the overall stream deadline and the idle deadline
// between the provider's frames. Zero keeps a default.
func WithTimeouts(overall, idle time.Duration) DialOption {
	return func(c *dialConfig) { c.setTimeouts(overall, idle) }
}

func newDialConfig(opts []DialOption) dialConfig {
	cfg := dialConfig{defaultLimits()}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.fill()
	return cfg
}

// Stream is a response arriving from a provider. It implements
// runtime.Stream: Recv yields the provider's chunks, then io.EOF after a
// successful Final, the provider's *runtime.Error after a Final with an
// error, or a 502 *runtime.Error when the stream breaks before its Final.
// Close before the end resets the stream, which cancels the request at the
// provider.
type Stream struct {
	st       network.Stream
	peer     peer.ID
	fr       *FrameReader
	cfg      dialConfig
	deadline time.Time
	ctx      context.Context
	stopCtx  func() bool

	mu      sync.Mutex
	ended   bool // a Final arrived, the stream failed, or Close was called
	err     error
	remote  bool // err came from the provider's Final
	chunks  int
	usage   runtime.Usage
	finish  runtime.FinishReason
	receipt []byte
}

var _ runtime.Stream = (*Stream)(nil)

// Dial opens a stream to provider p and sends req. authorization is the
// client's authorization envelope and entryNode the peer ID of the
// forwarding node ("" when the client dials the provider itself). The
// stream lives until its Final, Close, or the end of ctx, which resets it.
func Dial(ctx context.Context, h host.Host, p peer.ID, protoID protocol.ID, req *runtime.Request,
	authorization []byte, entryNode string, opts ...DialOption) (*Stream, error) {
	cfg := newDialConfig(opts)
	api, ok := apiToPB(req.API)
	if !ok {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "unsupported API %q", req.API)
	}
	if len(req.Body) > cfg.maxBody {
		return nil, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
			"request body of %d bytes is larger than the %d bytes the inference protocol carries", len(req.Body), cfg.maxBody).
			WithCode("request_too_large")
	}
	frame := requestFrame(&pb.InferRequest{Authorization: authorization, Api: api, Body: req.Body, EntryNode: entryNode})
	if size := marshalOpts.Size(frame); size > cfg.maxFrame {
		return nil, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
			"request of %d bytes is larger than the inference protocol's frame limit of %d bytes", size, cfg.maxFrame).
			WithCode("request_too_large")
	}
	st, err := h.NewStream(ctx, p, protoID)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"opening a stream to provider %s: %v", p, err).WithCode("provider_unreachable")
	}
	if err := st.Scope().SetService(ServiceName); err != nil {
		_ = st.Reset()
		return nil, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"this node has too many inference streams open: %v", err).WithCode(codeLocalLimit)
	}
	deadline := time.Now().Add(cfg.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = st.SetWriteDeadline(earliest(time.Now().Add(cfg.idle), deadline))
	if err := NewFrameWriter(st, cfg.maxFrame).WriteFrame(frame); err != nil {
		_ = st.Reset()
		return nil, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"sending the request to provider %s: %v", p, err).WithCode("provider_unreachable")
	}
	// The write side stays open until the end: a reset is how the provider
	// learns that the client went away, even while it has nothing to send.
	s := &Stream{st: st, peer: p, fr: NewFrameReader(st, cfg.maxFrame), cfg: cfg, deadline: deadline, ctx: ctx}
	s.stopCtx = context.AfterFunc(ctx, func() { s.abort(runtime.FinishCancelled) })
	return s, nil
}

// Peer returns the provider the stream was opened to.
func (s *Stream) Peer() peer.ID { return s.peer }

// ServedBy returns the provider's peer ID as a string (for X-Fomo-Node).
func (s *Stream) ServedBy() string { return s.peer.String() }

// Receipt returns the receipt bytes of the provider's Final, or nil.
func (s *Stream) Receipt() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.receipt
}

// Usage returns the usage reported in the Final (zero if none arrived).
func (s *Stream) Usage() runtime.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// Finish returns the finish reason of the Final, FinishError when the
// stream broke, or FinishCancelled when it was closed before its end.
func (s *Stream) Finish() runtime.FinishReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finish == "" {
		return runtime.FinishCancelled
	}
	return s.finish
}

// Chunks returns the number of chunks received so far.
func (s *Stream) Chunks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chunks
}

// FromProvider reports whether the error Recv returned was sent by the
// provider in its Final, rather than a broken or timed-out stream.
func (s *Stream) FromProvider() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Recv returns the next chunk's data. It is not safe for concurrent use
// (Close is).
func (s *Stream) Recv() (runtime.Event, error) {
	s.mu.Lock()
	if s.ended {
		err := s.err
		s.mu.Unlock()
		if err == nil {
			err = s.closedError()
		}
		return runtime.Event{}, err
	}
	s.mu.Unlock()

	_ = s.st.SetReadDeadline(earliest(time.Now().Add(s.cfg.idle), s.deadline))
	f, err := s.fr.ReadFrame()
	if err != nil {
		return runtime.Event{}, s.fail(s.readError(err))
	}
	switch k := f.Kind.(type) {
	case *pb.Frame_Chunk:
		s.mu.Lock()
		s.chunks++
		s.mu.Unlock()
		return runtime.Event{Data: k.Chunk.GetData()}, nil
	case *pb.Frame_Final:
		return runtime.Event{}, s.final(k.Final)
	}
	return runtime.Event{}, s.fail(runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
		"provider %s broke the inference protocol: it sent a request frame", s.peer))
}

func (s *Stream) final(f *pb.Final) error {
	s.stopCtx()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return s.err
	}
	s.ended = true
	s.usage = usageFromPB(f.GetUsage())
	s.receipt = f.GetReceipt()
	s.finish = finishFromPB(f.GetFinish(), f.GetError() != nil)
	if f.GetError() != nil {
		s.err, s.remote = errorFromPB(f.GetError()), true
		s.finish = runtime.FinishError
	} else {
		s.err = io.EOF
	}
	_ = s.st.Close()
	return s.err
}

// fail ends the stream with err and resets it.
func (s *Stream) fail(err error) error {
	s.stopCtx()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		if s.err != nil {
			return s.err
		}
		return s.closedError()
	}
	s.ended, s.err = true, err
	if s.finish == "" {
		s.finish = runtime.FinishError
	}
	_ = s.st.Reset()
	return err
}

// abort resets an unfinished stream; it is the cancellation signal.
func (s *Stream) abort(finish runtime.FinishReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended, s.finish = true, finish
	_ = s.st.Reset()
}

func (s *Stream) closedError() error {
	if err := context.Cause(s.ctx); err != nil {
		return err
	}
	return fmt.Errorf("infer: stream to provider %s closed: %w", s.peer, runtime.ErrClosed)
}

func (s *Stream) readError(err error) error {
	switch {
	case s.ctx.Err() != nil:
		return context.Cause(s.ctx)
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformedFrame):
		return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
			"provider %s sent an invalid frame: %v", s.peer, err).WithCode("provider_protocol_error")
	case isTimeout(err):
		if !time.Now().Before(s.deadline) {
			return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "",
				"provider %s did not finish within the stream deadline of %s", s.peer, s.cfg.timeout)
		}
		return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "",
			"provider %s sent nothing for %s", s.peer, s.cfg.idle)
	}
	return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
		"provider %s closed the stream before it finished", s.peer).WithCode("provider_stream_broken")
}

// Close releases the stream. Before the Final it resets the stream, which
// tells the provider to stop. It is safe to call more than once and
// concurrently with Recv.
func (s *Stream) Close() error {
	s.stopCtx()
	s.abort(runtime.FinishCancelled)
	return nil
}
