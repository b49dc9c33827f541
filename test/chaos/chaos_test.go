package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/node/identity"
)

// envDuration reads a duration from the environment.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	return env(t, name, def, time.ParseDuration)
}

// envInt reads an integer from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	return env(t, name, def, strconv.Atoi)
}

// env reads name from the environment with parse; def when it is unset.
func env[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := parse(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// Node states as the fault driver sets them.
const (
	stateUp          = "up"
	stateKilled      = "killed"
	statePaused      = "paused"
	statePartitioned = "partitioned"
	stateRecovering  = "recovering"
	stateLagging     = "lagging" // back, but not caught up in time
)

// faultRow is one injected fault.
type faultRow struct {
	N          int
	At         time.Duration
	Kind       string
	Node       int
	Held       time.Duration
	Recovered  string // time from heal to caught up, or why not
	BeforeHeal string // the node's height against the others' just before the heal
}

// sample is the chain as the monitor saw it.
type sample struct {
	at   time.Duration
	up   int   // validators up and not faulted
	maxH int64 // the highest height any node reported
}

// campaign is the shared state of the fault driver and the monitor.
type campaign struct {
	d     *devnet
	start time.Time

	mu      sync.Mutex
	state   []string
	samples []sample
	faults  []faultRow
}

func (c *campaign) set(i int, s string) {
	c.mu.Lock()
	c.state[i] = s
	c.mu.Unlock()
}

func (c *campaign) get(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state[i]
}

// monitor samples every node's height each second until ctx ends.
func (c *campaign) monitor(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		hs := c.heights(1500 * time.Millisecond)
		c.mu.Lock()
		s := sample{at: time.Since(c.start)}
		for i, h := range hs {
			s.maxH = max(s.maxH, h)
			if c.state[i] == stateUp {
				s.up++
			}
		}
		c.samples = append(c.samples, s)
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// heights asks every node for its height at once.
func (c *campaign) heights(timeout time.Duration) []int64 {
	hs := make([]int64, len(c.d.nodes))
	var wg sync.WaitGroup
	for i, n := range c.d.nodes {
		wg.Go(func() { hs[i] = fomotest.Height(n.API(), timeout) })
	}
	wg.Wait()
	return hs
}

// caughtUp waits until node i is within two blocks of the highest other
// node and says how long that took, or why it did not happen.
func (c *campaign) caughtUp(i int, within time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < within {
		hs := c.heights(2 * time.Second)
		var top int64
		for j, h := range hs {
			if j != i {
				top = max(top, h)
			}
		}
		if hs[i] > 0 && hs[i] >= top-2 {
			return time.Since(start), true
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Since(start), false
}

// longestStall is the longest time the highest height stood still while at
// least three validators were up throughout.
func longestStall(samples []sample) (stall time.Duration, at time.Duration) {
	var since time.Duration
	var lastH int64 = -1
	for _, s := range samples {
		if s.up < 3 {
			lastH = -1
			continue
		}
		if lastH < 0 || s.maxH > lastH {
			lastH, since = s.maxH, s.at
			continue
		}
		if d := s.at - since; d > stall {
			stall, at = d, since
		}
	}
	return stall, at
}

// TestChaos is the fault campaign: see the package documentation and
// docs/reliability.md. CHAOS_DURATION (required) bounds the faults,
// CHAOS_SEED picks them, CHAOS_FAULTS caps their count, CHAOS_EPOCH sets
// the epoch, CHAOS_CLIENTS the number of clients and CHAOS_OUT names a
// file for the report in Markdown.
func TestChaos(t *testing.T) {
	if os.Getenv("CHAOS_DURATION") == "" {
		t.Skip("the fault campaign runs with CHAOS_DURATION set: make chaos")
	}
	duration := envDuration(t, "CHAOS_DURATION", 3*time.Minute)
	seed := uint64(envInt(t, "CHAOS_SEED", 1))
	maxFaults := envInt(t, "CHAOS_FAULTS", 1000)
	epoch := envDuration(t, "CHAOS_EPOCH", 10*time.Second)
	clients := envInt(t, "CHAOS_CLIENTS", 3)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	part := newPartitioner()
	defer part.close()
	bin := fomotest.BuildBinary(t)
	d := startDevnet(t, bin, epoch)
	c := &campaign{d: d, start: time.Now(), state: make([]string, validators)}
	for i := range c.state {
		c.state[i] = stateUp
	}
	defer func() {
		if t.Failed() {
			for _, n := range d.nodes {
				t.Logf("node%d log tail:\n%s", n.i, tail(filepath.Join(n.home, "node.log"), 15))
			}
		}
	}()

	cl := d.userClient(t, 20*time.Second)
	user := identity.PeerID(cl.key).String()

	monCtx, stopMon := context.WithCancel(context.Background())
	var monWG sync.WaitGroup
	monWG.Go(func() { c.monitor(monCtx) })
	trafficCtx, stopTraffic := context.WithCancel(context.Background())
	var trafficWG sync.WaitGroup
	for k := range clients {
		r := rand.New(rand.NewPCG(seed+uint64(k)+1, 7))
		trafficWG.Go(func() { cl.run(trafficCtx, k, r, 300*time.Millisecond) })
	}

	// The fault driver: one fault at a time, each on a random node, held a
	// few seconds; the next starts once the node is back and caught up.
	kinds := []string{stateKilled, statePaused}
	if part.ok {
		kinds = append(kinds, statePartitioned)
	}
	end := time.Now().Add(duration)
	for k := 0; k < maxFaults; k++ {
		gap := 2*time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
		kind := kinds[rng.IntN(len(kinds))]
		i := rng.IntN(validators)
		hold := 3*time.Second + time.Duration(rng.Int64N(int64(7*time.Second)))
		if time.Now().Add(gap + hold).After(end) {
			break
		}
		time.Sleep(gap)
		for j := range validators { // a lagging node may have caught up since
			if c.get(j) == stateLagging {
				if _, ok := c.caughtUp(j, time.Second); ok {
					c.set(j, stateUp)
				}
			}
		}
		n := d.nodes[i]
		row := faultRow{N: k + 1, At: time.Since(c.start).Round(time.Second), Kind: kind, Node: i, Held: hold.Round(100 * time.Millisecond)}
		c.set(i, kind)
		beforeHeal := func() {
			hs := c.heights(1500 * time.Millisecond)
			var top int64
			for j, h := range hs {
				if j != i {
					top = max(top, h)
				}
			}
			if hs[i] < 0 {
				row.BeforeHeal = fmt.Sprintf("no answer; others at %d", top)
			} else {
				row.BeforeHeal = fmt.Sprintf("%d; others at %d", hs[i], top)
			}
		}
		switch kind {
		case stateKilled:
			d.kill(n)
			time.Sleep(hold)
			beforeHeal()
			if err := d.restart(n, time.Minute); err != nil {
				row.Recovered = "restart failed: " + err.Error()
			}
		case statePaused:
			_ = syscall.Kill(n.PID(), syscall.SIGSTOP)
			time.Sleep(hold)
			beforeHeal()
			_ = syscall.Kill(n.PID(), syscall.SIGCONT)
		case statePartitioned:
			u, _ := url.Parse(n.API())
			port, _ := strconv.Atoi(u.Port())
			if err := part.isolate(i, n.PID(), port); err != nil {
				row.Recovered = "partition failed: " + err.Error()
			}
			time.Sleep(hold)
			beforeHeal()
			part.heal(i, n.PID())
		}
		c.set(i, stateRecovering)
		if row.Recovered == "" {
			took, ok := c.caughtUp(i, 90*time.Second)
			if ok {
				row.Recovered = took.Round(100 * time.Millisecond).String()
				c.set(i, stateUp)
			} else {
				row.Recovered = "not caught up in 90s"
				c.set(i, stateLagging)
			}
		} else {
			c.set(i, stateLagging)
		}
		t.Logf("fault %d at %s: %s node%d for %s; recovered %s", row.N, row.At, row.Kind, row.Node, row.Held, row.Recovered)
		c.mu.Lock()
		c.faults = append(c.faults, row)
		c.mu.Unlock()
	}
	faultsEnd := time.Since(c.start)

	// Settle: traffic stops, every node catches up, and the epoch that was
	// open when traffic stopped and the next one close.
	stopTraffic()
	trafficWG.Wait()
	for i := range validators {
		if _, ok := c.caughtUp(i, time.Minute); ok {
			c.set(i, stateUp)
		}
	}
	var st chainState
	_ = fomotest.GetJSON(t.Context(), d.nodes[0].API()+"/api/v1/chain", &st, 10*time.Second)
	target := st.State.NextEpoch + 2
	settleBy := time.Now().Add(3*epoch + time.Minute)
	for time.Now().Before(settleBy) {
		if fomotest.GetJSON(t.Context(), d.nodes[0].API()+"/api/v1/chain", &st, 5*time.Second) == nil && st.State.NextEpoch >= target {
			break
		}
		time.Sleep(time.Second)
	}
	settled := st.State.NextEpoch >= target
	stopMon()
	monWG.Wait()

	r := &report{seed: seed, duration: duration, faultsEnd: faultsEnd, partition: part, faults: c.faults,
		outcomes: cl.outcomes(), settledEpochs: settled, user: user}
	r.checkAppHashes(d)
	r.collectPools(t, d, user)
	stall, stallAt := longestStall(c.samples)
	r.stall, r.stallAt, r.samples = stall, stallAt, len(c.samples)

	d.stop() // the ledgers are read from the stopped nodes' datastores
	r.checkLedgers(t, d)
	r.evaluate()
	out := r.markdown()
	fmt.Println(out)
	if path := os.Getenv("CHAOS_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, inv := range r.invariants {
		if !inv.held {
			t.Errorf("invariant failed: %s: %s", inv.name, inv.detail)
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
