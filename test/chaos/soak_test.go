package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
)

// soakRow is one node sampled at one minute.
type soakRow struct {
	at         time.Duration
	node       int
	rss        float64 // bytes
	goroutines float64
	fds        float64
	pebble     int64         // bytes under the node's datastore
	p99        time.Duration // of the requests that finished since the last sample
	requests   int
	errors     int
}

// flatness bounds how much a metric may grow: the last third's average
// may exceed the first third's by rel plus floor.
type flatness struct {
	name  string
	rel   float64
	floor float64
	get   func(soakRow) float64
	unit  string
}

var soakGates = []flatness{
	{"rss", 0.25, 32 << 20, func(r soakRow) float64 { return r.rss }, "MiB"},
	{"goroutines", 0.20, 25, func(r soakRow) float64 { return r.goroutines }, ""},
	{"open fds", 0.20, 16, func(r soakRow) float64 { return r.fds }, ""},
	{"p99 latency", 0.50, float64(250 * time.Millisecond), func(r soakRow) float64 { return float64(r.p99) }, "ms"},
}

// TestSoak sends steady traffic through a devnet for SOAK_DURATION and
// samples each node every SOAK_INTERVAL (1m): RSS, goroutines, open fds,
// the pebble directory's size and the p99 latency of its requests. It
// writes the samples as CSV and Markdown to SOAK_OUT (a directory,
// default the test's temporary one) and passes when the profile is flat
// (soakGates). The datastore grows with the chain by design; its growth is
// reported, not gated.
func TestSoak(t *testing.T) {
	if os.Getenv("SOAK_DURATION") == "" {
		t.Skip("the soak runs with SOAK_DURATION set: make soak DURATION=30m")
	}
	duration := envDuration(t, "SOAK_DURATION", 30*time.Minute)
	interval := envDuration(t, "SOAK_INTERVAL", time.Minute)
	outDir := os.Getenv("SOAK_OUT")
	if outDir == "" {
		outDir = t.TempDir()
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := fomotest.BuildBinary(t)
	d := startDevnet(t, bin, envDuration(t, "SOAK_EPOCH", 20*time.Second))
	cl := d.userClient(t, 30*time.Second)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for k := range envInt(t, "SOAK_CLIENTS", 2) {
		r := rand.New(rand.NewPCG(uint64(k)+1, 11))
		wg.Go(func() { cl.run(ctx, k, r, 500*time.Millisecond) })
	}

	var rows []soakRow
	seen := 0
	start := time.Now()
	for tick := 1; time.Since(start) < duration; tick++ {
		time.Sleep(time.Until(start.Add(time.Duration(tick) * interval)))
		var fresh []outcome
		fresh, seen = cl.since(seen)
		byNode := map[int]nodeLatencies{}
		for _, o := range fresh {
			l := byNode[o.Node]
			if o.Status == 200 && o.Completed {
				l.ok = append(l.ok, o.Latency)
			} else {
				l.errors++
			}
			byNode[o.Node] = l
		}
		for _, n := range d.nodes {
			m, err := metrics(n.API(), "go_goroutines", "fomo_process_resident_memory_bytes", "fomo_process_open_fds")
			if err != nil {
				t.Errorf("node%d metrics: %v", n.i, err)
				continue
			}
			row := soakRow{at: time.Since(start).Round(time.Second), node: n.i, rss: m["fomo_process_resident_memory_bytes"],
				goroutines: m["go_goroutines"], fds: m["fomo_process_open_fds"], pebble: dirSize(filepath.Join(n.home, "datastore"))}
			ls := byNode[n.i]
			row.requests, row.errors = len(ls.ok), ls.errors
			row.p99 = p99(ls.ok)
			rows = append(rows, row)
			t.Logf("%s node%d rss %.0f MiB, %v goroutines, %v fds, pebble %.1f MiB, %d requests (%d errors), p99 %s",
				row.at, n.i, row.rss/(1<<20), row.goroutines, row.fds, float64(row.pebble)/(1<<20), row.requests, row.errors, row.p99)
		}
	}
	stop()
	wg.Wait()

	verdict, ok := soakVerdict(rows)
	md := soakMarkdown(rows, duration, interval, verdict)
	fmt.Println(md)
	if err := os.WriteFile(filepath.Join(outDir, "soak.md"), []byte(md), 0o644); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "soak.csv"), []byte(soakCSV(rows)), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("soak results in %s", outDir)
	if !ok {
		t.Errorf("the profile is not flat:\n%s", verdict)
	}
}

