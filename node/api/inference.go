package api

import (
	"bytes"
	"encoding/json"
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

		var ticket Ticket
		if s.opts.Meter != nil {
			var merr *runtime.Error
			ticket, merr = s.opts.Meter.Begin(r, req)
			if merr != nil {
				s.metrics.countRequest(req, runtime.FinishError)
				writeError(w, merr)
				return
			}
			defer ticket.Close()
		}

		stream, err := s.opts.Backend.Do(r.Context(), req)
		if err != nil {
			s.metrics.countRequest(req, runtime.FinishError)
			writeError(w, runtime.AsError(err))
			return
		}
		defer stream.Close()
		if ticket != nil {
			// Known once the serving node is: the authorization names it.
			w.Header().Set("X-Fomo-Receipt", ticket.ReceiptID())
		}
		if sb, ok := stream.(interface{ ServedBy() string }); ok && sb.ServedBy() != "" {
			w.Header().Set("X-Fomo-Node", sb.ServedBy())
		}
		if req.Stream {
			s.relayStream(w, r, req, stream, ticket)
		} else {
			s.relayOne(w, r, req, stream, ticket)
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

// relayOne writes a non-streaming response: the stream's single event,
// with the fomo object added once the stream has ended.
func (s *Server) relayOne(w http.ResponseWriter, r *http.Request, req *runtime.Request, stream runtime.Stream, t Ticket) {
	ev, err := stream.Recv()
	if err != nil {
		writeError(w, runtime.AsError(err))
		return
	}
	data := ev.Data
	if t != nil {
		if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, runtime.AsError(err))
			return
		}
		data = s.withFomo(r, req, data, stream, t)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// withFomo adds the ticket's fomo object to a JSON object; a failure is
// logged and the object is returned unchanged.
func (s *Server) withFomo(r *http.Request, req *runtime.Request, obj []byte, stream runtime.Stream, t Ticket) []byte {
	sr, err := t.Finish(r.Context(), stream)
	if err != nil {
		s.log.Warn("receipt check failed", "model", req.Model, "receipt_id", t.ReceiptID(), "err", err)
		return obj
	}
	if sr == nil {
		return obj
	}
	listIn, listOut, bps := t.Pricing()
	fomo, err := json.Marshal(FomoOf(sr, listIn, listOut, bps))
	if err != nil {
		return obj
	}
	return AddField(obj, "fomo", fomo)
}

// AddField returns the JSON object obj with "key": value added as its last
// member. obj is returned unchanged when it is not an object.
func AddField(obj []byte, key string, value json.RawMessage) []byte {
	t := bytes.TrimRight(obj, " \t\r\n")
	if len(t) < 2 || t[len(t)-1] != '}' {
		return obj
	}
	body := bytes.TrimRight(t[:len(t)-1], " \t\r\n")
	out := make([]byte, 0, len(t)+len(key)+len(value)+8)
	out = append(out, body...)
	if body[len(body)-1] != '{' {
		out = append(out, ',')
	}
	k, _ := json.Marshal(key)
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, '}')
}

// isUsageChunk reports whether a stream event is the usage chunk (a
// non-null "usage" member), which the relay holds back to add the fomo
// object to it.
func isUsageChunk(data []byte) bool {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return false
	}
	var c struct {
		Usage json.RawMessage `json:"usage"`
	}
	return json.Unmarshal(data, &c) == nil && len(c.Usage) > 0 && !bytes.Equal(c.Usage, []byte("null"))
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// relayStream writes server-sent events, one flush per event. An error
// before the first event is sent as an ordinary HTTP error; after it, as an
// error event, and the stream ends without [DONE] so clients see it failed.
//
// With a ticket, the usage chunk is held back until the stream ends and
// sent last with the fomo object added; without a usage chunk (the client
// did not ask for usage) the fomo object comes in a chunk of its own.
func (s *Server) relayStream(w http.ResponseWriter, r *http.Request, req *runtime.Request, stream runtime.Stream, t Ticket) {
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
	var held []byte
	for err == nil {
		if t != nil && isUsageChunk(ev.Data) {
			held = ev.Data
			ev, err = stream.Recv()
			continue
		}
		if werr := writeEvent(w, ev.Data); werr != nil {
			return // client gone; the deferred Close cancels the runtime
		}
		if flusher != nil {
			flusher.Flush()
		}
		ev, err = stream.Recv()
	}
	if t != nil && r.Context().Err() == nil {
		if held == nil {
			held = []byte(`{"object":"` + chunkObject(req.API) + `","choices":[]}`)
		}
		if werr := writeEvent(w, s.withFomo(r, req, held, stream, t)); werr != nil {
			return
		}
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

// chunkObject is the "object" of a stream chunk of api.
func chunkObject(api runtime.API) string {
	if api == runtime.APIChat {
		return "chat.completion.chunk"
	}
	return "text_completion"
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
