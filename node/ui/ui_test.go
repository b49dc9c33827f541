package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandlerServesThePageAndItsAssets(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		path, ctype, want string
	}{
		{"/ui/", "text/html", `<script type="module" src="app.js">`},
		{"/ui/app.js", "javascript", "refresh"},
		{"/ui/dom.js", "javascript", "createTextNode"},
		{"/ui/chart.js", "javascript", "stackedBars"},
		{"/ui/style.css", "text/css", "--bg"},
	} {
		resp, body := get(t, h, http.MethodGet, c.path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %q, body without %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.path)
		}
	}
}

func TestHandlerRedirectsAndRefuses(t *testing.T) {
	h := Handler()
	resp, _ := get(t, h, http.MethodGet, "/ui")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/ui/nope.js", "/ui/static/app.js", "/ui/../ui.go", "/other", "/ui/%2e%2e/ui.go"} {
		if resp, _ := get(t, h, http.MethodGet, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestPageEscapesData: the scripts insert data as text nodes only.
func TestPageEscapesData(t *testing.T) {
	h := Handler()
	for _, f := range []string{"app.js", "dom.js", "chart.js"} {
		_, body := get(t, h, http.MethodGet, "/ui/"+f)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(body, bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
	}
}
