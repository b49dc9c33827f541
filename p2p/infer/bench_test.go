package infer

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// BenchmarkStreamOverLibp2p measures streamed responses of SSE-sized
// chunks from the runtime directly ("direct"), through the protocol over
// loopback TCP ("libp2p"), and through a Router ("router": provider
// selection, then the protocol). "256-chunks" responses give the chunk
// rate (chunks/s); "1-chunk" responses give the time to the first chunk
// (ttfc_us) without later chunks queued behind it. "bare-stream-rtt" is the
// floor: opening a libp2p stream and one round trip of one byte.
func BenchmarkStreamOverLibp2p(b *testing.B) {
	payload := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1790000000,"model":"m",` +
		`"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}`)
	req := chatRequest("m", true)

	run := func(b *testing.B, chunks int, open func(ctx context.Context) (runtime.Stream, error)) {
		b.Helper()
		ctx := context.Background()
		var ttfc time.Duration
		var total int
		start := time.Now()
		for b.Loop() {
			t0 := time.Now()
			s, err := open(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				ev, err := s.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					ttfc += time.Since(t0)
				}
				if !bytes.Equal(ev.Data, payload) {
					b.Fatal("payload changed in transit")
				}
				n++
			}
			_ = s.Close()
			if n != chunks {
				b.Fatalf("got %d chunks", n)
			}
			total += n
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(total)/elapsed.Seconds(), "chunks/s")
		b.ReportMetric(float64(ttfc.Microseconds())/float64(b.N), "ttfc_us")
	}

	client, provider := newHost(b), newHost(b)
	connect(b, client, provider)
	backends := map[int]*benchBackend{1: {chunks: 1, data: payload}, 256: {chunks: 256, data: payload}}
	protos := map[int]protocol.ID{1: testProto + "/1", 256: testProto + "/256"}
	for n, be := range backends {
		srv := NewServer(provider, protos[n], be)
		b.Cleanup(func() { _ = srv.Close() })
	}
	dht := &staticProviders{peers: map[string][]peer.ID{"m": {provider.ID()}}}
	ads := &staticAdverts{}
	ads.set("m", advert(provider.ID(), "m", 0, 50_000, 1))
	routers := map[int]*Router{}
	for n, p := range protos {
		routers[n] = NewRouter(client, p, dht, ads)
	}
	for _, n := range []int{256, 1} {
		name := "256-chunks"
		if n == 1 {
			name = "1-chunk"
		}
		b.Run("direct/"+name, func(b *testing.B) {
			run(b, n, func(ctx context.Context) (runtime.Stream, error) { return backends[n].Do(ctx, req) })
		})
		b.Run("libp2p/"+name, func(b *testing.B) {
			run(b, n, func(ctx context.Context) (runtime.Stream, error) {
				return Dial(ctx, client, provider.ID(), protos[n], req, nil, "")
			})
		})
		b.Run("router/"+name, func(b *testing.B) {
			run(b, n, func(ctx context.Context) (runtime.Stream, error) { return routers[n].Do(ctx, req) })
		})
	}

	const echo = "/fomo/test/echo/1.0.0"
	provider.SetStreamHandler(echo, func(s network.Stream) {
		var one [1]byte
		if _, err := io.ReadFull(s, one[:]); err == nil {
			_, _ = s.Write(one[:])
		}
		_ = s.Close()
	})
	b.Run("bare-stream-rtt", func(b *testing.B) {
		var one [1]byte
		for b.Loop() {
			s, err := client.NewStream(context.Background(), provider.ID(), echo)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Write(one[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(s, one[:]); err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
	})
}

// benchBackend yields chunks copies of data per request and keeps no
// record of them.
type benchBackend struct {
	chunks int
	data   []byte
}

func (b *benchBackend) Do(context.Context, *runtime.Request) (runtime.Stream, error) {
	return &benchStream{b: b}, nil
}

type benchStream struct {
	b *benchBackend
	n int
}

func (s *benchStream) Recv() (runtime.Event, error) {
	if s.n == s.b.chunks {
		return runtime.Event{}, io.EOF
	}
	s.n++
	return runtime.Event{Data: s.b.data}, nil
}
func (s *benchStream) Usage() runtime.Usage {
	return runtime.Usage{PromptTokens: 10, CompletionTokens: int64(s.n)}
}
func (s *benchStream) Finish() runtime.FinishReason { return runtime.FinishStop }
func (s *benchStream) Close() error                 { return nil }
