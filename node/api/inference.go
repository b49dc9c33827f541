package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/fomonet/fomo/runtime"
)

func (s *Server) inference(api runtime.API) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, rerr := s.readRequest(w, r, api)
		if rerr != nil {
			writeError(w, rerr)
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.model = req.Model
		}
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()

		stream, err := s.opts.Backend.Do(r.Context(), req)
		if err != nil {
			s.metrics.countRequest(req, runtime.FinishError)
			writeError(w, runtime.AsError(err))
			return
		}
		defer stream.Close()
		if sb, ok := stream.(interface{ ServedBy() string }); ok && sb.ServedBy() != "" {
			w.Header().Set("X-Fomo-Node", sb.ServedBy())
		}
		if req.Stream {
			s.relayStream(w, r, req, stream)
		} else {
			s.relayOne(w, req, stream)
		}
		s.metrics.countUsage(req, stream.Usage())
		finish := stream.Finish()
		if r.Context().Err() != nil {
			finish = runtime.FinishCancelled
		}
		s.metrics.countRequest(req, finish)
	}
}

func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, api runtime.API) (*runtime.Request, *runtime.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, runtime.Errorf(http.StatusRequestEntityTooLarge, runtime.ErrTypeInvalidRequest, "",
				"request body is larger than %d bytes (the node's api.max_body_bytes)", tooBig.Limit).WithCode("request_too_large")
		}
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "reading request body: %v", err)
	}
	return runtime.ParseRequest(api, body)
}

// relayOne writes a non-streaming response: the stream's single event.
func (s *Server) relayOne(w http.ResponseWriter, req *runtime.Request, stream runtime.Stream) {
	ev, err := stream.Recv()
	if err != nil {
		writeError(w, runtime.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ev.Data)
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// relayStream writes server-sent events, one flush per event. An error
// before the first event is sent as an ordinary HTTP error; after it, as an
// error event, and the stream ends without [DONE] so clients see it failed.
func (s *Server) relayStream(w http.ResponseWriter, r *http.Request, req *runtime.Request, stream runtime.Stream) {
	flusher, _ := w.(http.Flusher)
	ev, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		writeError(w, runtime.AsError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	for err == nil {
		if werr := writeEvent(w, ev.Data); werr != nil {
			return // client gone; the deferred Close cancels the runtime
		}
		if flusher != nil {
			flusher.Flush()
		}
		ev, err = stream.Recv()
	}
	if errors.Is(err, io.EOF) {
		_, _ = w.Write(sseDone)
	} else if r.Context().Err() == nil {
		e := runtime.AsError(err)
		s.log.Warn("stream failed", "model", req.Model, "err", e.Message)
		_ = writeEvent(w, e.JSON())
	}
	if flusher != nil {
		flusher.Flush()
	}
}

// writeEvent writes one server-sent event. The ResponseWriter buffers, so
// three writes cost no more than one and need no copy of the payload.
func writeEvent(w io.Writer, data []byte) error {
	for _, part := range [][]byte{sseData, data, sseEnd} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return nil
}
