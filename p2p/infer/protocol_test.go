package infer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/p2p/infer/pb"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/network"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		chunks int
		stream bool
		api    runtime.API
	}{
		{"streamed chat", 25, true, runtime.APIChat},
		{"single event", 1, false, runtime.APICompletion},
		{"no events", 0, true, runtime.APIChat},
		{"embedding", 1, false, runtime.APIEmbedding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{chunks: tt.chunks}
			client, provider, _ := pair(t, b)
			req := chatRequest("m1", tt.stream)
			req.API = tt.api
			s, err := Dial(context.Background(), client, provider.ID(), testProto, req, []byte("auth"), "entry-1")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			data, err := drain(s)
			if err != nil {
				t.Fatalf("stream failed: %v", err)
			}
			if len(data) != tt.chunks {
				t.Fatalf("got %d chunks, want %d", len(data), tt.chunks)
			}
			for i, d := range data {
				if !bytes.Equal(d, eventData(i+1)) {
					t.Fatalf("chunk %d = %s, want %s", i, d, eventData(i+1))
				}
			}
			want := runtime.Usage{PromptTokens: 7, CompletionTokens: int64(tt.chunks)}
			if s.Usage() != want || s.Finish() != runtime.FinishStop {
				t.Fatalf("usage %+v finish %q, want %+v stop", s.Usage(), s.Finish(), want)
			}
			if string(s.Receipt()) != "receipt:m1:auth" {
				t.Fatalf("receipt %q", s.Receipt())
			}
			if s.ServedBy() != provider.ID().String() {
				t.Fatalf("served by %s", s.ServedBy())
			}
			if _, err := s.Recv(); err != io.EOF {
				t.Fatalf("Recv after the end = %v, want io.EOF", err)
			}
			got := b.requests()
			if len(got) != 1 || got[0].Payment == nil || got[0].API != tt.api || got[0].Stream != tt.stream ||
				!bytes.Equal(got[0].Body, req.Body) {
				t.Fatalf("backend saw %+v", got)
			}
			if auth, err := got[0].Payment.For(""); err != nil || string(auth) != "auth" {
				t.Fatalf("backend's authorization %q, %v", auth, err)
			}
		})
	}
}

