package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// envelope is the part of an OpenAI request body the node itself reads.
type envelope struct {
	Model  *string `json:"model"`
	Stream *bool   `json:"stream"`
}

// ParseRequest checks an OpenAI request body for api — a JSON object with
// a model — and returns the Request carrying it untouched. Errors are 400s
// that say what is wrong and where (line and column of a syntax error).
func ParseRequest(api API, body []byte) (*Request, *Error) {
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] != '{' && json.Valid(t) {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "",
			"request body must be a JSON object")
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "",
			"request body is not valid JSON: %s", jsonErrorDetail(body, err))
	}
	if dec.More() {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "",
			"request body is not valid JSON: data after the top-level object")
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "",
			"request body must be a JSON object")
	}
	if env.Model == nil || *env.Model == "" {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "model",
			"you must provide a model parameter")
	}
	req := &Request{API: api, Model: *env.Model, Body: body}
	if env.Stream != nil {
		req.Stream = *env.Stream
	}
	if api == APIEmbedding && req.Stream {
		return nil, Errorf(http.StatusBadRequest, ErrTypeInvalidRequest, "stream",
			"embeddings cannot be streamed")
	}
	return req, nil
}

// jsonErrorDetail says where a JSON syntax or type error is.
func jsonErrorDetail(body []byte, err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(body, syn.Offset)
		return syn.Error() + " at line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "field \"" + typ.Field + "\" must be a " + typeName(typ.Type.Kind().String()) + ", got " + typ.Value
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func typeName(kind string) string {
	switch kind {
	case "ptr":
		return "value of another type"
	case "bool":
		return "boolean"
	}
	return kind
}

func position(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off-1 && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
