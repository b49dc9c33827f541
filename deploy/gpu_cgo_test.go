//go:build cgo

package deploy

import (
	"testing"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/gpu/gputest"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
)

// gpuSource is two fake H100s (go-nvml's mock, which needs cgo), so the
// dashboard's GPU panels have samples.
func gpuSource(t *testing.T) gpu.Source {
	t.Helper()
	src, err := gpunvml.New(gputest.NewH100(2, gputest.Typical()))
	if err != nil {
		t.Fatal(err)
	}
	return src
}