type nodeLatencies struct {
	ok     []time.Duration
	errors int
}

func p99(ls []time.Duration) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ls...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)*99+99)/100-1]
}

// soakVerdict compares, per node and gated metric, the last third of the
// samples with the first third.
func soakVerdict(rows []soakRow) (string, bool) {
	per := map[int][]soakRow{}
	for _, r := range rows {
		per[r.node] = append(per[r.node], r)
	}
	var b strings.Builder
	ok := true
	fmt.Fprintf(&b, "| node | metric | first third | last third | limit | flat |\n|---|---|---|---|---|---|\n")
	for node := range validators {
		rs := per[node]
		if len(rs) < 3 {
			fmt.Fprintf(&b, "| node%d | (fewer than 3 samples) | | | | no |\n", node)
			ok = false
			continue
		}
		third := len(rs) / 3
		avg := func(rs []soakRow, get func(soakRow) float64) float64 {
			var s float64
			for _, r := range rs {
				s += get(r)
			}
			return s / float64(len(rs))
		}
		for _, g := range soakGates {
			first, last := avg(rs[:third], g.get), avg(rs[len(rs)-third:], g.get)
			limit := first*(1+g.rel) + g.floor
			flat := last <= limit
			ok = ok && flat
			fmt.Fprintf(&b, "| node%d | %s | %s | %s | %s | %s |\n", node, g.name, unit(first, g.unit), unit(last, g.unit), unit(limit, g.unit), yesNo(flat))
		}
		first, last := rs[0], rs[len(rs)-1]
		mins := (last.at - first.at).Minutes()
		growth := 0.0
		if mins > 0 {
			growth = float64(last.pebble-first.pebble) / (1 << 20) / mins
		}
		fmt.Fprintf(&b, "| node%d | pebble size (not gated) | %.1f MiB | %.1f MiB | %+.2f MiB/min | — |\n", node,
			float64(first.pebble)/(1<<20), float64(last.pebble)/(1<<20), growth)
	}
	return b.String(), ok
}

func unit(v float64, u string) string {
	switch u {
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case "ms":
		return fmt.Sprintf("%.0f ms", v/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f", v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func soakMarkdown(rows []soakRow, duration, interval time.Duration, verdict string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Soak: %s, a sample every %s\n\n", duration, interval)
	fmt.Fprintf(&b, "| at | node | RSS MiB | goroutines | fds | pebble MiB | requests | errors | p99 ms |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | node%d | %.1f | %.0f | %.0f | %.1f | %d | %d | %d |\n", r.at, r.node, r.rss/(1<<20), r.goroutines, r.fds,
			float64(r.pebble)/(1<<20), r.requests, r.errors, r.p99.Milliseconds())
	}
	fmt.Fprintf(&b, "\nFlat: for each node, the last third's average is at most the first third's times (1 + rel) plus a floor "+
		"(RSS 25%% + 32 MiB, goroutines 20%% + 25, fds 20%% + 16, p99 50%% + 250 ms).\n\n%s", verdict)
	return b.String()
}

func soakCSV(rows []soakRow) string {
	var b strings.Builder
	b.WriteString("seconds,node,rss_bytes,goroutines,open_fds,pebble_bytes,requests,errors,p99_ms\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%.0f,%d,%.0f,%.0f,%.0f,%d,%d,%d,%d\n", r.at.Seconds(), r.node, r.rss, r.goroutines, r.fds, r.pebble,
			r.requests, r.errors, r.p99.Milliseconds())
	}
	return b.String()
}
