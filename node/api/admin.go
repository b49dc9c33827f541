package api

import (
	"net/http"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/runtime"
)

// Status is the body of GET /api/v1/status.
type Status struct {
	PeerID        string    `json:"peer_id"`
	Version       string    `json:"version"`
	GoVersion     string    `json:"go_version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	API           string    `json:"api"`
	ListenAddrs   []string  `json:"listen_addrs"`
	Peers         int       `json:"peers"`
	NetworkID     string    `json:"network_id"`
	// Epoch is the current epoch by the network's clock (its genesis
	// time and epoch length): the epoch of a receipt issued now.
	Epoch     uint64          `json:"epoch"`
	P2P       P2PStatus       `json:"p2p"`
	GPUDriver string          `json:"gpu_driver"`
	GPUs      int             `json:"gpus"`
	Models    []runtime.Model `json:"models"`
	Runtimes  []RuntimeHealth `json:"runtimes"`
}

// RuntimeHealth is one runtime's health in the status output.
type RuntimeHealth struct {
	Name string `json:"name"`
	runtime.Health
	// QueueDepth is set for runtimes that queue requests.
	QueueDepth *int `json:"queue_depth,omitempty"`
}

// P2PStatus is the libp2p host's part of the status: reachability,
// addresses and peer counts, as the host reports them.
type P2PStatus = p2p.Status

// PeerInfo is one connected peer in GET /api/v1/peers, as the host
// reports it.
type PeerInfo = p2p.PeerInfo

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Data   []ModelObject `json:"data"`
	Object string        `json:"object"`
}

// ModelObject is an OpenAI model object: an entry of GET /v1/models and
// the body of GET /v1/models/{id}.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func toModelObject(m runtime.Model) ModelObject {
	owner := m.OwnedBy
	if owner == "" {
		owner = "fomo"
	}
	created := m.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	return ModelObject{ID: m.ID, Object: "model", Created: created.Unix(), OwnedBy: owner}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	data := []ModelObject{}
	for _, m := range s.opts.Backend.Models() {
		data = append(data, toModelObject(m))
	}
	writeJSON(w, http.StatusOK, ModelList{Data: data, Object: "list"})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, ok := s.opts.Backend.Model(id)
	if !ok {
		writeError(w, runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model",
			"The model %q does not exist or is not served by this node", id).WithCode("model_not_found"))
		return
	}
	writeJSON(w, http.StatusOK, toModelObject(m))
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.opts.Info == nil {
		writeJSON(w, http.StatusOK, map[string]any{"peer_id": s.opts.NodeID})
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Info.Status(r.Context()))
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	if s.opts.Info == nil {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	out := s.opts.Info.Peers()
	if out == nil {
		out = []PeerInfo{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) gpus(w http.ResponseWriter, r *http.Request) {
	out := []gpu.Status{}
	if s.opts.GPUs != nil {
		if l := s.opts.GPUs.Latest(); l != nil {
			out = l
		}
	}
	writeJSON(w, http.StatusOK, out)
}