func TestProviderErrors(t *testing.T) {
	rateLimited := runtime.Errorf(http.StatusTooManyRequests, runtime.ErrTypeRateLimit, "model", "slow down").WithCode("rate_limited")
	tests := []struct {
		name       string
		backend    *fakeBackend
		opts       []ServerOption
		body       string
		api        runtime.API
		wantStatus int
		wantType   string
		wantMsg    string
		wantChunks int
	}{
		{name: "runtime error before first chunk", backend: &fakeBackend{doErr: rateLimited},
			wantStatus: 429, wantType: runtime.ErrTypeRateLimit, wantMsg: "slow down"},
		{name: "plain error becomes 500", backend: &fakeBackend{doErr: errors.New("boom")},
			wantStatus: 500, wantType: runtime.ErrTypeAPI, wantMsg: "boom"},
		{name: "error mid-stream", backend: &fakeBackend{chunks: 5, failAt: 3, failErr: runtime.Errorf(502, runtime.ErrTypeAPI, "", "upstream died")},
			wantStatus: 502, wantType: runtime.ErrTypeAPI, wantMsg: "upstream died", wantChunks: 2},
		{name: "body not an object", backend: &fakeBackend{chunks: 1}, body: `[1,2]`,
			wantStatus: 400, wantType: runtime.ErrTypeInvalidRequest, wantMsg: "JSON object"},
		{name: "body without model", backend: &fakeBackend{chunks: 1}, body: `{"messages":[]}`,
			wantStatus: 400, wantType: runtime.ErrTypeInvalidRequest, wantMsg: "model parameter"},
		{name: "body over the server's limit", backend: &fakeBackend{chunks: 1}, opts: []ServerOption{WithMaxBodySize(64)},
			body: `{"model":"m1","pad":"` + strings.Repeat("x", 100) + `"}`, wantStatus: 413, wantType: runtime.ErrTypeInvalidRequest, wantMsg: "larger than"},
		{name: "streamed embedding", backend: &fakeBackend{chunks: 1}, api: runtime.APIEmbedding, body: `{"model":"m1","stream":true}`,
			wantStatus: 400, wantType: runtime.ErrTypeInvalidRequest, wantMsg: "cannot be streamed"},
		{name: "event over the frame limit", backend: &fakeBackend{chunks: 1, data: bytes.Repeat([]byte("y"), 2048)},
			opts: []ServerOption{WithServerMaxFrameSize(1024)}, wantStatus: 502, wantType: runtime.ErrTypeAPI, wantMsg: "frame limit"},
		{name: "payment refused", backend: &fakeBackend{doErr: runtime.Errorf(402, runtime.ErrTypeInsufficientQuota, "", "no funds")},
			wantStatus: 402, wantType: runtime.ErrTypeInsufficientQuota, wantMsg: "no funds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, provider, _ := pair(t, tt.backend, tt.opts...)
			req := chatRequest("m1", true)
			if tt.body != "" {
				req.Body = []byte(tt.body)
			}
			if tt.api != "" {
				req.API = tt.api
			}
			s, err := Dial(context.Background(), client, provider.ID(), testProto, req, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			data, err := drain(s)
			if len(data) != tt.wantChunks {
				t.Fatalf("got %d chunks before the error, want %d", len(data), tt.wantChunks)
			}
			var re *runtime.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *runtime.Error", err, err)
			}
			if re.Status != tt.wantStatus || re.Type != tt.wantType || !strings.Contains(re.Message, tt.wantMsg) {
				t.Fatalf("got %v, want %d %s %q", re, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if tt.backend.doErr == rateLimited && (re.Param == nil || *re.Param != "model" || re.Code == nil || *re.Code != "rate_limited") {
				t.Fatalf("param/code lost: %+v", re)
			}
			if !s.FromProvider() || s.Finish() != runtime.FinishError {
				t.Fatalf("FromProvider %v finish %q", s.FromProvider(), s.Finish())
			}
		})
	}
}

func TestDialRejectsOversizedRequest(t *testing.T) {
	client, provider, _ := pair(t, &fakeBackend{chunks: 1})
	big := &runtime.Request{API: runtime.APIChat, Model: "m1",
		Body: []byte(`{"model":"m1","pad":"` + strings.Repeat("x", 4096) + `"}`)}
	tests := []struct {
		name string
		opts []DialOption
		want string
	}{
		{"body limit", []DialOption{WithRequestBodyLimit(1024)}, "request body of"},
		{"frame limit", []DialOption{WithMaxFrameSize(1024)}, "frame limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(context.Background(), client, provider.ID(), testProto, big, nil, "", tt.opts...)
			var re *runtime.Error
			if !errors.As(err, &re) || re.Status != http.StatusRequestEntityTooLarge || !strings.Contains(re.Message, tt.want) {
				t.Fatalf("got %v, want a 413 mentioning %q", err, tt.want)
			}
		})
	}
}

func TestServerResetsOnProtocolErrors(t *testing.T) {
	chunkFirst, _ := marshalOpts.Marshal(chunkFrame([]byte("x")))
	finalFirst, _ := marshalOpts.Marshal(finalFrame(&pb.Final{}))
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"garbage protobuf", append(binary.AppendUvarint(nil, 4), 0xff, 0xff, 0xff, 0xff)},
		{"empty frame", []byte{0}},
		{"chunk instead of request", append(binary.AppendUvarint(nil, uint64(len(chunkFirst))), chunkFirst...)},
		{"final instead of request", append(binary.AppendUvarint(nil, uint64(len(finalFirst))), finalFirst...)},
		{"oversized frame", append(binary.AppendUvarint(nil, 2048), bytes.Repeat([]byte{1}, 64)...)},
		{"overlong varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"truncated frame", append(binary.AppendUvarint(nil, 100), 1, 2, 3)},
	}
	b := &fakeBackend{chunks: 1}
	client, provider, _ := pair(t, b, WithServerMaxFrameSize(1024))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := client.NewStream(context.Background(), provider.ID(), testProto)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Reset()
			if _, err := st.Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			_ = st.CloseWrite()
			_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(st)
			if !errors.Is(err, network.ErrReset) {
				t.Fatalf("stream ended with %v after %d bytes, want a reset", err, len(rest))
			}
		})
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("backend ran %d requests from malformed streams", n)
	}
}

