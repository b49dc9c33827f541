package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/fomonet/fomo/internal/testhttp"
)

// checks is a Readiness whose checks the test sets.
type checks struct {
	mu sync.Mutex
	cs []ReadyCheck
}

func (c *checks) Ready(ctx context.Context) []ReadyCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil {
		return []ReadyCheck{{Name: "context", Detail: ctx.Err().Error()}}
	}
	return slices.Clone(c.cs)
}

func (c *checks) set(cs ...ReadyCheck) {
	c.mu.Lock()
	c.cs = cs
	c.mu.Unlock()
}

func readyz(t *testing.T, url string) (int, Readyz) {
	t.Helper()
	code, body := testhttp.Get(t, url+"/readyz")
	var r Readyz
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, r
}

func TestHealthz(t *testing.T) {
	rd := &checks{}
	rd.set(ReadyCheck{Name: "runtime u", Detail: "down"})
	srv := httptest.NewServer(New(&scripted{failAt: -1}, WithReadiness(rd)))
	defer srv.Close()
	// Liveness does not depend on readiness.
	if code, body := testhttp.Get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %s, want 200", code, body)
	}
	resp, err := http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestReadyz(t *testing.T) {
	rd := &checks{}
	srv := httptest.NewServer(New(&scripted{failAt: -1}, WithReadiness(rd)))
	defer srv.Close()

	rd.set(ReadyCheck{Name: "runtime u", OK: true}, ReadyCheck{Name: "chain", OK: true})
	code, r := readyz(t, srv.URL)
	if code != http.StatusOK || !r.Ready || len(r.Failing) != 0 || len(r.Checks) != 2 {
		t.Fatalf("all checks pass: /readyz = %d %+v, want 200 ready", code, r)
	}

	rd.set(ReadyCheck{Name: "runtime u", Detail: "down: connection refused"}, ReadyCheck{Name: "runtime v", OK: true},
		ReadyCheck{Name: "chain", Detail: "catching up"})
	code, r = readyz(t, srv.URL)
	if code != http.StatusServiceUnavailable || r.Ready || !slices.Equal(r.Failing, []string{"runtime u", "chain"}) {
		t.Fatalf("two checks fail: /readyz = %d %+v, want 503 failing [runtime u chain]", code, r)
	}
	if r.Checks[0].Detail != "down: connection refused" || r.Checks[2].Detail != "catching up" {
		t.Fatalf("checks lost their details: %+v", r.Checks)
	}
}

func TestReadyzWithoutReadiness(t *testing.T) {
	srv := httptest.NewServer(New(&scripted{failAt: -1}))
	defer srv.Close()
	code, r := readyz(t, srv.URL)
	if code != http.StatusOK || !r.Ready || r.Failing == nil || r.Checks == nil {
		t.Fatalf("/readyz = %d %+v, want 200 ready with empty lists", code, r)
	}
}
