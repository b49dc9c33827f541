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
	n := startNode(b, cfg)

	body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"benchmark"}]}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	// Requests alternate between the two targets so both see the same
	// machine load.
	targets := []*target{{name: "direct", url: srv.URL}, {name: "node", url: "http://" + n.APIAddr()}}
	for b.Loop() {
		for _, tg := range targets {
			tg.run(b, client, body)
		}
	}
	for _, tg := range targets {
		per := float64(b.N)
		b.ReportMetric(float64(tg.ttft.Microseconds())/per, "ttft-µs-"+tg.name)
		b.ReportMetric(float64(tg.total.Microseconds())/per, "total-µs-"+tg.name)
		b.ReportMetric(float64(tg.chunks)/tg.total.Seconds(), "chunks/s-"+tg.name)
	}
	d, v := targets[0], targets[1]
	b.ReportMetric(float64((v.ttft-d.ttft).Microseconds())/float64(b.N), "ttft-overhead-µs")
	b.ReportMetric(float64((v.total-d.total).Microseconds())/float64(b.N), "total-overhead-µs")
}

type target struct {
	name, url   string
	ttft, total time.Duration
	chunks      int
}

func (tg *target) run(b *testing.B, client *http.Client, body []byte) {
	t0 := time.Now()
	resp, err := client.Post(tg.url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	first := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatalf("%s: stream ended without [DONE]: %v", tg.name, err)
		}
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		if first {
			tg.ttft += time.Since(t0)
			first = false
		}
		if line == "data: [DONE]\n" {
			break
		}
		tg.chunks++
	}
	tg.total += time.Since(t0)
}
