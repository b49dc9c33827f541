package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxManifestBytes bounds an announced manifest envelope.
const MaxManifestBytes = 256 << 10

// Manifests is the model-announcement read model: signed manifests in the
// network's DHT and the nodes that provide them.
type Manifests interface {
	// Put stores a signed manifest envelope (checked by the caller) in
	// the DHT and returns it opened.
	Put(ctx context.Context, envelope []byte) (*models.Signed, error)
	// Get resolves a model's manifest; an unknown model is an error
	// matching models.ErrNotFound.
	Get(ctx context.Context, name string) (*models.Signed, error)
	// FindProviders lists the nodes that provide a model.
	FindProviders(ctx context.Context, name string) ([]peer.AddrInfo, error)
}

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
func (s *Server) manifestRoutes() {
	ms := s.opts.Manifests
	s.mux.HandleFunc("POST /api/v1/manifests", func(w http.ResponseWriter, r *http.Request) {
		env, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxManifestBytes))
		if err != nil {
			writeError(w, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
				"manifest envelope larger than %d bytes", MaxManifestBytes))
			return
		}
		if _, err := models.Open(env); err != nil {
			writeError(w, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "invalid manifest: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		signed, err := ms.Put(ctx, env)
		if err != nil {
			writeError(w, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
				"the manifest is valid but could not be stored in the DHT (is this node connected to peers?): %v", err))
			return
		}
		writeJSON(w, http.StatusOK, manifestInfo(signed))
	})
	s.mux.HandleFunc("GET /api/v1/manifests/{name}", func(w http.ResponseWriter, r *http.Request) {
		signed, err := lookup(r, ms.Get)
		if err != nil {
			writeError(w, lookupError(r.PathValue("name"), err))
			return
		}
		writeJSON(w, http.StatusOK, manifestInfo(signed))
	})
	s.mux.HandleFunc("GET /api/v1/manifests/{name}/providers", func(w http.ResponseWriter, r *http.Request) {
		infos, err := lookup(r, ms.FindProviders)
		if err != nil {
			writeError(w, runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "finding providers: %v", err))
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
		writeJSON(w, http.StatusOK, out)
	})
}

// lookup runs fn, a DHT lookup, for the model named in r's path, bounded
// to 30 seconds.
func lookup[T any](r *http.Request, fn func(ctx context.Context, name string) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	return fn(ctx, r.PathValue("name"))
}

func lookupError(name string, err error) *runtime.Error {
	if errors.Is(err, models.ErrNotFound) {
		return runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "", "no manifest for model %q in the network", name)
	}
	return runtime.Errorf(http.StatusBadGateway, runtime.ErrTypeAPI, "", "resolving manifest %q: %v", name, err)
}
