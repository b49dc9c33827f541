// Package nodetest starts real nodes for the tests of other packages: a
// node over a home directory, started, and stopped within a bounded time
// when the test ends.
package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/node"
)

// StopTimeout bounds a node's Stop at the end of a test.
const StopTimeout = 30 * time.Second

// Start creates a node from cfg over home, starts it and stops it when the
// test ends, failing the test if either goes wrong.
func Start(t testing.TB, cfg configs.Config, home string, opts ...node.Option) *node.Node {
	t.Helper()
	n, err := node.New(cfg, home, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return n
}
