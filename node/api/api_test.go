package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

// scripted is a Backend whose streams replay a script; the HTTP layer is
// what is under test here (the node tests run real runtimes).
type scripted struct {
	events  []string
	failAt  int // index at which Recv fails; -1 never
	doErr   error
	gate    chan struct{} // if set, Recv of event 1 waits for it
	mu      sync.Mutex
	closed  int
	lastReq *runtime.Request
	ctxDone chan struct{}
}

func (b *scripted) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	b.mu.Lock()
	b.lastReq = req
	b.mu.Unlock()
	if b.doErr != nil {
		return nil, b.doErr
	}
	if req.Model != "m" {
		return nil, runtime.Errorf(404, runtime.ErrTypeNotFound, "model", "no model %q", req.Model)
	}
	if !req.Stream {
		return runtime.SingleEvent([]byte(`{"object":"chat.completion"}`), runtime.Usage{PromptTokens: 3, CompletionTokens: 2}, runtime.FinishStop), nil
	}
	return &scriptStream{b: b, ctx: ctx}, nil
}

func (b *scripted) Models() []runtime.Model { return []runtime.Model{{ID: "m", OwnedBy: "test"}} }
func (b *scripted) Model(id string) (runtime.Model, bool) {
	if id == "m" {
		return b.Models()[0], true
	}
	return runtime.Model{}, false
}

type scriptStream struct {
	b   *scripted
	ctx context.Context
	i   int
}

func (s *scriptStream) Recv() (runtime.Event, error) {
	if s.i == 1 && s.b.gate != nil {
		select {
		case <-s.b.gate:
		case <-s.ctx.Done():
			if s.b.ctxDone != nil {
				close(s.b.ctxDone)
			}
			return runtime.Event{}, s.ctx.Err()
		}
	}
	if s.i == s.b.failAt {
		return runtime.Event{}, runtime.Errorf(502, runtime.ErrTypeAPI, "", "upstream closed the stream before it finished")
	}
	if s.i >= len(s.b.events) {
		return runtime.Event{}, io.EOF
	}
	s.i++
	return runtime.Event{Data: []byte(s.b.events[s.i-1])}, nil
}
func (s *scriptStream) Usage() runtime.Usage { return runtime.Usage{CompletionTokens: int64(s.i)} }
func (s *scriptStream) Finish() runtime.FinishReason {
	return runtime.FinishStop
}
func (s *scriptStream) Close() error {
	s.b.mu.Lock()
	s.b.closed++
	s.b.mu.Unlock()
	return nil
}

type gpus []gpu.Status

func (g gpus) Latest() []gpu.Status { return g }

func newServer(t *testing.T, b Backend) (*httptest.Server, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	s := New(b, WithNodeID("12D3KooWtest"), WithMaxBodyBytes(2048), WithRegistry(reg),
		WithGPUs(gpus{{Device: gpu.Device{Index: 0, UUID: "GPU-1", Name: "H100"}}}))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, reg
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, b := testhttp.Post(t, url, body)
	return resp, string(b)
}

func TestRequestErrors(t *testing.T) {
	srv, _ := newServer(t, &scripted{failAt: -1})
	tests := map[string]struct {
		path, body string
		status     int
		want       string
	}{
		"bad json":       {"/v1/chat/completions", "{\n\"model\": \"m\",,}", 400, "line 2, column"},
		"truncated json": {"/v1/chat/completions", `{"model": "m"`, 400, "unexpected end of input"},
		"not an object":  {"/v1/chat/completions", `["m"]`, 400, "must be a JSON object"},
		"trailing data":  {"/v1/chat/completions", `{"model":"m"} {}`, 400, "data after the top-level object"},
		"wrong type":     {"/v1/chat/completions", `{"model": 7}`, 400, `field "model" must be a`},
		"no model":       {"/v1/chat/completions", `{"messages": []}`, 400, "you must provide a model parameter"},
		"empty body":     {"/v1/completions", ``, 400, "empty body"},
		"unknown model":  {"/v1/chat/completions", `{"model": "nope"}`, 404, `no model "nope"`},
		"too large":      {"/v1/chat/completions", `{"model":"m","x":"` + strings.Repeat("a", 4096) + `"}`, 413, "larger than 2048 bytes"},
		"stream embed":   {"/v1/embeddings", `{"model":"m","stream":true}`, 400, "embeddings cannot be streamed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := post(t, srv.URL+tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			var eb struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Type == "" {
				t.Fatalf("not an OpenAI error object: %s", body)
			}
			if !strings.Contains(eb.Error.Message, tc.want) {
				t.Fatalf("message %q does not contain %q", eb.Error.Message, tc.want)
			}
		})
	}
}

