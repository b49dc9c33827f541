package node

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// BenchmarkProxyOverhead streams the same completion from the upstream
// stand-in directly and through a node, and reports time to first token,
// total time and chunks per second for each. The difference is what the
// node adds: HTTP parsing, routing, SSE relay with a flush per event,
// metering and logging.
//
//	go test -run '^$' -bench ProxyOverhead -benchtime 200x ./node/
func BenchmarkProxyOverhead(b *testing.B) {
	const tokens = 256
	up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(tokens))
	srv := httptest.NewServer(up)
	defer srv.Close()
	defer up.Close()

	cfg := testConfig()
	cfg.Node.LogLevel = "error"
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n, err := New(cfg, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer n.Stop(b.Context())

	body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"benchmark"}]}`)
	for _, target := range []struct{ name, url string }{
		{"direct", srv.URL},
		{"node", "http://" + n.APIAddr()},
	} {
		b.Run(target.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			var ttft, total time.Duration
			chunks := 0
			for b.Loop() {
				t0 := time.Now()
				resp, err := client.Post(target.url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReaderSize(resp.Body, 64<<10)
				first := true
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						break
					}
					if !strings.HasPrefix(line, "data: ") {
						continue
					}
					if first {
						ttft += time.Since(t0)
						first = false
					}
					if line == "data: [DONE]\n" {
						break
					}
					chunks++
				}
				resp.Body.Close()
				total += time.Since(t0)
			}
			per := float64(b.N)
			b.ReportMetric(float64(ttft.Microseconds())/per, "ttft-µs")
			b.ReportMetric(float64(total.Microseconds())/per, "total-µs")
			b.ReportMetric(float64(chunks)/total.Seconds(), "chunks/s")
		})
	}
}
