package node

import (
	"errors"
	"fmt"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime"
)

var errorsJoin = errors.Join

// buildRuntime turns one [[runtime]] block into a Runtime.
func (n *Node) buildRuntime(rc configs.Runtime) (runtime.Runtime, error) {
	switch rc.Kind {
	}
	return nil, fmt.Errorf("kind %q is not supported by this build", rc.Kind)
}
