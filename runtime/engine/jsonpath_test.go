package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/fomonet/fomo/runtime"
)

// TestTypeErrorsNameTheJSONPath: a field of the wrong type is reported with
// the JSON path the client wrote, never the Go names of the request
// structs.
func TestTypeErrorsNameTheJSONPath(t *testing.T) {
	for _, tc := range []struct {
		name, body, param, want string
		completion              bool
	}{
		{"max_tokens", `{"model":"m","messages":[],"max_tokens":"x"}`, "max_tokens", "expected integer, got JSON string", false},
		{"temperature", `{"model":"m","messages":[],"temperature":"hot"}`, "temperature", "expected number", false},
		{"stream", `{"model":"m","messages":[],"stream":1}`, "stream", "expected boolean", false},
		{"model", `{"model":5,"messages":[]}`, "model", "expected string", false},
		{"stream_options", `{"model":"m","messages":[],"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage", "expected boolean", false},
		{"messages", `{"model":"m","messages":{}}`, "messages", "expected array", false},
		{"message role", `{"model":"m","messages":[{"role":1}]}`, "messages.role", "expected string", false},
		{"completion max_tokens", `{"model":"m","prompt":"p","max_tokens":1.5}`, "max_tokens", "expected integer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.completion {
				_, _, err = parseCompletion([]byte(tc.body))
			} else {
				_, _, err = parseChat([]byte(tc.body))
			}
			var re *runtime.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a *runtime.Error", err)
			}
			if re.Param == nil || *re.Param != tc.param {
				t.Fatalf("param %v, want %q (message %q)", re.Param, tc.param, re.Message)
			}
			if !strings.Contains(re.Message, tc.want) || strings.Contains(re.Message, "samplingFields") {
				t.Fatalf("message %q, want it to contain %q and no Go names", re.Message, tc.want)
			}
		})
	}
}
