//go:build cgo

package node

import (
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/gpu/gputest"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/node/api"
)

// TestDoctorGPUs: a node on two fake H100s reports them ok; an Xid on one
// turns the gpu check into a warning that names it.
func TestDoctorGPUs(t *testing.T) {
	fake := gputest.NewH100(2, gputest.Typical())
	src, err := gpunvml.New(fake)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.GPU.SampleInterval = configs.Duration(100 * time.Millisecond)
	n := startNode(t, cfg, WithGPUSource(src))
	c, ok := findCheck(doctorReport(t, n), "gpu")
	if !ok || c.Status != api.CheckOK || !strings.HasPrefix(c.Detail, "2 GPU(s), driver ") {
		t.Fatalf("gpu check = %+v, want ok with 2 GPUs", c)
	}
	fake.Xid(1, 79)
	testwait.Every(t, 50*time.Millisecond, "the Xid reported", 10*time.Second, func() bool {
		c, _ = findCheck(doctorReport(t, n), "gpu")
		return c.Status == api.CheckWarn
	})
	if !strings.Contains(c.Detail, "gpu 1: xid 79") || !strings.Contains(c.Remedy, "nvidia-smi") {
		t.Fatalf("gpu check = %+v, want the Xid of gpu 1 and a remedy", c)
	}
}
