package infer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fomonet/fomo/p2p/infer/pb"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// received is the payment of a request received over the protocol: the
// authorization that came with it, and the receipt the backend's metering
// signs for it, sent back in the Final.
type received struct {
	auth []byte

	mu      sync.Mutex
	receipt []byte
}

// For returns the authorization as the client sent it: it names its payee
// already, which the serving node's metering checks.
func (p *received) For(string) ([]byte, error) { return p.auth, nil }

// Paid implements runtime.Payment.
func (p *received) Paid(receipt []byte) {
	p.mu.Lock()
	p.receipt = receipt
	p.mu.Unlock()
}

func (p *received) signed() []byte {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.receipt
}

// Default stream deadlines.
const (
	// DefaultStreamTimeout bounds a whole stream.
	DefaultStreamTimeout = 10 * time.Minute
	// DefaultIdleTimeout bounds the wait for any one frame, in either direction.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxStreams bounds the requests a server runs at once.
	DefaultMaxStreams = 256
	// ServiceName is the resource manager service the protocol's streams
	// are attached to.
	ServiceName = "fomo.infer"
)

type serverConfig struct {
	streamLimits
	maxStreams  int
	log         *slog.Logger
	serviceName string
}

// streamLimits are the frame, body and time limits of one end of a stream,
// the client's or the server's.
type streamLimits struct {
	maxFrame int
	maxBody  int
	timeout  time.Duration
	idle     time.Duration
}

func defaultLimits() streamLimits {
	return streamLimits{maxFrame: DefaultMaxFrameSize, maxBody: DefaultMaxBodySize,
		timeout: DefaultStreamTimeout, idle: DefaultIdleTimeout}
}

// setTimeouts sets the overall stream deadline and the idle deadline; zero
// keeps the one set.
func (l *streamLimits) setTimeouts(overall, idle time.Duration) {
	if overall > 0 {
		l.timeout = overall
	}
	if idle > 0 {
		l.idle = idle
	}
}

// fill replaces sizes that are zero or less with the defaults.
func (l *streamLimits) fill() {
	if l.maxFrame <= 0 {
		l.maxFrame = DefaultMaxFrameSize
	}
	if l.maxBody <= 0 {
		l.maxBody = DefaultMaxBodySize
	}
}

// ServerOption configures a Server.
type ServerOption func(*serverConfig)

// WithServerMaxFrameSize sets the largest frame the server reads or writes.
func WithServerMaxFrameSize(n int) ServerOption { return func(c *serverConfig) { c.maxFrame = n } }

// WithMaxBodySize sets the largest request body the server accepts.
func WithMaxBodySize(n int) ServerOption { return func(c *serverConfig) { c.maxBody = n } }

// WithServerTimeouts sets the overall stream deadline and the idle deadline
// for reading the request and writing each frame. Zero keeps a default.
func WithServerTimeouts(overall, idle time.Duration) ServerOption {
	return func(c *serverConfig) { c.setTimeouts(overall, idle) }
}

// WithMaxStreams bounds the requests served at once; more are answered
// with a 503 service_unavailable_error (code provider_busy).
func WithMaxStreams(n int) ServerOption { return func(c *serverConfig) { c.maxStreams = n } }

// WithServerLogger sets the logger.
func WithServerLogger(l *slog.Logger) ServerOption { return func(c *serverConfig) { c.log = l } }

// WithServiceName sets the resource manager service name of the streams.
func WithServiceName(name string) ServerOption { return func(c *serverConfig) { c.serviceName = name } }

