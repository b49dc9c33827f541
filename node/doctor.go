package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/chain"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// The doctor gathers facts from the running parts (gather), then judges
// them with pure functions (diagnose and the check* functions below), so
// that the judgement is tested without a node.

// Bounds of a diagnosis.
const (
	// doctorLookupTimeout bounds one DHT or chain lookup.
	doctorLookupTimeout = 10 * time.Second
	// doctorMaxPending bounds the unsettled receipts counted.
	doctorMaxPending = 100_000
	// clockWarnSkew and clockFailSkew judge how far the last block's
	// time is ahead of this node's clock.
	clockWarnSkew = 2 * time.Second
	clockFailSkew = 10 * time.Second
	// chainBehindBlocks is how many blocks behind its peers the chain
	// may be before doctor warns.
	chainBehindBlocks = 3
)

// doctorFacts is what the checks judge.
type doctorFacts struct {
	now time.Time

	gpuDriver string
	gpus      []gpu.Status

	runtimes []runtimeFact
	models   []modelFact

	requireManifest   bool
	autoNAT           bool
	forceReachability string
	p2p               p2p.Status
	// peerLeads are how far ahead of this clock the connected peers'
	// latest capacity adverts are dated (negative: in the past).
	peerLeads []time.Duration
	// advertsIgnored counts the peers' adverts dropped as dated out of
	// this node's time window (capacity.DefaultMaxSkew ahead, or
	// capacity.DefaultMaxAge old).
	advertsIgnored uint64

	chain    *chainFacts // nil: chain.enabled is false
	receipts receiptFacts
}

// runtimeFact is one configured runtime.
type runtimeFact struct {
	name, kind string
	health     runtime.Health
	// running: the runtime is in the registry (it started).
	running bool
	gpus    []int
	minFree uint64
}

// modelFact is one model the node serves.
type modelFact struct {
	id, runtime string
	// manifest is the model's manifest in the DHT; nil with manifestErr
	// when the lookup failed (models.ErrNotFound: there is none).
	manifest    *models.Signed
	manifestErr error
	// weights is the weights file the node serves (the built-in engine);
	// "" when the runtime does not show it to the node.
	weights    string
	weightsErr error
	// announced: the node provides the model in the DHT; held says why
	// it does not.
	announced bool
	held      string
	// registered is the chain's record (nil: not registered);
	// registryErr, a failed lookup.
	registered  *ledger.Model
	registryErr error
}

// chainFacts is the node's view of the settlement chain.
type chainFacts struct {
	self          string
	height        int64
	peerHeight    int64 // the highest height a peer is deciding; 0: unknown
	catchingUp    bool
	peers         int
	soleValidator bool
	blockTime     time.Time // zero before the first block
	blockInterval time.Duration
	node          *ledger.Node // nil: not registered
	nodeErr       error
	submitter     chain.SubmitterStats
}

// receiptFacts is the state of this node's receipts.
type receiptFacts struct {
	// enabled: the node keeps a receipt pool (it is on the network).
	enabled bool
	// pending counts the receipts paying this node that the chain has
	// not settled; capped when there were more than doctorMaxPending.
	pending    int
	capped     bool
	pendingErr error
	gossip     pool.Stats
}

// doctor answers GET /api/v1/doctor (api.Doctor).
type doctor Node

// Diagnose implements api.Doctor.
func (d *doctor) Diagnose(ctx context.Context) api.DoctorReport {
	n := (*Node)(d)
	f := n.gather(ctx)
	return api.DoctorReport{PeerID: n.id.String(), CheckedAt: f.now.UTC(), Checks: diagnose(f)}
}

