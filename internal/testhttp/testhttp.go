// Package testhttp makes the plain HTTP requests of tests (a GET, a JSON
// POST, each read to its end) and finds a free loopback address for a
// server a test starts.
//
// It imports only the standard library, so any package's tests may use it.
package testhttp

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Get GETs url and returns the answer's status code and body; it fails tb
// when there is no answer.
func Get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Post POSTs body to url as application/json and returns the answer, its
// body read and closed, and the body; it fails tb when there is no answer
// or its body cannot be read.
func Post(tb testing.TB, url, body string) (*http.Response, []byte) {
	tb.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// FreeAddr returns a loopback TCP address that was free a moment ago, for a
// server that a test starts in another process.
func FreeAddr(tb testing.TB) *net.TCPAddr {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr)
}
