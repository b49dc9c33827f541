package node

import (
	"fmt"
	"path/filepath"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/runtime/engine"
	"github.com/fomonet/fomo/runtime/openai"
	"github.com/fomonet/fomo/runtime/supervise"
)

// buildRuntime turns one [[runtime]] block into a Runtime. Zero durations
// take each runtime package's defaults.
func (n *Node) buildRuntime(rc configs.Runtime) (runtime.Runtime, error) {
	log := n.sub("runtime").With("runtime", rc.Name)
	upstream := func() (*openai.Runtime, error) {
		return openai.New(openai.Config{
			Name:             rc.Name,
			URL:              rc.URL,
			APIKey:           rc.APIKey,
			Models:           rc.Models,
			RequestTimeout:   rc.RequestTimeout.D(),
			FirstByteTimeout: rc.FirstByteTimeout.D(),
			IdleTimeout:      rc.IdleTimeout.D(),
		}, openai.WithLogger(log))
	}
	switch rc.Kind {
	case configs.KindOpenAI:
		return upstream()
	case configs.KindSupervise:
		up, err := upstream()
		if err != nil {
			return nil, err
		}
		sup, err := supervise.New(supervise.Config{
			Command:       rc.Command,
			Env:           rc.Env,
			Dir:           rc.Dir,
			GPUs:          rc.GPUs,
			MinFreeMemory: uint64(rc.MinFreeMemory),
			HealthURL:     rc.HealthURL,
			StartTimeout:  rc.StartTimeout.D(),
			StopTimeout:   rc.StopTimeout.D(),
		}, supervise.WithName(rc.Name), supervise.WithLogger(log), supervise.WithGPUs(n.gpus))
		if err != nil {
			return nil, err
		}
		return supervise.Wrap(sup, up), nil
	case configs.KindEngine:
		model := rc.Model
		if !filepath.IsAbs(model) {
			model = filepath.Join(n.dataDir, model)
		}
		if n.modelFiles == nil {
			n.modelFiles = map[string]string{}
		}
		n.modelFiles[rc.Name] = model
		return engine.New(engine.Config{
			Name:          rc.Name,
			Model:         model,
			Threads:       rc.Threads,
			ChatTemplate:  rc.ChatTemplate,
			MaxQueue:      rc.MaxQueue,
			ContextLength: rc.ContextLength,
		}, engine.WithLogger(log))
	}
	return nil, fmt.Errorf("kind %q is not supported", rc.Kind)
}
