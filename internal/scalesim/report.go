package scalesim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// Report is everything one invocation measured and derived.
type Report struct {
	Runs  []*Result
	Chain ChainCosts
	Paths PathCosts
	Model Model
	// Sizes and Rates are the projection's grid; Batches the receipts
	// aggregation factors projected (1 = today).
	Sizes, Rates, Batches []int
	// SmallNode is the requests a small node serves in one epoch, for the
	// tickets' variance.
	SmallNode float64
	// WinProbs are the ticket win probabilities compared.
	WinProbs []float64
}

// Machine describes the host: CPU model, cores, OS and Go version.
func Machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s, %d cores visible to Go (GOMAXPROCS %d), %s/%s, %s",
		model, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func si(v float64) string {
	switch a := v; {
	case a >= 1e12:
		return fmt.Sprintf("%.1f T", v/1e12)
	case a >= 1e9:
		return fmt.Sprintf("%.1f G", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1f M", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f ", v)
}

// Markdown writes the report: the measured table, the chain's costs, the
// fitted model, the projection and the payment designs' figures.
func (r *Report) Markdown(w io.Writer) {
	m := r.Model
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Machine: %s.\n\n", Machine())
	p("### Measured\n\n")
	p("Per node and receipt (means over the nodes): GossipSub RPC bytes sent and received (of them control), copies of each receipt received, receipts per verified gossip batch (the pool's batch window: up to 256, each waiting at most 10 ms), CPU (the process's CPU time less its idle rate, over nodes × receipts), pool writes (keys and values) and pebble's directory size once closed; p50/p99 is the delay from the serving node's signature to another node's acceptance; dropped counts the copies GossipSub dropped, all nodes (a peer's send queue full, or validation queue full or throttled).\n\n")
	p("| nodes | req/s | receipts | all held | absorbed/s | sent B | received B | of it control B | copies | verify batch | CPU µs | pool writes B | pebble disk B | p50 ms | p99 ms | dropped |\n")
	p("|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Runs {
		held := "yes"
		if !x.Complete() {
			held = fmt.Sprintf("%.1f%%", 100*float64(x.Held)/float64(x.Nodes*x.Receipts))
		}
		disk := "–"
		if x.Pebble {
			disk = fmt.Sprintf("%.0f", x.DiskPerReceipt())
		}
		p("| %d | %d | %d | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.1f | %.0f | %.0f | %s | %.1f | %.1f | %d |\n",
			x.Nodes, x.Rate, x.Receipts, held, x.Achieved(), x.SentPerReceipt(), x.RecvPerReceipt(), x.ControlPerReceipt(),
			x.CopiesPerReceipt(), x.BatchSize(), x.CPUPerReceipt(), x.StorePerReceipt(), disk,
			float64(x.LatencyP50.Microseconds())/1000, float64(x.LatencyP99.Microseconds())/1000,
			x.Gossip.Dropped+x.Gossip.Throttled)
	}
	c := r.Chain
	p("\n### Chain, per receipt\n\n")
	p("%d receipts of the last run, in %d SubmitReceipts txs of up to %d, applied to a ledger in one block, then their epoch closed.\n\n", c.Receipts, c.Txs, BatchSize)
	p("| SubmitReceipts tx B | ledger writes B | ledger state B (epoch open) | ledger state B (epoch closed) | mean charge (usd units) |\n")
	p("|---:|---:|---:|---:|---:|\n")
	p("| %.0f | %.0f | %.0f | %.0f | %.0f |\n", c.TxPerReceipt(), c.LedgerWritePerReceipt(), c.StatePerReceipt(), c.ClosedStatePerReceipt(), c.MeanCharge())

	p("\n### Model\n\n")
	p("- copies of a receipt a node receives (N = %d): c = %.2f; bytes per copy on the stream: s = %.0f\n", m.LargestN, m.Copies, m.Message)
	p("- control bytes per receipt per gossip target: k = %.1f (bytes per IHAVE id: %.1f); targets T(P) = min(P − %d, max(%d, %.2f·(P − %d))) for P topic peers\n",
		m.ControlPerTarget, m.IDBytes, MeshDegree, GossipLazy, GossipFactor, MeshDegree)
	p("- CPU per node per receipt at R receipts/s: a + f/R with a = %.0f µs, f = %.0f µs·receipts/s (%.1f ms of CPU a second) (least squares over the runs; plain mean %.0f µs); the verifier alone (receipt.Verify, one receipt after another): %.0f µs; the serving node's signature (once per receipt): %.0f µs\n",
		m.AdmitCPU, m.Overhead, m.Overhead/1000, m.MeanCPU, m.VerifyCPU, m.SignCPU)
	p("- pool writes per node per receipt: w = %.0f B", m.Store)
	if m.Disk > 0 {
		p("; pebble on disk: %.0f B", m.Disk)
	}
	p("\n- chain per receipt: tx = %.0f B, ledger state after close = %.0f B\n", c.TxPerReceipt(), c.ClosedStatePerReceipt())
	p("\nFor R receipts/s: received B/s per node = R·(c·s + k·T), capped for IHAVE at T·min(%d·R, %d)·id bytes; sent ≈ received; cores = R·(a + f/R)/10⁶; pool bytes/day = 86,400·R·w; chain bytes/day = 86,400·R·tx.\n",
		GossipHistory, MaxIHaveLength)

	p("\n### Projection\n\n")
	p("P = min(N − 1, %d) topic peers (the connection manager's low water). Batch = requests per receipt gossiped or settled: 1 is today's design (one receipt per request, gossiped and settled); with sessions of 20 requests, gossip carries two receipts per session (batch 10: its opening and its last) and the chain one (batch 20: its last). Chain load against %d receipts/s (today) and %d (today, both cores taken by other work).\n\n", ConnLow, ChainToday, ChainLoaded)
	p("| nodes | req/s | batch | receipts/s | per-node in (B/s) | per-node link in+out (Gbit/s) | admission cores/node | pool writes/day/node (B) | chain tx/day (B) | ledger state/day (B) | chain load at %d/s | chain load at %d/s |\n", ChainToday, ChainLoaded)
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, b := range r.Batches {
		for _, n := range r.Sizes {
			for _, rate := range r.Rates {
				x := m.Project(n, rate, b)
				p("| %d | %d | %d | %s | %sB | %.2f | %.2f | %sB | %sB | %sB | %.1f× | %.1f× |\n",
					n, rate, b, si(x.Receipts), si(x.Total), 2*x.Total*8/1e9, x.Cores, si(x.StorePerDay),
					si(x.ChainTxPerDay), si(x.ChainStatePerDay), x.ChainLoadToday, x.ChainLoadLoaded)
			}
		}
	}
	p("\nOne chain saturates at about %d requests/s today (%d with both cores taken by other work; one receipt per request); verification alone bounds a validator at %d receipts/s per core. A node's admission saturates one core at (10⁶ − f)/a = %.0f receipts/s.\n",
		ChainToday, ChainLoaded, VerifyBound, (1e6-m.Overhead)/m.AdmitCPU)

	p("\n### Probabilistic tickets\n\n")
	p("Charge per request = the measured mean, %.0f usd units. A small node serving %.0f requests an epoch.\n\n", c.MeanCharge(), r.SmallNode)
	p("| win prob | face value (usd units) | winners/s at %d req/s | at %d req/s | small node income CV | P(no win in epoch) | client reserve for %d nodes (usd units) | for %d nodes |\n",
		r.Rates[0], r.Rates[len(r.Rates)-1], r.Sizes[0], r.Sizes[len(r.Sizes)-1])
	p("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, wp := range r.WinProbs {
		t := Tickets{WinProb: wp, Charge: c.MeanCharge()}
		p("| 1/%.0f | %s | %.0f | %.0f | %.2f | %.2g | %s | %s |\n", 1/wp, si(t.Face()), t.Winners(float64(r.Rates[0])), t.Winners(float64(r.Rates[len(r.Rates)-1])),
			t.CV(r.SmallNode), t.PNothing(r.SmallNode), si(t.Reserve(r.Sizes[0])), si(t.Reserve(r.Sizes[len(r.Sizes)-1])))
	}
}