// gather reads the facts from the running parts. The DHT and chain
// lookups of the models run side by side, each bounded.
func (n *Node) gather(ctx context.Context) doctorFacts {
	f := doctorFacts{
		now:               n.opts.now(),
		gpuDriver:         n.gpus.Driver(),
		gpus:              n.monitor.Latest(),
		requireManifest:   n.cfg.P2P.RequireManifest,
		autoNAT:           n.cfg.P2P.AutoNAT,
		forceReachability: n.cfg.P2P.ForceReachability,
		p2p:               n.host.Status(),
	}
	running := map[string]runtime.Runtime{}
	for _, rt := range n.models.Runtimes() {
		running[rt.Name()] = rt
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	for _, rc := range n.cfg.Runtime {
		rf := runtimeFact{name: rc.Name, kind: rc.Kind, gpus: rc.GPUs, minFree: uint64(rc.MinFreeMemory)}
		if rt, ok := running[rc.Name]; ok {
			rf.running, rf.health = true, rt.Health(hctx)
		}
		f.runtimes = append(f.runtimes, rf)
	}
	cancel()

	if n.chain != nil {
		f.chain = n.chainFacts(ctx)
	}
	served := n.models.Models()
	f.models = make([]modelFact, len(served))
	var wg sync.WaitGroup
	for i, m := range served {
		f.models[i] = modelFact{id: m.ID, runtime: m.Runtime, weights: n.modelFiles[m.Runtime]}
		wg.Go(func() { n.modelFacts(ctx, &f.models[i]) })
	}
	wg.Wait()
	slices.SortFunc(f.models, func(a, b modelFact) int { return strings.Compare(a.id, b.id) })

	if n.net != nil {
		for _, p := range n.host.Network().Peers() {
			if a, ok := n.net.capacity.Get(p); ok {
				f.peerLeads = append(f.peerLeads, a.Time.Sub(f.now))
			}
		}
		f.advertsIgnored = n.net.capacity.Stats().Ignored
		f.receipts = receiptFacts{enabled: true, gossip: n.net.pool.Stats()}
		f.receipts.pending, f.receipts.capped, f.receipts.pendingErr = n.pendingReceipts(ctx)
	}
	return f
}

// modelFacts looks up a served model's manifest, checks its weights and
// reads its registration on chain.
func (n *Node) modelFacts(ctx context.Context, m *modelFact) {
	if n.net != nil {
		n.net.mu.Lock()
		m.announced, m.held = n.net.provided[m.id], n.net.held[m.id]
		n.net.mu.Unlock()
		lctx, cancel := context.WithTimeout(ctx, doctorLookupTimeout)
		m.manifest, m.manifestErr = n.net.models.Get(lctx, m.id)
		cancel()
		if m.manifest != nil && m.weights != "" {
			m.weightsErr = n.verifyWeights(m.weights, m.manifest.Manifest)
		}
	}
	if n.chain != nil {
		reg, ok, err := n.chain.app.Model(ctx, m.id)
		switch {
		case err != nil:
			m.registryErr = err
		case ok:
			m.registered = &reg
		}
	}
}

// chainFacts reads the chain's head, this node's registration and the
// submitter's counts.
func (n *Node) chainFacts(ctx context.Context) *chainFacts {
	s := n.chain
	st := s.cons.Status()
	c := &chainFacts{self: n.id.String(), height: st.Height, catchingUp: st.CatchingUp, peers: st.Peers,
		blockInterval: n.cfg.Chain.BlockInterval.D(), submitter: s.sub.Stats()}
	if vs := n.genesis.Validators; len(vs) == 1 && vs[0].PeerID == c.self {
		c.soleValidator = true
	}
	if ms := c.submitter.TimeMs; ms > 0 {
		c.blockTime = time.UnixMilli(ms)
	}
	qctx, cancel := context.WithTimeout(ctx, doctorLookupTimeout)
	defer cancel()
	if h, err := s.cons.PeerHeight(qctx); err == nil {
		c.peerHeight = h
	}
	b, err := s.cons.Query(qctx, "/node/"+c.self, nil)
	switch {
	case errors.Is(err, consensus.ErrNotFound):
	case err != nil:
		c.nodeErr = err
	default:
		var nd ledger.Node
		if err := json.Unmarshal(b, &nd); err != nil {
			c.nodeErr = fmt.Errorf("decoding the chain's record of this node: %w", err)
		} else {
			c.node = &nd
		}
	}
	return c
}

// pendingReceipts counts the unsettled receipts that pay this node.
func (n *Node) pendingReceipts(ctx context.Context) (count int, capped bool, err error) {
	err = n.net.pool.Unsettled(ctx, func(e pool.Entry) bool {
		if e.Node != n.id {
			return true
		}
		count++
		capped = count >= doctorMaxPending
		return !capped
	})
	return count, capped, err
}

// weightsCheck is a weights file found to match a manifest: its hash is
// read again only when the file or the manifest changes.
type weightsCheck struct {
	size    int64
	modTime time.Time
	sha256  string
}

// verifyWeights checks the weights file against the manifest. A match is
// remembered for that version of the file and of the manifest: the check
// before announcing a model hashes the file, and the doctor's later checks
// find it done. A mismatch or a read error is checked again each time.
func (n *Node) verifyWeights(path string, m models.Manifest) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("weights of %s: %w", m.Name, err)
	}
	n.doctorMu.Lock()
	c, ok := n.weightsChecked[path]
	n.doctorMu.Unlock()
	if ok && c.size == st.Size() && c.modTime.Equal(st.ModTime()) && c.sha256 == m.Weights.SHA256 {
		return nil
	}
	// Hashing a weights file of many GB takes seconds:
	// say so before and after.
	n.log.Info("hashing weights", "model", m.Name, "path", path, "bytes", st.Size())
	t0 := n.opts.now()
	if err := models.VerifyWeights(path, m); err != nil {
		return err
	}
	n.log.Info("weights match the manifest", "model", m.Name, "took", n.opts.now().Sub(t0).Round(time.Millisecond))
	n.doctorMu.Lock()
	if n.weightsChecked == nil {
		n.weightsChecked = map[string]weightsCheck{}
	}
	n.weightsChecked[path] = weightsCheck{size: st.Size(), modTime: st.ModTime(), sha256: m.Weights.SHA256}
	n.doctorMu.Unlock()
	return nil
}

