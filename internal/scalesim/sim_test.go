package scalesim

import (
	"context"
	"testing"
	"time"
)

// TestRun runs 8 nodes on pebble for a second: every receipt reaches every
// node's pool, and the counters are non-zero and agree with each other.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Nodes: 8, Rate: 50, Duration: time.Second, Warmup: 1500 * time.Millisecond, Keep: 100, Pebble: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Receipts != 50 || !res.Complete() {
		t.Fatalf("%d receipts held over %d nodes, want %d of %d each", res.Held, res.Nodes, res.Receipts, 50)
	}
	// Each node accepted each receipt once: the serving node's own
	// (published by Add) and the others' (by the validator).
	if want := uint64(res.Nodes * res.Receipts); res.Accepted != want || res.Rejected != 0 {
		t.Errorf("pools accepted %d and rejected %d, want %d and 0", res.Accepted, res.Rejected, want)
	}
	g := res.Gossip
	if g.SentBytes == 0 || g.SentBytes != g.RecvBytes || g.SentMessages != g.RecvMessages {
		t.Errorf("gossip sent %d B in %d messages, received %d B in %d: want equal and non-zero", g.SentBytes, g.SentMessages, g.RecvBytes, g.RecvMessages)
	}
	// Every node but the serving one receives each receipt at least
	// once; the copies beyond the first are the duplicates.
	if first := int64((res.Nodes - 1) * res.Receipts); g.RecvMessages < first || g.RecvMessages-g.Duplicates > first {
		t.Errorf("%d copies received, %d duplicates: want at least %d, and %d first copies", g.RecvMessages, g.Duplicates, first, first)
	}
	if res.SentPerReceipt() < res.EnvelopeBytes || res.CPU <= 0 || res.StorePerReceipt() < res.EnvelopeBytes || res.DiskBytes == 0 {
		t.Errorf("sent %.0f B, stored %.0f B per receipt and node (envelope %.0f B), CPU %v, disk %d B", res.SentPerReceipt(),
			res.StorePerReceipt(), res.EnvelopeBytes, res.CPU, res.DiskBytes)
	}
	cc, err := ChainCost(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Included != cc.Receipts || cc.Txs != 1 || cc.TxPerReceipt() < res.EnvelopeBytes || cc.ClosedStateBytes <= 0 {
		t.Errorf("chain: %+v (envelope %.0f B)", cc, res.EnvelopeBytes)
	}
	paths, err := MeasurePaths(ctx, res, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit([]*Result{res}, cc, paths)
	if err != nil {
		t.Fatal(err)
	}
	if m.Copies < 1 || m.Message < res.EnvelopeBytes || m.AdmitCPU <= 0 || paths.Verify <= 0 || paths.Sign <= 0 {
		t.Errorf("model %+v", m)
	}
	if p := m.Project(1000, 10000, 20); p.Receipts != 500 || p.Total <= 0 {
		t.Errorf("projection %+v", p)
	}
}

func TestGossipTargets(t *testing.T) {
	for _, c := range []struct {
		peers int
		want  float64
	}{{5, 0}, {9, 3}, {24, 6}, {49, 10.75}, {100, 23.5}} {
		if got := GossipTargets(c.peers); got != c.want {
			t.Errorf("GossipTargets(%d) = %v, want %v", c.peers, got, c.want)
		}
	}
}

func TestTickets(t *testing.T) {
	tk := Tickets{WinProb: 0.001, Charge: 300}
	if tk.Face() != 300_000 || tk.Winners(100_000) != 100 || tk.Reserve(1000) != 300_000_000 {
		t.Errorf("face %v, winners %v, reserve %v", tk.Face(), tk.Winners(100_000), tk.Reserve(1000))
	}
	if cv := tk.CV(3600); cv < 0.52 || cv > 0.53 {
		t.Errorf("CV = %v, want about 0.527", cv)
	}
}
