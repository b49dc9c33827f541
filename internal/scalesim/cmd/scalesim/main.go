// Command scalesim runs the receipt simulations of package scalesim at
// several network sizes and rates and prints the measured table, the
// fitted model and the projection as Markdown (`make scaling`).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/fomonet/fomo/internal/scalesim"
)

// Default runs: nodes×rate. Every node admits every receipt, so the
// machine's load is nodes × rate admissions a second; these keep it
// within two cores.
const (
	defaultRuns = "10x40,10x120,25x16,25x48,50x8,50x24"
	quickRuns   = "4x50,8x50"
)

func main() {
	quick := flag.Bool("quick", false, "a few seconds: "+quickRuns+", 1 s of load each")
	runsFlag := flag.String("runs", defaultRuns, "comma-separated NODESxRATE runs (rate: requests/s over the network)")
	duration := flag.Duration("duration", 8*time.Second, "load per run")
	pebble := flag.Bool("pebble", true, "pools on pebble (in a temporary directory); false: the in-memory store")
	verbose := flag.Bool("v", false, "log progress to stderr")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scalesim:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *quick {
		*runsFlag, *duration = quickRuns, time.Second
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *runsFlag, *duration, *pebble, *quick, log); err != nil {
		fmt.Fprintln(os.Stderr, "scalesim:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, spec string, d time.Duration, pebble, quick bool, log *slog.Logger) error {
	type size struct{ nodes, rate int }
	var sizes []size
	for _, f := range strings.Split(spec, ",") {
		n, r, ok := strings.Cut(strings.TrimSpace(f), "x")
		nodes, err1 := strconv.Atoi(n)
		rate, err2 := strconv.Atoi(r)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("run %q: want NODESxRATE", f)
		}
		sizes = append(sizes, size{nodes, rate})
	}
	warmup := 3 * time.Second
	if quick {
		warmup = 1500 * time.Millisecond
	}
	rep := &scalesim.Report{
		Sizes: []int{1000, 10000}, Rates: []int{10000, 100000}, Batches: []int{1, 10, 20},
		SmallNode: 3600, WinProbs: []float64{1.0 / 100, 1.0 / 1000},
	}
	for i, s := range sizes {
		keep := 0
		if i == len(sizes)-1 {
			keep = 2 * scalesim.BatchSize
		}
		res, err := scalesim.Run(ctx, scalesim.Config{
			Nodes: s.nodes, Rate: s.rate, Duration: d, Warmup: warmup, Pebble: pebble, Keep: keep, Drain: 20 * time.Second, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("%d nodes at %d/s: %w", s.nodes, s.rate, err)
		}
		rep.Runs = append(rep.Runs, res)
	}
	last := rep.Runs[len(rep.Runs)-1]
	var err error
	if rep.Chain, err = scalesim.ChainCost(ctx, last); err != nil {
		return err
	}
	if rep.Paths, err = scalesim.MeasurePaths(ctx, last, 20); err != nil {
		return err
	}
	if rep.Model, err = scalesim.Fit(rep.Runs, rep.Chain, rep.Paths); err != nil {
		return err
	}
	rep.Markdown(os.Stdout)
	return nil
}
