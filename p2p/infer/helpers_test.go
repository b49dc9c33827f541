package infer

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

const testProto = protocol.ID("/fomo/test/infer/1.0.0")

// newHost starts a real libp2p host listening on loopback TCP.
func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// pair returns a client and a provider host, connected, with a Server on
// the provider serving backend.
func pair(t testing.TB, backend runtime.Backend, opts ...ServerOption) (client, provider host.Host, srv *Server) {
	t.Helper()
	client, provider = newHost(t), newHost(t)
	connect(t, client, provider)
	srv = NewServer(provider, testProto, backend, opts...)
	t.Cleanup(func() { _ = srv.Close() })
	return client, provider, srv
}

func chatRequest(model string, stream bool) *runtime.Request {
	return &runtime.Request{API: runtime.APIChat, Model: model, Stream: stream,
		Body: fmt.Appendf(nil, `{"model":%q,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`, model, stream)}
}

// fakeBackend is a runtime stand-in: each request yields chunks events,
// optionally waiting on gate before each one.
type fakeBackend struct {
	chunks int
	gate   chan struct{}
	// doErr is returned by Do instead of a stream.
	doErr error
	// failAt, when > 0, makes Recv fail with failErr instead of producing
	// event number failAt.
	failAt  int
	failErr error
	// data overrides the payload of every event.
	data []byte

	mu      sync.Mutex
	streams []*fakeStream
	reqs    []*runtime.Request
	started chan *fakeStream
}

func (b *fakeBackend) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	if b.doErr != nil {
		return nil, b.doErr
	}
	s := &fakeStream{b: b, ctx: ctx, req: req, done: make(chan struct{})}
	b.mu.Lock()
	b.streams = append(b.streams, s)
	b.mu.Unlock()
	if b.started != nil {
		b.started <- s
	}
	return s, nil
}

func (b *fakeBackend) requests() []*runtime.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*runtime.Request(nil), b.reqs...)
}

func eventData(i int) []byte { return fmt.Appendf(nil, `{"choices":[{"delta":{"content":"t%d"}}]}`, i) }

type fakeStream struct {
	b        *fakeBackend
	ctx      context.Context
	req      *runtime.Request
	produced atomic.Int64
	closed   atomic.Bool
	// done is closed when the stream ends: its last event was taken, it
	// saw its context cancelled, or it failed.
	done     chan struct{}
	doneOnce sync.Once
	finish   runtime.FinishReason
	mu       sync.Mutex
}

// end records how the stream ended; one that ran to its end pays with a
// receipt naming the model and the authorization it was given, as a
// serving node's metering would.
func (s *fakeStream) end(f runtime.FinishReason) {
	s.doneOnce.Do(func() {
		s.mu.Lock()
		s.finish = f
		s.mu.Unlock()
		if pay := s.req.Payment; pay != nil && f == runtime.FinishStop {
			auth, _ := pay.For("")
			pay.Paid([]byte("receipt:" + s.req.Model + ":" + string(auth)))
		}
		close(s.done)
	})
}

// testPayment is a request's payment as an entry node's metering makes it:
// an authorization per payee, and the receipt it is paid with.
type testPayment struct {
	err error // returned by For

	mu      sync.Mutex
	payees  []string
	receipt []byte
}

func (p *testPayment) For(node string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.payees = append(p.payees, node)
	return []byte("auth:" + node), p.err
}

func (p *testPayment) Paid(receipt []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.receipt = receipt
}

func (p *testPayment) paidWith() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.receipt
}

func (s *fakeStream) Recv() (runtime.Event, error) {
	n := int(s.produced.Load())
	if n >= s.b.chunks {
		s.end(runtime.FinishStop)
		return runtime.Event{}, io.EOF
	}
	if s.b.gate != nil {
		select {
		case <-s.b.gate:
		case <-s.ctx.Done():
			s.end(runtime.FinishCancelled)
			return runtime.Event{}, s.ctx.Err()
		}
	}
	if s.ctx.Err() != nil {
		s.end(runtime.FinishCancelled)
		return runtime.Event{}, s.ctx.Err()
	}
	if s.b.failAt > 0 && n+1 == s.b.failAt {
		s.end(runtime.FinishError)
		return runtime.Event{}, s.b.failErr
	}
	s.produced.Add(1)
	if s.b.data != nil {
		return runtime.Event{Data: s.b.data}, nil
	}
	return runtime.Event{Data: eventData(n + 1)}, nil
}

func (s *fakeStream) Usage() runtime.Usage {
	return runtime.Usage{PromptTokens: 7, CompletionTokens: s.produced.Load()}
}

func (s *fakeStream) Finish() runtime.FinishReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finish == "" {
		return runtime.FinishCancelled
	}
	return s.finish
}

func (s *fakeStream) Close() error {
	s.closed.Store(true)
	s.end(runtime.FinishCancelled)
	return nil
}

// gated is a backend of chunks events per stream that waits for the test
// (gate) and announces each stream it starts (started).
func gated(chunks int) *fakeBackend {
	return &fakeBackend{chunks: chunks, gate: make(chan struct{}), started: make(chan *fakeStream, 1)}
}

// dialChat opens a streamed chat request for m1 from client to provider,
// closed when t ends if not before.
func dialChat(t testing.TB, client, provider host.Host, opts ...DialOption) *Stream {
	t.Helper()
	s, err := Dial(context.Background(), client, provider.ID(), testProto, chatRequest("m1", true), nil, "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// drain reads a stream to its end.
func drain(s runtime.Stream) ([][]byte, error) {
	var out [][]byte
	for {
		ev, err := s.Recv()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, ev.Data)
	}
}