// diagnose judges the facts: every check, in a stable order.
func diagnose(f doctorFacts) []api.Check {
	out := []api.Check{checkGPU(f)}
	if c, ok := checkGPUMemory(f); ok {
		out = append(out, c)
	}
	out = append(out, checkRuntimes(f)...)
	for _, m := range f.models {
		out = append(out, checkManifest(f, m))
		if f.chain != nil {
			out = append(out, checkModelOnChain(f, m))
		}
	}
	out = append(out, checkNodeOnChain(f), checkReachability(f), checkPeers(f))
	if f.chain != nil {
		out = append(out, checkChainSync(f))
	}
	out = append(out, checkClock(f))
	out = append(out, checkReceipts(f))
	return out
}

func passed(name, detail string) api.Check {
	return api.Check{Name: name, Status: api.CheckOK, Detail: detail}
}

func warned(name, detail, remedy string) api.Check {
	return api.Check{Name: name, Status: api.CheckWarn, Detail: detail, Remedy: remedy}
}

func failed(name, detail, remedy string) api.Check {
	return api.Check{Name: name, Status: api.CheckFail, Detail: detail, Remedy: remedy}
}

// needsGPU reports whether a configured runtime is given GPUs.
func needsGPU(f doctorFacts) bool {
	return slices.ContainsFunc(f.runtimes, func(r runtimeFact) bool { return len(r.gpus) > 0 })
}

func checkGPU(f doctorFacts) api.Check {
	const name = "gpu"
	if len(f.gpus) == 0 {
		detail := "no GPU: CPU runtimes only (driver: " + f.gpuDriver + ")"
		if needsGPU(f) {
			return failed(name, detail+"; a runtime is configured with gpus",
				"install the NVIDIA driver and check that `nvidia-smi` lists the GPUs, set gpu.enabled = true, then restart the node")
		}
		return passed(name, detail)
	}
	var sick []string
	for _, g := range f.gpus {
		if g.Sample != nil && !g.Sample.Healthy {
			sick = append(sick, fmt.Sprintf("gpu %d: %s", g.Index, g.Sample.HealthDetail))
		}
	}
	detail := fmt.Sprintf("%d GPU(s), driver %s", len(f.gpus), f.gpuDriver)
	if len(sick) > 0 {
		return warned(name, detail+"; unhealthy: "+strings.Join(sick, "; "),
			"look at `nvidia-smi -q` and the kernel log (Xid errors); reset or replace the GPU")
	}
	return passed(name, detail)
}

