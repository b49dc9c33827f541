package devnet

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/configs/networks"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The devnet's economics: one tier, the model priced above its floors.
const (
	tier           = "small"
	costPerMTok    = 2_000_000
	minInputPrice  = 3_000_000
	minOutputPrice = 6_000_000
	validatorPower = 10
	userCredit     = 1000e6 // usd base units
)

// The devnet's emissions (DESIGN §9.7), sized so that its traffic (about
// 0.0035 usd of gross an epoch) shows them. The cap lets a model take at
// most its gross valued in FLOCK at the FLOCK/usd pool price, so the
// devnet seeds that pool at 0.0001 usd per FLOCK (the default is 0.1,
// which would cap the devnet's emissions at a few hundredths of a FLOCK):
// of the first epochs' 100 FLOCK budget about a third is emitted and the
// rest stays in the reserve, kept by the cap. The stake-gated pools release
// over an hour instead of 180 days, tens of FLOCK and a thousand MT an
// epoch of 20 s.
const (
	emissionReserve  = 10_000_000e6 // flock base units
	emissionFirst    = 100e6        // the first epoch's budget
	flockPoolFlock   = 10_000_000e6
	flockPoolUSD     = 1_000e6 // usd base units: 0.0001 usd per FLOCK
	incentiveRelease = time.Hour
)

// chainSpec is what devnet puts in a fresh genesis.
type chainSpec struct {
	epoch time.Duration
	// unbonding is the genesis's unbonding_epochs; nil keeps the default.
	unbonding *uint32
	nodes     []peer.ID // validators, in order
	user      peer.ID
	session   peer.ID
	model     string   // registered and served model, or ""
	manifest  []byte   // its signed manifest envelope
	serving   []string // nodes serving it
	// idle is a second model of the same issuer, registered but served by
	// no node and sent no traffic: its emissions stay zero.
	idle         string
	idleManifest []byte
	issuer       peer.ID
	// supporters commit to the model's offering.
	supporters []peer.ID
}

// writeGenesis writes DIR/genesis.toml: a new network whose
// validators are the devnet's nodes, with a funded demo user and its
// session key, the devnet tier and, when one is served, the synthetic model
// registered at its manifest's prices, with FLOCK for its issuer (the
// offering's launch fee) and its supporters, and a raise window of minutes. When DIR/genesis.toml already holds
// that same network (built again with its genesis time), it is kept and
// reused is true: the nodes' chain goes on where it stopped.
func writeGenesis(dir string, c chainSpec) (path string, g *networks.Genesis, reused bool, err error) {
	path = filepath.Join(dir, "genesis.toml")
	if old, err := networks.Load(path); err == nil {
		if g, err := buildGenesis(c, old.GenesisTime); err == nil && g.ID() == old.ID() {
			return path, g, true, nil
		}
	}
	if g, err = buildGenesis(c, time.Now().UTC().Truncate(time.Second)); err != nil {
		return "", nil, false, err
	}
	b, err := g.Encode()
	if err != nil {
		return "", nil, false, err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", nil, false, err
	}
	// The devnet's protocol key (public seed) signs deposits: fomo deposit
	// --key-name protocol --home DIR.
	pk := filepath.Join(dir, "keys", "protocol.key")
	if _, err := os.Stat(pk); os.IsNotExist(err) {
		if err := identity.Save(pk, networks.DevnetProtocolKey()); err != nil {
			return "", nil, false, err
		}
	}
	return path, g, false, nil
}

