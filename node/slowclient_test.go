package node

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// slowClientConfig is testConfig with short API timeouts.
func slowClientConfig() configs.Config {
	cfg := testConfig()
	cfg.API.ReadTimeout = configs.Duration(500 * time.Millisecond)
	cfg.API.IdleTimeout = configs.Duration(500 * time.Millisecond)
	return cfg
}

// dialAPI opens a connection to n's API, closed when t ends if not before.
func dialAPI(t *testing.T, n *Node) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getGPUs writes a keep-alive request for /api/v1/gpus to c.
func getGPUs(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /api/v1/gpus HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// waitClosed reads c until the server closes it and returns how long that
// took; it fails the test if c is still open after limit.
func waitClosed(t *testing.T, c net.Conn, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", limit)
	}
	return time.Since(start)
}

func TestTrickledBodyIsCut(t *testing.T) {
	n := startNode(t, slowClientConfig())
	c := dialAPI(t, n)
	start := time.Now()
	_, err := io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 50ms: 50 s for the whole body
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	took := waitClosed(t, c, start, 5*time.Second)
	if took < 400*time.Millisecond {
		t.Fatalf("closed after %s, before the read timeout", took)
	}
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	n := startNode(t, slowClientConfig())
	c := dialAPI(t, n)
	getGPUs(t, c)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	took := waitClosed(t, readerConn{c, br}, start, 5*time.Second)
	if took < 400*time.Millisecond {
		t.Fatalf("idle connection closed after %s, before the idle timeout", took)
	}
}

// TestStreamOutlivesReadTimeout: a request whose body arrived in time may
// take longer than the read timeout to answer; the read deadline must not
// cancel it.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(100),
		runtimetest.WithTokenDelay(10*time.Millisecond)) // a 1 s stream
	srv := httptest.NewServer(up)
	defer srv.Close()
	defer up.Close()
	cfg := slowClientConfig()
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n := startNode(t, cfg)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`
	start := time.Now()
	resp, err := http.Post("http://"+n.APIAddr()+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if err != nil {
		t.Fatalf("stream cut after %s: %v", time.Since(start), err)
	}
	if !strings.Contains(string(b), "[DONE]") {
		t.Fatalf("stream did not finish (%s):\n%s", time.Since(start), b)
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Fatalf("stream took %s, not longer than the read timeout", took)
	}
}

func TestTooManyConnectionsWait(t *testing.T) {
	cfg := slowClientConfig()
	cfg.API.MaxConns = 1
	cfg.API.IdleTimeout = configs.Duration(time.Minute)
	n := startNode(t, cfg)
	first := dialAPI(t, n)
	getGPUs(t, first)
	if _, err := http.ReadResponse(bufio.NewReader(first), nil); err != nil {
		t.Fatal(err)
	}
	// first stays open: a second connection is not served until it closes.
	second := dialAPI(t, n)
	getGPUs(t, second)
	second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	br := bufio.NewReader(second)
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection served while the first is open (err %v)", err)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second connection not served after the first closed: %v", err)
	}
	resp.Body.Close()
}

// readerConn reads through a bufio.Reader that may hold buffered bytes.
type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
