package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime/runtimetest"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
)

// TestStatusEpoch: the status names the current epoch of the network's
// clock, which the dashboard reads its recent receipts by.
func TestStatusEpoch(t *testing.T) {
	g := networks.Devnet()
	at := g.GenesisTime.Add(7*g.EpochLength.D() + time.Second)
	n := startNode(t, testConfig(), WithClock(func() time.Time { return at }))
	if n.genesis.ID() != g.ID() {
		t.Fatalf("the test node is on %s, not the devnet", n.genesis.ID())
	}
	code, body := testhttp.Get(t, "http://"+n.APIAddr()+"/api/v1/status")
	var st api.Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if st.Epoch != 7 || !strings.Contains(body, `"epoch": 7`) {
		t.Fatalf("status epoch %d at %s, want 7:\n%s", st.Epoch, at, body)
	}
}

// dashboard is the node's /ui open in a headless Chromium, with every
// console message of the page recorded.
type dashboard struct {
	t        *testing.T
	ctx      context.Context
	close    func()
	mu       sync.Mutex
	problems []string
}

// openDashboard opens http://addr/ui in a fresh headless Chromium, or skips
// the test where no chromium is installed. The browser closes at the end
// of the test.
func openDashboard(t *testing.T, addr string) *dashboard {
	t.Helper()
	browser := ""
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium installed (apt-get install chromium): the dashboard's browser test needs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1360, 900))
	bctx, cancelBrowser := chromedp.NewContext(actx)
	d := &dashboard{t: t, ctx: bctx}
	// Every console message, read until the browser closes.
	messages := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// A failed fetch is the page's business (it shows it); a
			// console call, an exception or a refused script is not.
			if m.IsException() || (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning) && m.Source != "network" {
				d.mu.Lock()
				d.problems = append(d.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				d.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	d.close = func() {
		once.Do(func() {
			cancelBrowser()
			<-done
			cancelAlloc()
			cancel()
		})
	}
	t.Cleanup(d.close)
	url := "http://" + addr + "/ui"
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1360, 900), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return d
}

// has is a JavaScript test that an element of sel has exactly text.
func has(sel, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent === %q)`, sel, text)
}

// waitFor waits until every JavaScript test of conds is true on the page.
func (d *dashboard) waitFor(conds ...string) {
	d.t.Helper()
	ready := strings.Join(conds, " && ")
	for wait := time.Now().Add(20 * time.Second); ; {
		ok, err := chromedp.Run(d.ctx, chromedp.Evaluate[bool](ready))
		if err != nil {
			d.t.Fatalf("evaluate: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(wait) {
			text, _ := chromedp.Run(d.ctx, chromedp.Evaluate[string](`document.body.innerText`))
			d.t.Fatalf("the page never showed %s:\n%s", ready, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// contains checks that the page's text has every one of want.
func (d *dashboard) contains(want ...string) {
	d.t.Helper()
	text, err := chromedp.Run(d.ctx, chromedp.Evaluate[string](`document.body.textContent`))
	if err != nil {
		d.t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			d.t.Errorf("the page does not show %q:\n%s", w, text)
		}
	}
}

// screenshot saves a PNG of the whole page in the test's temporary
// directory and returns its path; when FOMO_DASHBOARD_SHOT names a
// directory, it keeps a copy there named after the test (docs/img/
// dashboard.png is TestDashboardInBrowser's).
func (d *dashboard) screenshot() string {
	d.t.Helper()
	png, err := chromedp.Run(d.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		d.t.Fatal(err)
	}
	shot := filepath.Join(d.t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("screenshot: %s", shot)
	if dir := os.Getenv("FOMO_DASHBOARD_SHOT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, d.t.Name()+".png"), png, 0o644); err != nil {
			d.t.Error(err)
		}
	}
	return shot
}

// finish closes the browser and fails the test on any console error or
// uncaught exception the page had.
func (d *dashboard) finish() {
	d.t.Helper()
	d.close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.problems) > 0 {
		d.t.Errorf("console errors or exceptions:\n%s", strings.Join(d.problems, "\n"))
	}
}

// chat sends a chat completion to the node at addr with header and returns
// its receipt id.
func chat(t *testing.T, addr, model string, i int, header map[string]string) string {
	t.Helper()
	body := fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"dashboard %d"}],"max_tokens":16}`, model, i)
	resp, b := post(t, addr, body, header)
	var out struct{ Fomo *api.Fomo }
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil {
		t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
	}
	return out.Fomo.ReceiptID
}

// TestDashboardInBrowser opens /ui in headless Chromium on a validator
// that served two requests and closed their epoch: the page shows the
// node's model, the requests' receipt ids and the epoch's settlement, with
// no console error and no uncaught exception. It saves a screenshot of the
// whole page.
func TestDashboardInBrowser(t *testing.T) {
	c := newChainNet(t)
	n, _ := c.start(t)
	key, _ := receipt.EncodeSessionKey(testSessionKey)
	auth := map[string]string{"Authorization": "Bearer " + key}
	ids := []string{chat(t, n.APIAddr(), chainModel, 0, auth), chat(t, n.APIAddr(), chainModel, 1, auth)}
	last, err := pool.ParseID(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	waitIncluded(t, n, last)
	st, _, err := n.chain.app.Receipt(context.Background(), last)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for n.chain.app.NextEpoch() <= st.Epoch {
		if time.Now().After(deadline) {
			t.Fatalf("epoch %d not closed by height %d", st.Epoch, n.chain.app.Height())
		}
		time.Sleep(50 * time.Millisecond)
	}

	d := openDashboard(t, n.APIAddr())
	d.waitFor(
		has("#models .model", chainModel),
		has("#requests td.receipt-id", ids[0]),
		has("#requests td.receipt-id", ids[1]),
		has("#epochs table.epochs tbody td:first-child", fmt.Sprint(st.Epoch)),
		`!!document.querySelector("#epochs svg.chart rect.s-node")`,
		`!!document.querySelector("#balance svg.chart rect.s-node")`,
	)
	d.contains(n.ID().String(), "no GPU", "usd balance")
	d.screenshot()
	d.finish()
}

// TestDashboardWithoutChain: on a node without the chain the page shows
// its requests and says "no chain" where the chain's data would be. A
// model whose name is markup is shown as text.
func TestDashboardWithoutChain(t *testing.T) {
	const model, markup = "plain-model", `<img src=x onerror="console.error('ran')"><b>bold</b>`
	up := runtimetest.NewUpstream(runtimetest.WithModels(model, markup), runtimetest.WithTokens(8))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)
	cfg := testConfig() // the open-access key pays for requests without a key
	cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n := startNode(t, cfg)
	id := chat(t, n.APIAddr(), model, 0, nil)
	d := openDashboard(t, n.APIAddr())
	d.waitFor(
		has("#models .model", model),
		has("#models .model", markup),
		has("#requests td.model", model),
		`!document.querySelector("main img, main b")`,
		has("#requests td.receipt-id", id),
		has("#balance .nochain", "no chain: this node runs without the settlement chain"),
		has("#epochs .nochain", "no chain: this node runs without the settlement chain"),
	)
	d.contains(n.ID().String(), "no GPU")
	d.screenshot()
	d.finish()
}
