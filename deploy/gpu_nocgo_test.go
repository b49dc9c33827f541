//go:build !cgo

package deploy

import (
	"testing"

	"github.com/fomonet/fomo/gpu"
)

// gpuSource is nil without cgo: the NVML fakes need it, and the node runs
// without GPUs (the dashboard's fomo_gpu_* panels stay empty).
func gpuSource(*testing.T) gpu.Source { return nil }
