package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fomonet/fomo/configs/networks"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// genesisAccounts says which account a session key authorized in the
// network's genesis signs for: what a gateway, which reads no chain, knows
// of the accounts its user's keys sign for.
type genesisAccounts map[peer.ID]peer.ID

func newGenesisAccounts(g *networks.Genesis) genesisAccounts {
	a := genesisAccounts{}
	for _, k := range g.SessionKeys {
		key, err := peer.Decode(k.Key)
		if err != nil {
			continue
		}
		acc, err := peer.Decode(k.Account)
		if err != nil {
			continue
		}
		a[key] = acc
	}
	return a
}

// AccountOf implements meter.Accounts.
func (a genesisAccounts) AccountOf(_ context.Context, signer peer.ID) (peer.ID, bool) {
	acc, ok := a[signer]
	return acc, ok
}

// networkCheckWithin bounds how long a gateway waits for its bootstrap
// peers to say which network they are on.
const networkCheckWithin = 15 * time.Second

// checkNetwork refuses a gateway whose bootstrap peers are on another
// network: every fomo protocol a peer serves names its network
// (/fomo/<network id>/…), which the peer lists once identify has run. A
// gateway on the wrong network would find none of the models its peers
// serve. It passes when some bootstrap peer is on this network, and when
// none answers within networkCheckWithin (the peers may come up later).
func (n *Node) checkNetwork(ctx context.Context, _ context.Context) error {
	if !n.opts.gateway {
		return nil
	}
	var ids []peer.ID
	for _, a := range n.cfg.P2P.Bootstrap {
		ai, err := peer.AddrInfoFromString(a)
		if err == nil && ai.ID != n.id && !slices.Contains(ids, ai.ID) {
			ids = append(ids, ai.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	own := n.host.NetworkID()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(networkCheckWithin)
	for {
		others := map[peer.ID][]string{}
		for _, id := range ids {
			protos, err := n.host.Peerstore().GetProtocols(id)
			if err != nil {
				continue
			}
			nets := fomoNetworks(protos)
			if slices.Contains(nets, own) {
				return nil
			}
			if len(nets) > 0 {
				others[id] = nets
			}
		}
		if len(others) == len(ids) {
			id := ids[0]
			return fmt.Errorf("network mismatch: this gateway is on network %s (p2p.network = %q) but its bootstrap peer %s is on network %s; "+
				"set p2p.network to that network's genesis file (--set p2p.network=PATH/genesis.toml)",
				own, n.cfg.P2P.Network, id, strings.Join(others[id], ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			n.log.Warn("no bootstrap peer said which network it is on; going on", "network_id", own, "waited", networkCheckWithin)
			return nil
		case <-t.C:
		}
	}
}

// fomoNetworks returns the networks named by the fomo protocols in protos.
func fomoNetworks(protos []protocol.ID) []string {
	var nets []string
	for _, p := range protos {
		rest, ok := strings.CutPrefix(string(p), "/fomo/")
		if !ok {
			continue
		}
		net, _, ok := strings.Cut(rest, "/")
		if ok && net != "" && !slices.Contains(nets, net) {
			nets = append(nets, net)
		}
	}
	slices.Sort(nets)
	return nets
}
