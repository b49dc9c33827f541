package node

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
)

// MaxManifestBytes bounds an announced manifest envelope.
const MaxManifestBytes = 256 << 10

// ManifestInfo is the body of GET /api/v1/manifests/{name}.
type ManifestInfo struct {
	Manifest models.Manifest `json:"manifest"`
	// SHA256 is the hash of the signed payload (what the chain registry binds).
	SHA256 string `json:"sha256"`
	// Envelope is the signed envelope, base64.
	Envelope string `json:"envelope"`
}

// ProviderInfo is one entry of GET /api/v1/manifests/{name}/providers.
type ProviderInfo struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

func manifestInfo(s *models.Signed) ManifestInfo {
	h := s.Hash()
	return ManifestInfo{Manifest: s.Manifest, SHA256: hex.EncodeToString(h[:]), Envelope: base64.StdEncoding.EncodeToString(s.Envelope)}
}

// manifestRoutes serves the model-announcement admin API.
func (n *Node) manifestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/manifests", func(w http.ResponseWriter, r *http.Request) {
		env, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxManifestBytes))
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
				"manifest envelope larger than %d bytes", MaxManifestBytes))
			return
		}
		if _, err := models.Open(env); err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "invalid manifest: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		signed, err := n.net.models.Put(ctx, env)
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
				"the manifest is valid but could not be stored in the DHT (is this node connected to peers?): %v", err))
			return
		}
		n.log.Info("manifest announced", "model", signed.Manifest.Name, "seq", signed.Manifest.Seq, "issuer", signed.Manifest.Issuer)
		n.wg.Go(func() { n.provideModels(n.bgCtx) }) // serve it on the network now if this node has it
		api.WriteJSON(w, http.StatusOK, manifestInfo(signed))
	})
	mux.HandleFunc("GET /api/v1/manifests/{name}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		signed, err := n.net.models.Get(ctx, r.PathValue("name"))
		if err != nil {
			api.WriteError(w, lookupError(r.PathValue("name"), err))
			return
		}
		api.WriteJSON(w, http.StatusOK, manifestInfo(signed))
	})
	mux.HandleFunc("GET /api/v1/manifests/{name}/providers", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		infos, err := n.net.models.FindProviders(ctx, r.PathValue("name"))
		if err != nil {
			api.WriteError(w, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "finding providers: %v", err))
			return
		}
		out := []ProviderInfo{}
		for _, ai := range infos {
			pi := ProviderInfo{PeerID: ai.ID.String(), Addrs: []string{}}
			for _, a := range ai.Addrs {
				pi.Addrs = append(pi.Addrs, a.String())
			}
			out = append(out, pi)
		}
		api.WriteJSON(w, http.StatusOK, out)
	})
}

func lookupError(name string, err error) *runtime.Error {
	if errors.Is(err, models.ErrNotFound) {
		return runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "", "no manifest for model %q in the network", name)
	}
	return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "resolving manifest %q: %v", name, err)
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
		if err := models.VerifyWeights(path, signed.Manifest); err != nil {
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