func TestMethodAndPathErrors(t *testing.T) {
	srv, _ := newServer(t, &scripted{failAt: -1})
	resp, err := http.Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.Contains(string(b), "invalid_request_error") {
		t.Fatalf("GET on a POST endpoint: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(srv.URL + "/v2/everything")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "not_found_error") {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("X-Fomo-Node") != "12D3KooWtest" {
		t.Fatalf("X-Fomo-Node = %q", resp.Header.Get("X-Fomo-Node"))
	}
}

func TestNonStreaming(t *testing.T) {
	srv, reg := newServer(t, &scripted{failAt: -1})
	resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","messages":[]}`)
	if resp.StatusCode != 200 || body != `{"object":"chat.completion"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "fomo_inference_tokens_total" {
			for _, m := range mf.GetMetric() {
				if m.GetCounter().GetValue() == 3 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("prompt tokens not counted in fomo_inference_tokens_total")
	}
}

// readEvents reads SSE data payloads until the body ends.
func readEvents(t *testing.T, r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestStreamFlushesEachEvent(t *testing.T) {
	b := &scripted{events: []string{`{"i":0}`, `{"i":1}`, `{"i":2}`}, failAt: -1, gate: make(chan struct{})}
	srv, _ := newServer(t, b)
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	// The backend holds event 1 until the client has read event 0: only a
	// flush per event lets this finish.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: {\"i\":0}\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	close(b.gate)
	rest := readEvents(t, br)
	want := []string{`{"i":1}`, `{"i":2}`, `[DONE]`}
	if strings.Join(rest, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", rest, want)
	}
}

func TestStreamErrorMidway(t *testing.T) {
	b := &scripted{events: []string{`{"i":0}`, `{"i":1}`}, failAt: 1}
	srv, _ := newServer(t, b)
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, resp.Body)
	resp.Body.Close()
	if len(events) != 2 || !strings.Contains(events[1], `"error"`) || !strings.Contains(events[1], "before it finished") {
		t.Fatalf("want one event then an error event, got %q", events)
	}
	for _, e := range events {
		if e == "[DONE]" {
			t.Fatal("a failed stream must not end with [DONE]")
		}
	}
}

func TestStreamErrorBeforeFirstEvent(t *testing.T) {
	srv, _ := newServer(t, &scripted{events: []string{`{}`}, failAt: 0})
	resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m","stream":true}`)
	if resp.StatusCode != 502 || !strings.Contains(body, "before it finished") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	b := &scripted{events: []string{`{"i":0}`, `{"i":1}`}, failAt: -1, gate: make(chan struct{}), ctxDone: make(chan struct{})}
	srv, _ := newServer(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-b.ctxDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's context was not cancelled after the client left")
	}
}

func TestModelsAndGPUs(t *testing.T) {
	srv, _ := newServer(t, &scripted{failAt: -1})
	// In order: /metrics last, so the requests before it have been counted.
	for _, c := range []struct{ path, want string }{
		{"/v1/models", `"id": "m"`},
		{"/v1/models/m", `"object": "model"`},
		{"/api/v1/gpus", `"uuid": "GPU-1"`},
		{"/api/v1/status", `"peer_id": "12D3KooWtest"`},
		{"/v1/models/other", `model_not_found`},
		{"/metrics", `fomo_http_requests_total`},
	} {
		path, want := c.path, c.want
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %s; want %s", path, resp.StatusCode, b, want)
		}
	}
}

func TestBackendError(t *testing.T) {
	srv, _ := newServer(t, &scripted{doErr: errors.New("boom")})
	resp, body := post(t, srv.URL+"/v1/chat/completions", `{"model":"m"}`)
	if resp.StatusCode != 500 || !strings.Contains(body, "api_error") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func FuzzInferenceRequest(f *testing.F) {
	reg := prometheus.NewRegistry()
	s := New(&scripted{failAt: -1, events: []string{"{}"}}, WithMaxBodyBytes(4096), WithRegistry(reg))
	f.Add(`{"model":"m","stream":true}`)
	f.Add(`{"model":"m"}`)
	f.Add(`{"model":null,"stream":"yes"}`)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		s.ServeHTTP(rec, req)
		if rec.Code != 200 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("status %d without an error object: %s", rec.Code, rec.Body)
		}
	})
}

func TestDashboardRoutes(t *testing.T) {
	srv, _ := newServer(t, &scripted{failAt: -1})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/ui/", 200, "<title>fomo node</title>"},
		{"GET", "/ui/app.js", 200, "/api/v1/status"},
		{"GET", "/ui", 301, ""},
		{"GET", "/ui/missing.js", 404, ""},
		{"POST", "/ui/", 405, "is not allowed"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %.200s; want %d with %q", c.method, c.path, resp.StatusCode, b, c.status, c.want)
		}
	}
}
