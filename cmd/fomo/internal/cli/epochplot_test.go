package cli

import (
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/plot"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// TestEpochChart checks the series of the --plot chart: the supply walked
// back from today's through the later epochs' burns (MT from the epoch its
// pool exists, FLOCK outside the emission reserve), the burns, the
// emissions and the pool prices, up to epoch n only.
func TestEpochChart(t *testing.T) {
	pool := &econ.Pool{ReserveA: 1, ReserveB: 1}
	mb := func(burned uint64, p *econ.Pool, price uint64) []ledger.ModelBuyback {
		return []ledger.ModelBuyback{{ModelBuyback: econ.ModelBuyback{Model: "m", MTBurned: burned, PoolAfter: p}, PriceAfterE18: price}}
	}
	epochs := []ledger.EpochSettlement{
		{Epoch: 0, Buybacks: &ledger.EpochBuybacks{FlockBurned: 10, Models: mb(0, nil, 0)},
			Emissions: &ledger.EpochEmissions{Budget: 100, Paid: 30, ReserveAfter: 970}},
		{Epoch: 1, Buybacks: &ledger.EpochBuybacks{FlockBurned: 5, MTBurned: 7, FlockPriceE18: 1e14, Models: mb(7, pool, 5e16)},
			Emissions: &ledger.EpochEmissions{Budget: 99, Paid: 40, ReserveAfter: 930}},
		{Epoch: 2, Buybacks: &ledger.EpochBuybacks{FlockBurned: 2, MTBurned: 3, FlockPriceE18: 2e14, Models: mb(3, pool, 6e16)},
			Emissions: &ledger.EpochEmissions{Budget: 98, Paid: 30, ReserveAfter: 900}},
	}
	supply := []api.DenomSupply{{Denom: ledger.DenomFlock, CirculatingBase: 10_000}, {Denom: ledger.MTDenom("m"), CirculatingBase: 1_000}}
	c := epochChart(epochs, supply, 1)
	if c.Title != "epochs 0-1" || c.Width != plotWidth || c.Height != plotHeight || len(c.Panels) != 4 {
		t.Fatalf("chart %q %dx%d with %d panels", c.Title, c.Width, c.Height, len(c.Panels))
	}
	pts := func(xy ...uint64) []plot.Point {
		var out []plot.Point
		for i := 0; i < len(xy); i += 2 {
			out = append(out, plot.Point{X: xy[i], Y: xy[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		panel, series int
		name          string
		want          []plot.Point
	}{
		{0, 0, "MT (graduated models)", pts(1, 1_003)},                        // 1,000 today + 3 burned in epoch 2
		{0, 1, "FLOCK outside the emission reserve", pts(0, 9_037, 1, 9_072)}, // 10,000 + later burns − the reserve then
		{1, 0, "MT burned", pts(0, 0, 1, 7)},
		{1, 1, "FLOCK burned", pts(0, 10, 1, 5)},
		{2, 0, "budget", pts(0, 100, 1, 99)},
		{2, 1, "paid", pts(0, 30, 1, 40)},
		{3, 0, "usd per FLOCK", pts(1, 1e14)},
		{3, 1, "FLOCK per MT of m", pts(1, 5e16)},
	} {
		s := c.Panels[tc.panel].Series[tc.series]
		if s.Name != tc.name || !reflect.DeepEqual(s.Points, tc.want) {
			t.Errorf("panel %d series %d: %q %v, want %q %v", tc.panel, tc.series, s.Name, s.Points, tc.name, tc.want)
		}
	}
	if c.Panels[0].FromZero || !c.Panels[1].FromZero || !c.Panels[2].FromZero || c.Panels[3].FromZero {
		t.Error("burns and emissions start at zero, supply and prices at their smallest value")
	}
	if got := c.Panels[3].Series[0].Format(100_004_000_000_000); got != "0.000100004" {
		t.Errorf("price format: %q", got)
	}
	if got := c.Panels[1].Series[0].Format(211_500_000); got != "211.5" {
		t.Errorf("amount format: %q", got)
	}
}

// epochChain answers the epoch queries from its ledger as settle/chain
// does, and everything else as ledgerChain.
type epochChain struct{ *ledgerChain }

func (c epochChain) Query(ctx context.Context, path string) ([]byte, error) {
	p, q, _ := strings.Cut(path, "?")
	if p != "/epochs" {
		return c.ledgerChain.Query(ctx, path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil, err
	}
	after, _ := strconv.ParseUint(vals.Get("after"), 10, 64)
	out := api.EpochPage{Epochs: []ledger.EpochSettlement{}, NextEpoch: c.l.NextEpoch()}
	for e := after; e < c.l.NextEpoch() && len(out.Epochs) < 2; e++ { // pages of two
		s, ok, err := c.l.Epoch(ctx, e)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Epochs = append(out.Epochs, s)
		}
	}
	return json.Marshal(out)
}

// TestEpochShowPlot plots a real ledger's closed epochs through the API,
// paging through them, and names an epoch not closed yet.
func TestEpochShowPlot(t *testing.T) {
	n := newEconNet(t)
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(epochChain{n.c})))
	t.Cleanup(srv.Close)
	n.url = srv.URL
	for range 5 { // epochs of an hour, their grace, closed by the next block
		n.c.advance(time.Hour + 10*time.Second)
	}
	if got := n.c.l.NextEpoch(); got < 4 {
		t.Fatalf("%d epochs closed, want 4 or more", got)
	}
	file := filepath.Join(t.TempDir(), "epochs.png")
	out := n.fomo(t, "epoch", "show", "3", "--plot", file)
	if !strings.Contains(out, "plotted epochs 0..3") {
		t.Fatalf("output: %s", out)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, plotWidth, plotHeight) {
		t.Fatalf("image %v", b)
	}
	if _, err := runHome(t, n.home, "epoch", "show", "40", "--plot", file, "--api", n.url); err == nil ||
		!strings.Contains(err.Error(), "epoch 40 is not closed yet") {
		t.Fatalf("plotting an open epoch: %v", err)
	}
}
