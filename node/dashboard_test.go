package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/node/api"
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

// chromium finds a Chromium to drive, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium installed (apt-get install chromium): the dashboard's browser test needs it")
	return ""
}

// TestDashboardInBrowser opens /ui in headless Chromium on a validator
// that served two requests and closed their epoch: the page shows the
// node's model, the requests' receipt ids and the epoch's settlement, with
// no console error and no uncaught exception. It saves a screenshot of the
// whole page in its temporary directory and, when FOMO_DASHBOARD_SHOT
// names a directory, a copy there (docs/img/dashboard.png is one).
func TestDashboardInBrowser(t *testing.T) {
	browser := chromium(t)
	c := newChainNet(t)
	n, _ := c.start(t)
	key, _ := receipt.EncodeSessionKey(testSessionKey)
	var ids []string
	var last pool.ID
	for i := range 2 {
		body := fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"dashboard %d"}],"max_tokens":16}`, chainModel, i)
		resp, b := post(t, n.APIAddr(), body, map[string]string{"Authorization": "Bearer " + key})
		var out struct{ Fomo *api.Fomo }
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Fomo == nil {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		id, err := pool.ParseID(out.Fomo.ReceiptID)
		if err != nil {
			t.Fatal(err)
		}
		ids, last = append(ids, out.Fomo.ReceiptID), id
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

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1360, 900))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// Every console message, read until the browser closes.
	var mu sync.Mutex
	var problems []string
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
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	defer func() {
		cancelBrowser()
		<-done
	}()

	url := "http://" + n.APIAddr() + "/ui"
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1360, 900), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	has := func(sel, text string) string {
		return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent === %q)`, sel, text)
	}
	ready := strings.Join([]string{
		has("#models td.model", chainModel),
		has("#requests td.receipt-id", ids[0]),
		has("#requests td.receipt-id", ids[1]),
		has("#epochs table.epochs tbody td:first-child", fmt.Sprint(st.Epoch)),
		`!!document.querySelector("#epochs svg.chart rect.s-node")`,
	}, " && ")
	for wait := time.Now().Add(20 * time.Second); ; {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](ready))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		if ok {
			break
		}
		if time.Now().After(wait) {
			text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("the page never showed model %s, receipts %v and epoch %d:\n%s", chainModel, ids, st.Epoch, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{n.ID().String(), "no GPU", "usd balance"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if dir := os.Getenv("FOMO_DASHBOARD_SHOT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
	cancelBrowser()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console errors or exceptions:\n%s", strings.Join(problems, "\n"))
	}
}
