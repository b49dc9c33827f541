package runtime

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

// listRuntime serves a fixed model list and echoes requests.
type listRuntime struct {
	name   string
	models []string
	err    error
}

func (l *listRuntime) Name() string { return l.name }
func (l *listRuntime) Models(context.Context) ([]Model, error) {
	if l.err != nil {
		return nil, l.err
	}
	var out []Model
	for _, m := range l.models {
		out = append(out, Model{ID: m})
	}
	return out, nil
}
func (l *listRuntime) reply(req *Request) (Stream, error) {
	return SingleEvent([]byte(l.name+":"+string(req.API)), Usage{PromptTokens: 1}, FinishStop), nil
}
func (l *listRuntime) Chat(_ context.Context, r *Request) (Stream, error)     { return l.reply(r) }
func (l *listRuntime) Complete(_ context.Context, r *Request) (Stream, error) { return l.reply(r) }
func (l *listRuntime) Embed(_ context.Context, r *Request) (Stream, error)    { return l.reply(r) }
func (l *listRuntime) Health(context.Context) Health                          { return Health{OK: true, Status: "ready"} }

func recvAll(t *testing.T, s Stream) string {
	t.Helper()
	ev, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("second Recv = %v, want io.EOF", err)
	}
	return string(ev.Data)
}

func TestRegistryRouting(t *testing.T) {
	a := &listRuntime{name: "a", models: []string{"m1", "shared"}}
	b := &listRuntime{name: "b", models: []string{"shared", "m2"}}
	r := NewRegistry(nil)
	if err := r.Add(a); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(b); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(&listRuntime{name: "a"}); err == nil {
		t.Fatal("duplicate runtime name accepted")
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range r.Models() {
		ids = append(ids, m.ID+"@"+m.Runtime)
	}
	if got, want := ids, []string{"m1@a", "m2@b", "shared@a"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("models %v, want %v (sorted, first runtime wins)", got, want)
	}
	for model, want := range map[string]string{"m1": "a:chat", "m2": "b:chat", "shared": "a:chat"} {
		s, err := r.Do(context.Background(), &Request{API: APIChat, Model: model})
		if err != nil {
			t.Fatal(err)
		}
		if got := recvAll(t, s); got != want {
			t.Errorf("%s routed to %s, want %s", model, got, want)
		}
	}
	s, err := r.Do(context.Background(), &Request{API: APIEmbedding, Model: "m2"})
	if err != nil || recvAll(t, s) != "b:embedding" {
		t.Fatalf("embedding dispatch: %v", err)
	}
	_, err = r.Do(context.Background(), &Request{API: APIChat, Model: "nope"})
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Type != ErrTypeNotFound || *e.Code != "model_not_found" {
		t.Fatalf("unknown model: %v", err)
	}
	_, err = r.Do(context.Background(), &Request{API: "bogus", Model: "m1"})
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("unknown api: %v", err)
	}
}

func TestRegistryKeepsModelsOfFailingRuntime(t *testing.T) {
	a := &listRuntime{name: "a", models: []string{"m1"}}
	r := NewRegistry(nil)
	r.Add(a)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.err = errors.New("restarting")
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh hid the runtime's error")
	}
	if _, ok := r.Lookup("m1"); !ok {
		t.Fatal("a runtime that failed to list its models lost them")
	}
	a.err, a.models = nil, []string{"m9"}
	r.Refresh(context.Background())
	if _, ok := r.Lookup("m1"); ok {
		t.Fatal("stale model kept after a successful refresh")
	}
	if m, ok := r.Model("m9"); !ok || m.Runtime != "a" {
		t.Fatalf("Model(m9) = %+v, %v", m, ok)
	}
}

func TestErrorJSON(t *testing.T) {
	e := Errorf(400, ErrTypeInvalidRequest, "messages", "bad %s", "thing").WithCode("x")
	if got := string(e.JSON()); got != `{"error":{"message":"bad thing","type":"invalid_request_error","param":"messages","code":"x"}}` {
		t.Fatal(got)
	}
	if got := AsError(errors.New("plain")); got.Status != 500 || got.Type != ErrTypeAPI {
		t.Fatalf("%+v", got)
	}
	for status, want := range map[int]string{401: ErrTypeAuthentication, 402: ErrTypeInsufficientQuota, 404: ErrTypeNotFound,
		429: ErrTypeRateLimit, 422: ErrTypeInvalidRequest, 503: ErrTypeUnavailable, 504: ErrTypeTimeout, 500: ErrTypeAPI} {
		if got := TypeForStatus(status); got != want {
			t.Errorf("TypeForStatus(%d) = %s, want %s", status, got, want)
		}
	}
}
