package cli

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"sort"
	"strings"

	"github.com/fomonet/fomo/internal/plot"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
)

// The size of `fomo epoch show N --plot`'s image.
const plotWidth, plotHeight = 1000, 640

// plotEpochs fetches every closed epoch and the chain's supply through c
// and draws epochs 0..n into a PNG file at path.
func plotEpochs(ctx context.Context, c *client.Client, n uint64, path string) error {
	var epochs []ledger.EpochSettlement
	for next := uint64(0); ; {
		page, err := c.Epochs(ctx, next, 0)
		if err != nil {
			return err
		}
		epochs = append(epochs, page.Epochs...)
		if len(page.Epochs) == 0 || page.NextEpoch <= next {
			break
		}
		next = page.Epochs[len(page.Epochs)-1].Epoch + 1
		if next >= page.NextEpoch {
			break
		}
	}
	if len(epochs) == 0 || epochs[len(epochs)-1].Epoch < n {
		return fmt.Errorf("epoch %d is not closed yet", n)
	}
	supply, err := c.Supply(ctx)
	if err != nil {
		return err
	}
	ch := epochChart(epochs, supply, n)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := plot.Encode(f, ch); err != nil {
		f.Close()
		return fmt.Errorf("plotting to %s: %w", path, err)
	}
	return f.Close()
}

// epochChart builds the chart of epochs 0..n out of every closed epoch
// (in order) and today's supply: the supply at the end of each epoch, its
// burns, its emissions and its pool prices after the buybacks.
//
// The supply at the end of an epoch is today's plus what the later epochs
// burned: MT for the models whose pool existed then (graduated), FLOCK
// outside the emission reserve (today's circulating FLOCK counts it).
func epochChart(epochs []ledger.EpochSettlement, supply []api.DenomSupply, n uint64) plot.Chart {
	circ := map[string]uint64{}
	for _, s := range supply {
		circ[s.Denom] = s.CirculatingBase
	}
	// Burned by the epochs after each one, by denom, walking backwards.
	after := make([]map[string]uint64, len(epochs))
	run := map[string]uint64{}
	for i := len(epochs) - 1; i >= 0; i-- {
		after[i] = map[string]uint64{}
		for k, v := range run {
			after[i][k] = v
		}
		if bb := epochs[i].Buybacks; bb != nil {
			run[ledger.DenomFlock] += bb.FlockBurned
			for _, m := range bb.Models {
				run[ledger.MTDenom(m.Model)] += m.MTBurned
			}
		}
	}

	var mt, flock, mtBurn, flockBurn, budget, paid, flockPrice plot.Series
	mt = plot.Series{Name: "MT (graduated models)", Color: plot.Blue, Format: plotAmount}
	flock = plot.Series{Name: "FLOCK outside the emission reserve", Color: plot.Orange, Format: plotAmount}
	mtBurn = plot.Series{Name: "MT burned", Color: plot.Blue, Format: plotAmount}
	flockBurn = plot.Series{Name: "FLOCK burned", Color: plot.Orange, Format: plotAmount}
	budget = plot.Series{Name: "budget", Color: plot.Green, Format: plotAmount}
	paid = plot.Series{Name: "paid", Color: plot.Red, Format: plotAmount}
	flockPrice = plot.Series{Name: "usd per FLOCK", Color: plot.Orange, Format: formatE18}
	mtPrice := map[string]*plot.Series{}
	for i, e := range epochs {
		if e.Epoch > n {
			break
		}
		x := e.Epoch
		var reserve uint64
		if em := e.Emissions; em != nil {
			reserve = em.ReserveAfter
			budget.Points = append(budget.Points, plot.Point{X: x, Y: em.Budget})
			paid.Points = append(paid.Points, plot.Point{X: x, Y: em.Paid})
		}
		if f := circ[ledger.DenomFlock] + after[i][ledger.DenomFlock]; f >= reserve {
			flock.Points = append(flock.Points, plot.Point{X: x, Y: f - reserve})
		}
		bb := e.Buybacks
		if bb == nil {
			continue
		}
		mtBurn.Points = append(mtBurn.Points, plot.Point{X: x, Y: bb.MTBurned})
		flockBurn.Points = append(flockBurn.Points, plot.Point{X: x, Y: bb.FlockBurned})
		if bb.FlockPriceE18 > 0 {
			flockPrice.Points = append(flockPrice.Points, plot.Point{X: x, Y: bb.FlockPriceE18})
		}
		var total uint64
		graduated := false
		for _, m := range bb.Models {
			if m.PoolAfter == nil {
				continue
			}
			graduated = true
			d := ledger.MTDenom(m.Model)
			total += circ[d] + after[i][d]
			s := mtPrice[m.Model]
			if s == nil {
				s = &plot.Series{Name: "FLOCK per MT of " + m.Model, Format: formatE18}
				mtPrice[m.Model] = s
			}
			s.Points = append(s.Points, plot.Point{X: x, Y: m.PriceAfterE18})
		}
		if graduated {
			mt.Points = append(mt.Points, plot.Point{X: x, Y: total})
		}
	}
	prices := []plot.Series{flockPrice}
	models := make([]string, 0, len(mtPrice))
	for m := range mtPrice {
		models = append(models, m)
	}
	sort.Strings(models)
	palette := []color.RGBA{plot.Blue, plot.Green, plot.Red}
	for i, m := range models {
		s := *mtPrice[m]
		s.Color = palette[i%len(palette)]
		prices = append(prices, s)
	}
	return plot.Chart{
		Title: fmt.Sprintf("epochs %d-%d", epochs[0].Epoch, n), XLabel: "epoch", Cols: 2, Width: plotWidth, Height: plotHeight,
		Panels: []plot.Panel{
			{Title: "supply at the end of the epoch", Separate: true, Series: []plot.Series{mt, flock}},
			{Title: "burned per epoch", Separate: true, FromZero: true, Series: []plot.Series{mtBurn, flockBurn}},
			{Title: "emissions per epoch (FLOCK)", FromZero: true, Series: []plot.Series{budget, paid}},
			{Title: "pool prices after the buybacks", Separate: true, Series: prices},
		},
	}
}

// plotAmount writes base units as whole units without trailing zeros.
func plotAmount(v uint64) string {
	return strings.TrimSuffix(strings.TrimRight(econ.FormatAmount(v), "0"), ".")
}

// formatE18 writes a 1e18 fixed-point price with 9 decimals, rounded down,
// without the trailing zeros.
func formatE18(v uint64) string {
	const cut = econ.PriceScale / 1e9
	s := strings.TrimRight(fmt.Sprintf("%d.%09d", v/econ.PriceScale, v%econ.PriceScale/cut), "0")
	return strings.TrimSuffix(s, ".")
}
