package node

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// BenchmarkForwardingOverhead streams the same completion (a) at the
// serving node A, (b) through node B, which forwards it over the libp2p
// inference protocol, (c) through a gateway (a node with no runtime, DHT
// client), and (d) through nginx as a plain HTTP reverse proxy in front of
// A, when an nginx binary is installed. Requests alternate between the
// targets so all see the same machine load. The engine variant serves 128
// tokens of a tiny synthetic model from the built-in engine; the stand-in
// variant 256 tokens from the OpenAI-compatible upstream stand-in, which
// costs almost nothing per token and so shows the relay's own cost.
//
//	go test -run '^$' -bench ForwardingOverhead -benchtime 200x ./node/
func BenchmarkForwardingOverhead(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		model := synthModel(b)
		benchForwarding(b, configs.Runtime{Name: "m", Kind: configs.KindEngine, Model: model, Threads: 1}, model,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":128,"seed":1,"messages":[{"role":"user","content":"benchmark"}]}`)
	})
	b.Run("standin", func(b *testing.B) {
		up := runtimetest.NewUpstream(runtimetest.WithModels("m"), runtimetest.WithTokens(256))
		srv := httptest.NewServer(up)
		defer srv.Close()
		defer up.Close()
		// The stand-in has no weights: the manifest names a file of its own.
		weights := filepath.Join(b.TempDir(), "standin.bin")
		if err := os.WriteFile(weights, []byte("stand-in weights"), 0o644); err != nil {
			b.Fatal(err)
		}
		benchForwarding(b, configs.Runtime{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}, weights,
			`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"benchmark"}]}`)
	})
}

// benchForwarding runs the targets over the runtime rc serving model m,
// whose manifest (with the weights at weights) an issuer announces: a node
// that does not serve a model quotes its manifest's prices, and refuses
// one without.
func benchForwarding(b *testing.B, rc configs.Runtime, weights, reqBody string) {

	start := func(cfg configs.Config) *Node {
		cfg.Node.LogLevel = "error"
		cfg.P2P.AdvertInterval = configs.Duration(200 * time.Millisecond)
		cfg.P2P.RequireManifest = false // no issuer in the benchmark
		n, err := New(cfg, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Stop(b.Context()) })
		return n
	}
	cfgA := testConfig()
	cfgA.Runtime = []configs.Runtime{rc}
	a := start(cfgA)
	cfgB := testConfig()
	cfgB.P2P.Bootstrap = []string{a.host.ListenAddrs()[0]}
	fwd := start(cfgB)
	cfgG := testConfig()
	cfgG.P2P.Bootstrap = cfgB.P2P.Bootstrap
	cfgG.P2P.DHTMode = "client"
	cfgG.Store.Backend = "memory"
	gw := start(cfgG)
	// Free, so that the serving node's price (zero for a model it serves
	// without having seen a manifest) matches whatever it learned.
	announceAt(b, fwd, "m", weights, 0, 0)

	targets := []*target{
		{name: "serving", url: "http://" + a.APIAddr()},
		{name: "forwarded", url: "http://" + fwd.APIAddr()},
		{name: "gateway", url: "http://" + gw.APIAddr()},
	}
	if ngx, err := exec.LookPath("nginx"); err == nil {
		targets = append(targets, &target{name: "nginx", url: startNginx(b, ngx, a.APIAddr())})
	} else {
		b.Log("nginx not installed; the reverse-proxy reference is skipped")
	}
	body := []byte(reqBody)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	// Warm up: wait until forwarding works (adverts and provider records spread).
	deadline := time.Now().Add(30 * time.Second)
	for _, tg := range targets {
		for {
			resp, err := client.Post(tg.url+"/v1/chat/completions", "application/json", bytesReader(body))
			if err == nil {
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
				err = fmt.Errorf("%s: %s", resp.Status, msg)
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not ready: %v", tg.name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for b.Loop() {
		for _, tg := range targets {
			tg.run(b, client, body)
		}
	}
	per := float64(b.N)
	base := targets[0]
	for _, tg := range targets {
		b.ReportMetric(float64(tg.ttft.Microseconds())/per, "ttft-µs-"+tg.name)
		b.ReportMetric(float64(tg.chunks)/tg.total.Seconds(), "chunks/s-"+tg.name)
		if tg != base {
			b.ReportMetric(float64((tg.ttft-base.ttft).Microseconds())/per, "ttft-overhead-µs-"+tg.name)
		}
	}
}

func startNginx(b *testing.B, bin, upstream string) string {
	dir := b.TempDir()
	port := freePortB(b)
	conf := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  upstream node { server %[2]s; keepalive 8; }
  server {
    listen 127.0.0.1:%[3]s;
    location / {
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, dir, upstream, port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "-p", dir)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return "http://127.0.0.1:" + port
}