// buildGenesis builds the devnet's genesis starting at start.
func buildGenesis(c chainSpec, start time.Time) (*networks.Genesis, error) {
	g := networks.Devnet()
	g.Development = true // its nodes pay for keyless requests (auth.open_access_key)
	g.GenesisTime = start
	g.EpochLength = networks.Duration(c.epoch)
	g.Chain.EpochGrace = networks.Duration(min(c.epoch/4, 5*time.Second))
	g.Tiers = []networks.Tier{{Name: tier, CostPerMtok: costPerMTok, MinInputPrice: minInputPrice,
		MinOutputPrice: minOutputPrice, RaiseMin: 10_000e6, RaiseMax: 1_000_000e6}}
	g.Balances = []networks.Balance{{Account: c.user.String(), USD: userCredit}}
	if c.model != "" {
		g.Balances[0].Flock = userFlock // to buy the MT it stakes
	}
	e := &g.Economics
	e.EmissionReserveFlock, e.EmissionFirstEpochFlock = new(uint64(emissionReserve)), new(uint64(emissionFirst))
	e.FlockPoolFlock, e.FlockPoolUSD = new(uint64(flockPoolFlock)), new(uint64(flockPoolUSD))
	e.IncentiveRelease = new(networks.Duration(incentiveRelease))
	if c.unbonding != nil {
		e.UnbondingEpochs = new(*c.unbonding)
	}
	if c.model != "" {
		g.Economics.RaiseWindow = new(networks.Duration(raiseWindow))
		g.Balances = append(g.Balances, networks.Balance{Account: c.issuer.String(), Flock: issuerFlock})
		for _, s := range c.supporters {
			g.Balances = append(g.Balances, networks.Balance{Account: s.String(), Flock: supportFlock})
		}
	}
	for _, id := range c.nodes {
		g.Validators = append(g.Validators, networks.Validator{PeerID: id.String(), Power: validatorPower})
	}
	g.SessionKeys = []networks.SessionKey{{Account: c.user.String(), Key: c.session.String(),
		SpendLimit: userCredit, ExpiresAt: g.GenesisTime.AddDate(1, 0, 0)}}
	if c.model != "" {
		for _, m := range []struct {
			name     string
			manifest []byte
			nodes    []string
		}{{c.model, c.manifest, c.serving}, {c.idle, c.idleManifest, nil}} {
			if m.name == "" {
				continue
			}
			signed, err := models.Open(m.manifest)
			if err != nil {
				return nil, err
			}
			sum := signed.Hash() // what the registry binds
			g.Models = append(g.Models, networks.Model{Name: m.name, Issuer: c.issuer.String(), ManifestSHA256: hex.EncodeToString(sum[:]),
				Tier: tier, InputPrice: inputPrice, OutputPrice: outputPrice, Nodes: m.nodes})
		}
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// clearChain removes the chain state of the nodes in homes (their
// CometBFT directory and their datastore, which holds the ledger), so that
// they start the new network's chain from its genesis.
func clearChain(out io.Writer, homes []string) error {
	var cleared []string
	for _, home := range homes {
		found := false
		for _, d := range []string{configs.Default().Chain.Dir, configs.Default().Store.Path} {
			p := filepath.Join(home, d)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			found = true
		}
		if found {
			cleared = append(cleared, filepath.Base(home))
		}
	}
	if len(cleared) > 0 {
		fmt.Fprintf(out, "devnet: a new network: cleared the chain state of %s (their old chain's genesis differs)\n", strings.Join(cleared, ", "))
	}
	return nil
}

// nodeKeys creates (or reads) each node's key before the nodes
// start, so that the genesis can name them as validators.
func nodeKeys(dir string, n int) ([]peer.ID, error) {
	var ids []peer.ID
	for i := range n {
		sk, _, err := identity.LoadOrCreate(filepath.Join(dir, fmt.Sprintf("node%d", i), configs.Default().Node.KeyFile))
		if err != nil {
			return nil, err
		}
		ids = append(ids, identity.PeerID(sk))
	}
	return ids, nil
}

// sendTraffic sends a short chat request through each node in turn, every
// interval, paid with the demo user's API key, until ctx ends.
func sendTraffic(ctx context.Context, apis []string, apiKey, model string, interval time.Duration) {
	prompts := []string{"What is a GPU?", "Name three colours.", "Count to five.", "Say hello in French."}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":16}`, model, prompts[i%len(prompts)])
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, apis[i%len(apis)]+"/v1/chat/completions", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// printEpochs prints the settlement table of every epoch the chain closes,
// as node api reports them, and the command that plots the epochs so far
// into DIR/epochs.png, until ctx ends. names gives the devnet's accounts
// their roles.
func printEpochs(ctx context.Context, out io.Writer, dir, api string, names map[string]string) {
	c, err := client.New(api)
	if err != nil {
		fmt.Fprintf(out, "devnet: not printing the epochs: %v\n", err)
		return
	}
	next := uint64(0)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if page, err := c.Epochs(ctx, next, 0); err == nil {
			for _, e := range page.Epochs {
				if e.Epoch < next {
					continue
				}
				writeEpoch(out, e, names)
				fmt.Fprintf(out, "  plot       fomo epoch show %d --api %s --plot %s\n", e.Epoch, api, filepath.Join(dir, "epochs.png"))
				next = e.Epoch + 1
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
