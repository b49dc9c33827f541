package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/peer"
)

// manifestStore is the model-announcement read model of the API
// (api.Manifests): the DHT's signed manifests. A manifest announced
// through the API is logged, and served on the network at once if this
// node has the model.
type manifestStore Node

func (m *manifestStore) Put(ctx context.Context, env []byte) (*models.Signed, error) {
	n := (*Node)(m)
	signed, err := n.net.models.Put(ctx, env)
	if err != nil {
		return nil, err
	}
	n.log.Info("manifest announced", "model", signed.Manifest.Name, "seq", signed.Manifest.Seq, "issuer", signed.Manifest.Issuer)
	n.wg.Go(func() { n.provideModels(n.bgCtx) }) // serve it on the network now if this node has it
	return signed, nil
}

func (m *manifestStore) Get(ctx context.Context, name string) (*models.Signed, error) {
	return m.net.models.Get(ctx, name)
}

func (m *manifestStore) FindProviders(ctx context.Context, name string) ([]peer.AddrInfo, error) {
	return m.net.models.FindProviders(ctx, name)
}

// servable reports whether model may be announced to the network: with
// p2p.require_manifest its manifest must be in the DHT and, where the node
// has the weights file (the built-in engine), the file must match it.
func (n *Node) servable(ctx context.Context, m runtime.Model) (*models.Signed, error) {
	if !n.cfg.P2P.RequireManifest {
		return nil, nil
	}
	gctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	signed, err := n.net.models.Get(gctx, m.ID)
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return nil, fmt.Errorf("no manifest for %q in the network yet (its issuer publishes one with `fomo model announce`)", m.ID)
		}
		return nil, fmt.Errorf("resolving the manifest of %q: %w", m.ID, err)
	}
	if path, ok := n.modelFiles[m.Runtime]; ok {
		if err := n.verifyWeights(path, signed.Manifest); err != nil {
			return nil, fmt.Errorf("local weights of %q do not match its manifest: %w", m.ID, err)
		}
	}
	if n.chain != nil {
		// The chain's registry binds the name to one manifest (DESIGN §4):
		// serve only that one.
		reg, ok, err := n.chain.app.Model(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%q is not registered on the settlement chain (its issuer registers it with `fomo model register`)", m.ID)
		}
		if sum := signed.Hash(); hex.EncodeToString(sum[:]) != reg.ManifestSHA256 {
			return nil, fmt.Errorf("the manifest of %q in the DHT (sha256 %x) is not the one registered on chain (%s)", m.ID, sum, reg.ManifestSHA256)
		}
	}
	return signed, nil
}
