package openai

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// BenchmarkStream measures streamed events per second through the runtime
// against reading the same upstream directly with a plain SSE line loop.
func BenchmarkStream(b *testing.B) {
	const tokens = 1000
	up := runtimetest.NewUpstream(runtimetest.WithTokens(tokens))
	srv := httptest.NewServer(up)
	defer srv.Close()
	defer up.Close()
	reqBody := []byte(`{"model":"test-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"benchmark prompt"}]}`)

	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
		events := 0
		for b.Loop() {
			resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(reqBody))
			if err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadSlice('\n')
				if bytes.HasPrefix(line, []byte("data: ")) {
					if bytes.HasPrefix(line, []byte("data: [DONE]")) {
						break
					}
					events++
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	})

	b.Run("runtime", func(b *testing.B) {
		rt, err := New(Config{Name: "bench", URL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close()
		benchChat(b, rt, reqBody, tokens)
	})

	// The runtime's own cost per event: the same stream, recorded once, is
	// served from memory by the transport.
	b.Run("runtime-in-memory", func(b *testing.B) {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(reqBody))
		if err != nil {
			b.Fatal(err)
		}
		recorded, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rt, err := New(Config{Name: "bench", URL: "http://upstream.invalid"}, WithTransport(memTransport(recorded)))
		if err != nil {
			b.Fatal(err)
		}
		benchChat(b, rt, reqBody, 0)
	})
}

// benchChat streams body through rt once per op, checks the usage's
// completion tokens when tokens is not 0, and reports events/s.
func benchChat(b *testing.B, rt *Runtime, body []byte, tokens int64) {
	b.Helper()
	events := 0
	for b.Loop() {
		s, err := rt.Chat(context.Background(), &runtime.Request{API: runtime.APIChat, Stream: true, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
		if u := s.Usage(); tokens != 0 && u.CompletionTokens != tokens {
			b.Fatalf("usage %+v", u)
		}
		s.Close()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// memTransport answers every request with the same event stream.
type memTransport []byte

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(m)), Request: r}, nil
}
