package api

import (
	"net/http"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/runtime"
)

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func toModelObject(m runtime.Model) modelObject {
	owner := m.OwnedBy
	if owner == "" {
		owner = "fomo"
	}
	created := m.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	return modelObject{ID: m.ID, Object: "model", Created: created.Unix(), OwnedBy: owner}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	data := []modelObject{}
	for _, m := range s.opts.Backend.Models() {
		data = append(data, toModelObject(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
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
	writeJSON(w, http.StatusOK, s.opts.Info.Status())
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	if s.opts.Info == nil {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Info.Peers())
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
