package testhttp_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fomonet/fomo/internal/testhttp"
)

func TestGetAndPost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, r.Method+" "+r.Header.Get("Content-Type")+" "+string(b))
	}))
	defer srv.Close()
	if code, body := testhttp.Get(t, srv.URL); code != http.StatusTeapot || body != "GET  " {
		t.Fatalf("Get = %d %q", code, body)
	}
	resp, b := testhttp.Post(t, srv.URL, `{"a":1}`)
	if resp.StatusCode != http.StatusTeapot || string(b) != `POST application/json {"a":1}` {
		t.Fatalf("Post = %d %q", resp.StatusCode, b)
	}
}

func TestFreeAddr(t *testing.T) {
	a := testhttp.FreeAddr(t)
	if !a.IP.IsLoopback() || a.Port == 0 {
		t.Fatalf("FreeAddr = %v", a)
	}
	ln, err := net.Listen("tcp", a.String())
	if err != nil {
		t.Fatalf("the address is not free: %v", err)
	}
	ln.Close()
}
