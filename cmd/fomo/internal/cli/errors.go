package cli

import (
	"errors"
	"net/http"
	"strings"

	"github.com/fomonet/fomo/node/api/client"
)

// ErrorMessage is how a command's error reads to a user: a node's answer
// that the request was wrong (a 4xx: not found, ambiguous, invalid) says
// what was wrong without its HTTP status line.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if ce, ok := errors.AsType[*client.Error](err); ok && ce.StatusCode >= http.StatusBadRequest &&
		ce.StatusCode < http.StatusInternalServerError && ce.Message != "" {
		msg = strings.Replace(msg, ce.Error(), ce.Message, 1)
	}
	return msg
}
