package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/fomonet/fomo/node/api/client"
)

// TestExitStatus: a failed command exits 1 with one line on stderr,
// "fomo: " and what went wrong, without the node's HTTP status line.
func TestExitStatus(t *testing.T) {
	notFound := &client.Error{StatusCode: 404, Status: "404 Not Found", Message: "epoch 999 not found"}
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{nil, 0, ""},
		{errors.New("no node serves nope"), 1, "fomo: no node serves nope\n"},
		{notFound, 1, "fomo: epoch 999 not found\n"},
		{fmt.Errorf("reading the epoch: %w", notFound), 1, "fomo: reading the epoch: epoch 999 not found\n"},
		{&client.Error{StatusCode: 502, Status: "502 Bad Gateway", Message: "dht down"}, 1, "fomo: 502 Bad Gateway: dht down\n"},
		{exitError{code: 3}, 3, ""},
	} {
		var stderr bytes.Buffer
		if code := exitStatus(tc.err, &stderr); code != tc.code || stderr.String() != tc.want {
			t.Errorf("exitStatus(%v) = %d %q, want %d %q", tc.err, code, stderr.String(), tc.code, tc.want)
		}
	}
}
