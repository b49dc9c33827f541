package node

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine"
)

var errorsJoin = errors.Join

// buildRuntime turns one [[runtime]] block into a Runtime.
func (n *Node) buildRuntime(rc configs.Runtime) (runtime.Runtime, error) {
	switch rc.Kind {
	case configs.KindEngine:
		model := rc.Model
		if !filepath.IsAbs(model) {
			model = filepath.Join(n.dataDir, model)
		}
		return engine.New(engine.Config{
			Name:          rc.Name,
			Model:         model,
			Threads:       rc.Threads,
			ChatTemplate:  rc.ChatTemplate,
			MaxQueue:      rc.MaxQueue,
			ContextLength: rc.ContextLength,
		}, engine.WithLogger(n.sub("engine").With("runtime", rc.Name)))
	}
	return nil, fmt.Errorf("kind %q is not supported by this build", rc.Kind)
}