// Server serves the inference protocol on a host.
type Server struct {
	h       host.Host
	proto   protocol.ID
	backend runtime.Backend
	cfg     serverConfig
	slots   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewServer registers the protocol handler for protoID on h. Close removes
// it and cancels the requests in flight.
func NewServer(h host.Host, protoID protocol.ID, backend runtime.Backend, opts ...ServerOption) *Server {
	cfg := serverConfig{
		streamLimits: defaultLimits(),
		maxStreams:   DefaultMaxStreams,
		serviceName:  ServiceName,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.fill()
	if cfg.maxStreams <= 0 {
		cfg.maxStreams = DefaultMaxStreams
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h: h, proto: protoID, backend: backend, cfg: cfg,
		slots: make(chan struct{}, cfg.maxStreams),
		ctx:   ctx, cancel: cancel,
	}
	h.SetStreamHandler(protoID, s.handle)
	return s
}

// Close unregisters the handler, cancels the requests in flight and waits
// for their handlers to return. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(s.proto)
	s.cancel()
	s.wg.Wait()
	return nil
}

// InFlight returns the number of requests being served.
func (s *Server) InFlight() int { return len(s.slots) }

func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *Server) handle(st network.Stream) {
	if !s.track() {
		_ = st.Reset()
		return
	}
	defer s.wg.Done()
	// gone is set when the client reset the stream, broke the protocol or
	// stopped reading, or the server is closing: no Final can reach it.
	var gone atomic.Bool
	stop := context.AfterFunc(s.ctx, func() {
		gone.Store(true)
		_ = st.Reset()
	})
	defer stop()
	remote := st.Conn().RemotePeer()
	log := s.cfg.log.With("peer_id", remote)
	if err := st.Scope().SetService(s.cfg.serviceName); err != nil {
		log.Debug("attaching stream to service scope failed", "err", err)
		_ = st.Reset()
		return
	}
	deadline := time.Now().Add(s.cfg.timeout)
	_ = st.SetReadDeadline(earliest(time.Now().Add(s.cfg.idle), deadline))
	fr := NewFrameReader(st, s.cfg.maxFrame)
	fw := NewFrameWriter(st, s.cfg.maxFrame)

	f, err := fr.ReadFrame()
	if err != nil {
		log.Debug("reading request failed; resetting stream", "err", err)
		_ = st.Reset()
		return
	}
	preq := f.GetRequest()
	if preq == nil {
		log.Debug("first frame is not a request; resetting stream")
		_ = st.Reset()
		return
	}
	req, pay, rerr := s.parse(preq)
	if rerr != nil {
		s.sendFinal(st, fw, &pb.Final{Error: errorToPB(rerr), Finish: string(runtime.FinishError)})
		return
	}
	log = log.With("model", req.Model)

	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		busy := runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"provider %s is serving its maximum of %d requests", s.h.ID(), s.cfg.maxStreams).WithCode("provider_busy")
		s.sendFinal(st, fw, &pb.Final{Error: errorToPB(busy), Finish: string(runtime.FinishError)})
		return
	}

	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()

	// The watcher reads past the request: EOF (the client's half-close) is
	// expected; a reset or any further frame cancels the request.
	var watcher sync.WaitGroup
	done := make(chan struct{})
	_ = st.SetReadDeadline(deadline)
	watcher.Go(func() {
		_, err := fr.ReadFrame()
		select {
		case <-done:
			return
		default:
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err == nil {
			log.Debug("client sent a frame after its request; resetting stream")
			_ = st.Reset()
		}
		if !isTimeout(err) {
			gone.Store(true)
		}
		cancel()
	})
	defer func() {
		close(done)
		watcher.Wait()
	}()

	rs, err := s.backend.Do(ctx, req)
	if err != nil {
		switch {
		case gone.Load():
			_ = st.Reset()
		case ctx.Err() != nil:
			s.sendFinal(st, fw, &pb.Final{Error: errorToPB(s.timeoutError()), Finish: string(runtime.FinishError)})
		default:
			s.sendFinal(st, fw, &pb.Final{Error: errorToPB(runtime.AsError(err)), Finish: string(runtime.FinishError)})
		}
		return
	}
	var runErr error
	for {
		ev, err := rs.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				runErr = err
			}
			break
		}
		if ctx.Err() != nil {
			break
		}
		_ = st.SetWriteDeadline(earliest(time.Now().Add(s.cfg.idle), deadline))
		if err := fw.WriteFrame(chunkFrame(ev.Data)); err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				runErr = runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "",
					"the response has an event of %d bytes, more than the protocol's frame limit of %d", len(ev.Data), s.cfg.maxFrame)
				break
			}
			log.Debug("writing chunk failed", "err", err)
			gone.Store(true)
			cancel()
			break
		}
	}
	_ = rs.Close()
	usage, finish := rs.Usage(), rs.Finish()

	if gone.Load() {
		// The client went away: nobody reads a Final. The backend's
		// metering keeps the receipt of what was delivered.
		_ = st.Reset()
		return
	}
	final := &pb.Final{Usage: usageToPB(usage)}
	switch {
	case ctx.Err() != nil:
		final.Error = errorToPB(s.timeoutError())
		finish = runtime.FinishError
	case runErr != nil:
		final.Error = errorToPB(runtime.AsError(runErr))
		finish = runtime.FinishError
	case finish == "":
		finish = runtime.FinishStop
	}
	final.Finish = string(finish)
	final.Receipt = pay.signed()
	s.sendFinal(st, fw, final)
}

func (s *Server) timeoutError() *runtime.Error {
	return runtime.Errorf(http.StatusGatewayTimeout, runtime.ErrTypeTimeout, "",
		"the request ran past the provider's stream deadline of %s", s.cfg.timeout)
}

// sendFinal writes the Final and closes the stream; it resets the stream if
// the write fails.
func (s *Server) sendFinal(st network.Stream, fw *FrameWriter, f *pb.Final) {
	_ = st.SetWriteDeadline(time.Now().Add(s.cfg.idle))
	if err := fw.WriteFrame(finalFrame(f)); err != nil {
		s.cfg.log.Debug("writing final failed", "peer_id", st.Conn().RemotePeer(), "err", err)
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// parse checks a received request and returns it with its payment (nil
// when it carries no authorization).
func (s *Server) parse(r *pb.InferRequest) (*runtime.Request, *received, *runtime.Error) {
	api, ok := apiFromPB(r.GetApi())
	if !ok {
		return nil, nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "",
			"unsupported API %d", int32(r.GetApi()))
	}
	req, rerr := ParseRequest(api, r.GetBody(), s.cfg.maxBody)
	if rerr != nil {
		return nil, nil, rerr
	}
	var pay *received
	if auth := r.GetAuthorization(); len(auth) > 0 {
		pay = &received{auth: auth}
		req.Payment = pay
	}
	return req, pay, nil
}

// ParseRequest checks an OpenAI request body the way the HTTP API does (a
// JSON object with a model, at most maxBody bytes; embeddings not streamed)
// and returns the runtime request for it.
func ParseRequest(api runtime.API, body []byte, maxBody int) (*runtime.Request, *runtime.Error) {
	if maxBody > 0 && len(body) > maxBody {
		return nil, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
			"request body of %d bytes is larger than the provider's limit of %d bytes", len(body), maxBody).WithCode("request_too_large")
	}
	return runtime.ParseRequest(api, body)
}

// isTimeout reports whether err is a deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
