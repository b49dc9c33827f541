package devnet

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/libp2p/go-libp2p/core/peer"
)

// nodeConfig is what goes into every devnet node's config.toml.
type nodeConfig struct {
	user    user
	runtime string // [[runtime]] block of the serving nodes
	serveOn int
	ids     []peer.ID
	ports   []ports
	genesis string        // the network's genesis file; "" without the chain
	block   time.Duration // chain.block_interval
	set     []string      // config overrides, applied last
}

// build returns node i's config.toml: the defaults, its fixed ports, every
// other node as a libp2p bootstrap peer and CometBFT persistent peer, the
// devnet's account settings and network, the runtime block on serving
// nodes, then the overrides. The file holds the whole effective config, so
// "fomo node --home DIR/node<i>" runs the node as the devnet does.
func (c nodeConfig) build(i int) ([]byte, error) {
	tmpl := configs.Template
	if i < c.serveOn {
		tmpl += c.runtime
	}
	cfg, err := configs.Decode([]byte(tmpl))
	if err != nil {
		return nil, err
	}
	p := c.ports[i]
	cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", p.API)
	cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.P2P), fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", p.P2P)}
	cfg.Auth.OpenAccessKey = c.user.apiKey
	if c.genesis == "" {
		cfg.Auth.Accounts = c.user.registry
	} else {
		cfg.P2P.Network = c.genesis
		cfg.Chain.Enabled = true
		cfg.Chain.Listen = fmt.Sprintf("tcp://127.0.0.1:%d", p.Chain)
		cfg.Chain.BlockInterval = configs.Duration(c.block)
	}
	for j, id := range c.ids {
		if j == i {
			continue
		}
		q := c.ports[j]
		cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", q.P2P, id))
		if c.genesis != "" {
			pub, err := id.ExtractPublicKey()
			if err != nil {
				return nil, err
			}
			nid, err := consensus.NodeID(pub)
			if err != nil {
				return nil, err
			}
			cfg.Chain.Peers = append(cfg.Chain.Peers, fmt.Sprintf("%s@127.0.0.1:%d", nid, q.Chain))
		}
	}
	for _, kv := range c.set {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		if err := configs.SetKey(&cfg, strings.TrimSpace(key), val); err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := configs.Encode(cfg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by fomo devnet, which rewrites it on every run (keeping the ports\n" +
		"# while they are free). The whole effective config: restart this node alone\n" +
		"# with fomo node --home <this directory>.\n\n")
	buf.Write(b)
	if k := strings.Index(configs.Template, "# Model runtimes."); k >= 0 {
		buf.WriteString("\n" + configs.Template[k:])
	}
	return buf.Bytes(), nil
}