// checkGPUMemory compares each GPU-assigned runtime's min_free_memory
// with the free memory of its GPUs; it is left out when no runtime is
// given GPUs.
func checkGPUMemory(f doctorFacts) (api.Check, bool) {
	const name = "gpu memory"
	if !needsGPU(f) {
		return api.Check{}, false
	}
	var problems, fine []string
	for _, r := range f.runtimes {
		for _, idx := range r.gpus {
			i := slices.IndexFunc(f.gpus, func(g gpu.Status) bool { return g.Index == idx })
			if i < 0 {
				problems = append(problems, fmt.Sprintf("runtime %s is given gpu %d, which this host does not have (%d GPU(s))", r.name, idx, len(f.gpus)))
				continue
			}
			g := f.gpus[i]
			if g.Sample == nil || !g.Sample.Supports(gpu.FieldMemory) {
				fine = append(fine, fmt.Sprintf("gpu %d: free memory unknown", idx))
				continue
			}
			free := g.Sample.MemoryFreeBytes
			switch {
			case r.health.OK || r.minFree == 0:
				// A running runtime holds its memory already.
				fine = append(fine, fmt.Sprintf("gpu %d: %s free of %s", idx, gib(free), gib(g.MemoryTotalBytes)))
			case free < r.minFree:
				problems = append(problems, fmt.Sprintf("runtime %s needs %s free on gpu %d, which has %s free of %s",
					r.name, gib(r.minFree), idx, gib(free), gib(g.MemoryTotalBytes)))
			default:
				fine = append(fine, fmt.Sprintf("gpu %d: %s free, runtime %s needs %s", idx, gib(free), r.name, gib(r.minFree)))
			}
		}
	}
	if len(problems) > 0 {
		return failed(name, strings.Join(problems, "; "),
			"free the GPU memory (`nvidia-smi` shows which processes hold it), or give the runtime other gpus or a lower min_free_memory"), true
	}
	return passed(name, strings.Join(fine, "; ")), true
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

func checkRuntimes(f doctorFacts) []api.Check {
	if len(f.runtimes) == 0 {
		return []api.Check{failed("runtimes", "no runtime configured: this node serves no models",
			"add a [[runtime]] block to config.toml (`fomo init` writes commented examples) and restart the node")}
	}
	served := map[string]int{}
	for _, m := range f.models {
		served[m.runtime]++
	}
	var out []api.Check
	for _, r := range f.runtimes {
		name := "runtime " + r.name
		switch {
		case !r.running:
			out = append(out, failed(name, "not running", "see the node's log for runtime "+r.name))
		case !r.health.OK:
			detail := r.kind + ": " + r.health.Status
			if r.health.Detail != "" {
				detail += ": " + r.health.Detail
			}
			out = append(out, failed(name, detail, runtimeRemedy(r)))
		case served[r.name] == 0:
			out = append(out, warned(name, r.kind+": "+r.health.Status+", but it lists no model",
				"check that the runtime loads its model (for kind = openai, the upstream's GET /v1/models)"))
		default:
			out = append(out, passed(name, fmt.Sprintf("%s: %s, %d model(s)", r.kind, r.health.Status, served[r.name])))
		}
	}
	return out
}

func runtimeRemedy(r runtimeFact) string {
	switch r.kind {
	case configs.KindOpenAI:
		return "check that the upstream at the runtime's url answers GET /v1/models"
	case configs.KindSupervise:
		return "see the node's log for the child's output; check the command, health_url and the GPUs it is given"
	case configs.KindEngine:
		return "check the runtime's model file (a .gguf) and the node's log"
	}
	return "see the node's log for runtime " + r.name
}

func checkManifest(f doctorFacts, m modelFact) api.Check {
	name := "manifest " + m.id
	announce := "its issuer signs and publishes one: `fomo model announce MANIFEST.toml`"
	switch {
	case m.manifest == nil && m.manifestErr == nil:
		return warned(name, "not checked: this node is not on the peer-to-peer network", "")
	case errors.Is(m.manifestErr, models.ErrNotFound):
		why := "peers cannot check what it serves, and the model cannot be registered on chain"
		if f.requireManifest {
			why = "the node serves it to local clients only and does not announce it to the network (p2p.require_manifest)"
		}
		return failed(name, fmt.Sprintf("no manifest for %q in the network: %s", m.id, why), announce)
	case errors.Is(m.manifestErr, context.DeadlineExceeded):
		return warned(name, fmt.Sprintf("looking up the manifest of %q did not finish in time: %v", m.id, m.manifestErr),
			"run doctor again; if it persists, check the peers below")
	case m.manifestErr != nil:
		return failed(name, fmt.Sprintf("the manifest of %q could not be found: %v", m.id, m.manifestErr),
			"connect the node to peers (p2p.bootstrap); if the network has none, "+announce)
	case m.weightsErr != nil:
		return failed(name, fmt.Sprintf("the weights served do not match the manifest: %v", m.weightsErr),
			"serve the exact file the manifest names (sha256 and size; `sha256sum` the file), or have the issuer announce a manifest for it")
	}
	sum := m.manifest.Hash()
	detail := fmt.Sprintf("seq %d, sha256 %s", m.manifest.Manifest.Seq, hex.EncodeToString(sum[:])[:16])
	if m.weights != "" {
		detail += "; weights match"
	} else {
		detail += "; weights not checked (the runtime does not show its weights file)"
	}
	if !m.announced && f.requireManifest {
		return warned(name, detail+"; not announced yet: "+m.held, "wait for the next announcement (api.model_refresh) or see the node's log")
	}
	return passed(name, detail)
}

func checkModelOnChain(f doctorFacts, m modelFact) api.Check {
	name := "chain model " + m.id
	reg := m.registered
	switch {
	case m.registryErr != nil:
		return warned(name, "reading the chain's registry failed: "+m.registryErr.Error(), "retry once the chain is synced")
	case reg == nil:
		return failed(name, fmt.Sprintf("%q is not registered on the settlement chain: its receipts are refused (model_unknown)", m.id),
			"its issuer registers it: `fomo model register "+m.id+"`")
	}
	if m.manifest != nil {
		sum := m.manifest.Hash()
		if got := hex.EncodeToString(sum[:]); got != reg.ManifestSHA256 {
			return failed(name, fmt.Sprintf("the chain binds %q to manifest %s, the network's is %s: the node does not announce it", m.id, reg.ManifestSHA256, got),
				"the issuer announces the registered manifest again, or serve the model it names")
		}
		mf := m.manifest.Manifest
		if mf.InputPrice != reg.InputPrice || mf.OutputPrice != reg.OutputPrice {
			return failed(name, fmt.Sprintf("the manifest prices %d/%d, the chain %d/%d: receipts are refused (price_mismatch)",
				mf.InputPrice, mf.OutputPrice, reg.InputPrice, reg.OutputPrice),
				"the issuer announces a manifest at the registered prices")
		}
	}
	if !slices.Contains(reg.Nodes, f.chain.self) {
		return failed(name, fmt.Sprintf("registered, but this node is not declared as serving it: its receipts are refused (%s)", ledger.CodeNotServing),
			"declare it: `fomo model serve "+m.id+"` (the node must be registered first)")
	}
	return passed(name, fmt.Sprintf("registered (tier %s, prices %d/%d), served by %d node(s) on chain, this one included",
		reg.Tier, reg.InputPrice, reg.OutputPrice, len(reg.Nodes)))
}

func checkNodeOnChain(f doctorFacts) api.Check {
	const name = "chain node"
	c := f.chain
	switch {
	case c == nil:
		return warned(name, "chain.enabled = false: this node cannot see its registration, and its receipts settle only through other nodes",
			"set chain.enabled = true and restart the node")
	case c.nodeErr != nil:
		return warned(name, "reading this node's registration failed: "+c.nodeErr.Error(), "retry once the chain is synced")
	case c.node == nil && c.catchingUp:
		return warned(name, "not registered at the height the chain has reached; it is still catching up", "wait for the chain to sync, then run doctor again")
	case c.node == nil:
		return failed(name, "this node is not registered on chain: it cannot declare the models it serves, and is not paid",
			"bond FLOCK: `fomo node register --bond AMOUNT`")
	}
	return passed(name, fmt.Sprintf("registered, bond %d", c.node.Bond))
}

func checkReachability(f doctorFacts) api.Check {
	const name = "reachability"
	var public []string
	for _, a := range f.p2p.Advertised {
		if ma, err := multiaddr.NewMultiaddr(a); err == nil && manet.IsPublicAddr(ma) {
			public = append(public, a)
		}
	}
	addrs := "no public address"
	if len(public) > 0 {
		addrs = "public addresses: " + strings.Join(public, ", ")
	}
	relay := ""
	if len(f.p2p.Relay) > 0 {
		relay = fmt.Sprintf("; %d relay address(es)", len(f.p2p.Relay))
	}
	detail := "AutoNAT: " + f.p2p.Reachability + "; " + addrs + relay
	switch f.p2p.Reachability {
	case p2p.ReachabilityPublic:
		if f.forceReachability == "public" {
			return passed(name, "forced public (p2p.force_reachability); "+addrs+relay)
		}
		return passed(name, detail)
	case p2p.ReachabilityPrivate:
		if len(f.p2p.Relay) > 0 {
			return warned(name, detail, "peers reach this node through its relays, more slowly: forward the p2p port to this host for direct connections")
		}
		return warned(name, detail+": peers cannot dial this node, so few requests reach it",
			"forward the p2p port (p2p.listen) to this host, or set p2p.static_relays")
	}
	if !f.autoNAT {
		return warned(name, detail+" (p2p.autonat = false)", "set p2p.autonat = true, or p2p.force_reachability = \"public\" on a host with a public address")
	}
	return warned(name, detail+": not determined yet", "wait a few minutes after start; it needs peers that can dial back")
}

func checkPeers(f doctorFacts) api.Check {
	const name = "peers"
	detail := fmt.Sprintf("%d connected, DHT routing table %d", f.p2p.Peers, f.p2p.DHTPeers)
	switch {
	case f.p2p.Peers == 0:
		return failed(name, detail+": no peer can send this node requests or learn its models",
			"check p2p.bootstrap and p2p.network, and that outbound connections are allowed")
	case f.p2p.DHTPeers == 0:
		return warned(name, detail+": the node cannot announce or find models", "wait for the DHT to fill, or add p2p.bootstrap peers")
	}
	return passed(name, detail)
}

func checkChainSync(f doctorFacts) api.Check {
	const name = "chain sync"
	c := f.chain
	detail := fmt.Sprintf("height %d, %d chain peer(s)", c.height, c.peers)
	if c.peerHeight > 0 {
		detail += fmt.Sprintf(", peers at %d", c.peerHeight-1)
	}
	behind := c.peerHeight - 1 - c.height
	switch {
	case c.catchingUp:
		return warned(name, detail+", catching up: the node's view of registrations and receipts is behind", "wait for it to catch up")
	case c.height == 0:
		return failed(name, detail+": no block yet", "the chain needs 2/3 of its validators' power online; check chain.peers")
	case behind > chainBehindBlocks:
		return warned(name, fmt.Sprintf("%s: %d blocks behind", detail, behind),
			"wait for it to catch up; if the gap grows, check the node's CPU and disk and its chain peers")
	case c.peers == 0 && !c.soleValidator:
		return failed(name, detail+": no chain peer, so this node sees no new blocks",
			"set chain.peers to a validator's CometBFT address (ID@host:port), and check chain.listen is reachable")
	}
	if c.soleValidator {
		detail += ", the only validator"
	}
	return passed(name, detail+", synced")
}

// checkClock compares this node's clock with the last block's time and
// with the dates of the peers' capacity adverts. Authorizations, receipts
// and adverts carry times that others judge against their clocks: a clock
// off by seconds gets receipts refused and adverts dropped.
func checkClock(f doctorFacts) api.Check {
	const name = "clock"
	remedy := "synchronise the clock (NTP: `timedatectl set-ntp true`, chrony)"
	status, notes := api.CheckOK, []string{}
	raise := func(s string) {
		if s == api.CheckFail || status == api.CheckOK {
			status = s
		}
	}
	judgeAhead := func(ahead time.Duration, of string) {
		switch {
		case ahead > clockFailSkew:
			raise(api.CheckFail)
		case ahead > clockWarnSkew:
			raise(api.CheckWarn)
		default:
			return
		}
		notes = append(notes, fmt.Sprintf("this clock is %s behind %s", ahead.Round(time.Millisecond), of))
	}
	if len(f.peerLeads) == 0 && f.advertsIgnored > 0 {
		raise(api.CheckWarn)
		notes = append(notes, fmt.Sprintf("%d peer advert(s) dropped as dated too far ahead or too long ago, and none kept: this clock is likely off", f.advertsIgnored))
	}
	if len(f.peerLeads) > 0 {
		// Adverts are dated when made, so an honest one is never ahead:
		// the median of the peers' is how far behind this clock is.
		leads := slices.Sorted(slices.Values(f.peerLeads))
		med := leads[len(leads)/2]
		judgeAhead(med, fmt.Sprintf("the median of %d peer(s)' adverts", len(leads)))
		if len(notes) == 0 {
			notes = append(notes, fmt.Sprintf("%d peer(s)' adverts agree", len(leads)))
		}
	}
	if c := f.chain; c != nil && !c.blockTime.IsZero() {
		ahead := c.blockTime.Sub(f.now) // > 0: the block is dated after this clock's now
		age := -ahead
		n := len(notes)
		judgeAhead(ahead, "the last block's time")
		switch {
		case len(notes) > n:
		case c.catchingUp:
			notes = append(notes, "the last block's age not judged while catching up")
		case age > max(30*time.Second, 20*c.blockInterval):
			raise(api.CheckWarn)
			notes = append(notes, fmt.Sprintf("the last block (height %d) is %s old: the chain has stalled, or this clock is ahead", c.height, age.Round(time.Second)))
			remedy += "; if the clock is right, check the chain's validators"
		default:
			notes = append(notes, fmt.Sprintf("last block %s ago", max(age, 0).Round(time.Millisecond)))
		}
	}
	if len(notes) == 0 {
		return warned(name, "not checked: no block and no peer's advert to compare with yet", "run doctor again once the node has peers")
	}
	detail := strings.Join(notes, "; ")
	if status == api.CheckOK {
		return passed(name, detail)
	}
	return api.Check{Name: name, Status: status, Detail: detail, Remedy: remedy}
}

// receiptRemedies says what to do about a receipt the chain refused.
var receiptRemedies = map[ledger.Code]string{
	ledger.CodeNotServing:    "declare the model served: `fomo model serve MODEL`",
	ledger.CodeModelUnknown:  "the issuer registers the model: `fomo model register MODEL`",
	ledger.CodePriceMismatch: "serve at the registered prices (the manifest's must equal the chain's)",
	ledger.CodeEpochClosed:   "keep the chain synced and the clock right, so receipts reach the chain within their epoch",
	ledger.CodeTooLate:       "keep the chain synced and the clock right, so receipts reach the chain within their epoch",
	ledger.CodeEpochFuture:   "synchronise the clock (NTP)",
}

func checkReceipts(f doctorFacts) api.Check {
	const name = "receipts"
	r := f.receipts
	if !r.enabled {
		return warned(name, "not checked: this node keeps no receipt pool", "")
	}
	var parts []string
	switch {
	case r.pendingErr != nil:
		parts = append(parts, "counting pending receipts failed: "+r.pendingErr.Error())
	case r.capped:
		parts = append(parts, fmt.Sprintf("more than %d receipts pending settlement", r.pending))
	default:
		parts = append(parts, fmt.Sprintf("%d receipt(s) pending settlement", r.pending))
	}
	if g := reasons(r.gossip.Rejected); g != "" {
		parts = append(parts, "gossiped receipts rejected: "+g)
	}
	if f.chain == nil {
		return passed(name, strings.Join(parts, "; "))
	}
	s := f.chain.submitter
	parts = append(parts, fmt.Sprintf("on chain: %d included", s.Included))
	refused := maps.Clone(s.Refused)
	delete(refused, ledger.CodeDuplicate) // another node submitted it first
	var remedies []string
	if len(refused) > 0 {
		codes := slices.Sorted(maps.Keys(refused))
		var rs []string
		for _, c := range codes {
			rs = append(rs, fmt.Sprintf("%s %d", c, refused[c]))
			if rem, ok := receiptRemedies[c]; ok && !slices.Contains(remedies, rem) {
				remedies = append(remedies, rem)
			}
		}
		parts = append(parts, "refused: "+strings.Join(rs, ", "))
	}
	if s.TxsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d submission(s) failed", s.TxsFailed))
	}
	detail := strings.Join(parts, "; ")
	if len(refused) > 0 || s.TxsFailed > 0 {
		if len(remedies) == 0 {
			remedies = append(remedies, "see the node's log (subsystem=submitter) for why")
		}
		return warned(name, detail, strings.Join(remedies, "; "))
	}
	return passed(name, detail)
}

// reasons formats counts by reason, sorted by reason.
func reasons(m map[string]uint64) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			out = append(out, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(out, ", ")
}