func TestServerResetsSecondFrame(t *testing.T) {
	b := gated(1000)
	client, provider, _ := pair(t, b)
	st, err := client.NewStream(context.Background(), provider.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	w := NewFrameWriter(st, 0)
	req := chatRequest("m1", true)
	if err := w.WriteFrame(requestFrame(&pb.InferRequest{Api: pb.API_API_CHAT, Body: req.Body})); err != nil {
		t.Fatal(err)
	}
	fs := <-b.started
	if err := w.WriteFrame(chunkFrame([]byte("unexpected"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fs.done:
	case <-time.After(10 * time.Second):
		t.Fatal("runtime was not cancelled after a protocol error")
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(st); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stream ended with %v, want a reset", err)
	}
}

func TestServerIdleDeadline(t *testing.T) {
	client, provider, _ := pair(t, &fakeBackend{chunks: 1}, WithServerTimeouts(0, 150*time.Millisecond))
	st, err := client.NewStream(context.Background(), provider.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	// Write only the length prefix: the server waits for the rest.
	if _, err := st.Write([]byte{10}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(st); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stream ended with %v, want a reset", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("idle stream reset after %s", el)
	}
}

func TestClientIdleDeadline(t *testing.T) {
	b := gated(10)
	client, provider, _ := pair(t, b)
	s := dialChat(t, client, provider, WithTimeouts(0, 150*time.Millisecond))
	fs := <-b.started
	_, err := s.Recv()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusGatewayTimeout || !strings.Contains(re.Message, "sent nothing") {
		t.Fatalf("got %v, want a 504 idle timeout", err)
	}
	if s.FromProvider() {
		t.Fatal("a timeout is reported as the provider's error")
	}
	select {
	case <-fs.done: // the reset reached the provider and cancelled the runtime
	case <-time.After(10 * time.Second):
		t.Fatal("provider kept running after the client timed out")
	}
}

func TestServerStreamDeadline(t *testing.T) {
	b := &fakeBackend{chunks: 10, gate: make(chan struct{})}
	client, provider, _ := pair(t, b, WithServerTimeouts(200*time.Millisecond, 0))
	s := dialChat(t, client, provider)
	_, err := s.Recv()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusGatewayTimeout || !s.FromProvider() {
		t.Fatalf("got %v (from provider %v), want the provider's 504", err, s.FromProvider())
	}
}

func TestClientCancelStopsProvider(t *testing.T) {
	tests := []struct {
		name   string
		cancel func(s *Stream, cancelCtx context.CancelFunc)
	}{
		{"close", func(s *Stream, _ context.CancelFunc) { _ = s.Close() }},
		{"context", func(_ *Stream, c context.CancelFunc) { c() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gated(1000)
			client, provider, srv := pair(t, b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := Dial(ctx, client, provider.ID(), testProto, chatRequest("m1", true), nil, "")
			if err != nil {
				t.Fatal(err)
			}
			fs := <-b.started
			for i := range 3 {
				b.gate <- struct{}{}
				if _, err := s.Recv(); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			tt.cancel(s, cancel)
			select {
			case <-fs.done:
			case <-time.After(10 * time.Second):
				t.Fatal("provider runtime not cancelled")
			}
			if got := fs.produced.Load(); got > 4 {
				t.Fatalf("provider produced %d events after the client stopped at 3", got)
			}
			if !fs.closed.Load() {
				testwait.For(t, "runtime stream closed", 5*time.Second, fs.closed.Load)
			}
			if f := fs.Finish(); f != runtime.FinishCancelled {
				t.Errorf("provider's runtime finished %q, want cancelled", f)
			}
			testwait.For(t, "server slot released", 5*time.Second, func() bool { return srv.InFlight() == 0 })
			if _, err := s.Recv(); err == nil {
				t.Fatal("Recv after cancel returned no error")
			}
			if s.Finish() != runtime.FinishCancelled {
				t.Fatalf("finish %q", s.Finish())
			}
		})
	}
}

func TestProviderKilledMidStream(t *testing.T) {
	b := gated(1000)
	client, provider, _ := pair(t, b)
	s := dialChat(t, client, provider)
	<-b.started
	for range 2 {
		b.gate <- struct{}{}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _ = provider.Close() }()
	_, err := s.Recv()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusBadGateway || !strings.Contains(re.Message, "closed the stream before it finished") {
		t.Fatalf("got %v, want a 502 naming the broken stream", err)
	}
	if !strings.Contains(re.Message, provider.ID().String()) || s.FromProvider() || s.Finish() != runtime.FinishError {
		t.Fatalf("error %q from provider %v finish %q", re.Message, s.FromProvider(), s.Finish())
	}
}

func TestServerBusy(t *testing.T) {
	b := gated(10)
	client, provider, _ := pair(t, b, WithMaxStreams(1))
	dialChat(t, client, provider) // holds the only stream
	<-b.started
	second := dialChat(t, client, provider)
	_, err := second.Recv()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Code == nil || *re.Code != "provider_busy" {
		t.Fatalf("got %v, want 503 provider_busy", err)
	}
}

func TestServerCloseCancelsStreams(t *testing.T) {
	b := gated(10)
	client, provider, srv := pair(t, b)
	s := dialChat(t, client, provider)
	fs := <-b.started
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-fs.done
	if _, err := s.Recv(); err == nil {
		t.Fatal("stream survived the server's Close")
	}
	// The protocol is negotiated lazily: the failure shows at Dial or at
	// the first Recv.
	if s2, err := Dial(context.Background(), client, provider.ID(), testProto, chatRequest("m1", true), nil, ""); err == nil {
		defer s2.Close()
		if _, err := s2.Recv(); err == nil {
			t.Fatal("a stream was served after the server closed")
		}
	}
}

func TestServerRejectsUnknownAPI(t *testing.T) {
	b := &fakeBackend{chunks: 1}
	client, provider, _ := pair(t, b)
	st, err := client.NewStream(context.Background(), provider.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	if err := NewFrameWriter(st, 0).WriteFrame(requestFrame(&pb.InferRequest{Api: pb.API(42), Body: []byte(`{"model":"m"}`)})); err != nil {
		t.Fatal(err)
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := NewFrameReader(st, 0).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	fin := f.GetFinal()
	if fin == nil || fin.GetError().GetStatus() != 400 || !strings.Contains(fin.GetError().GetMessage(), "unsupported API 42") {
		t.Fatalf("got %v, want a Final with a 400", f)
	}
	if len(b.requests()) != 0 {
		t.Fatal("backend ran a request for an unknown API")
	}
}

func TestServerCloseDoesNotWaitForIdleStreams(t *testing.T) {
	client, provider, srv := pair(t, &fakeBackend{chunks: 1})
	st, err := client.NewStream(context.Background(), provider.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	if _, err := st.Write([]byte{10}); err != nil { // a length prefix, then nothing
		t.Fatal(err)
	}
	testwait.For(t, "the handler to start", 5*time.Second, func() bool {
		return len(provider.Network().ConnsToPeer(client.ID())) > 0 && len(provider.Network().ConnsToPeer(client.ID())[0].GetStreams()) > 0
	})
	done := make(chan struct{})
	go func() {
		_ = srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a stream that never sent its request")
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(st); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stream ended with %v, want a reset", err)
	}
}
