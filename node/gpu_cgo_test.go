//go:build cgo

package node

// Tests that use the NVML fakes of gpu/gputest, which need cgo like go-nvml.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/gpu/gputest"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
	"github.com/fomonet/fomo/internal/testhttp"
)

func TestNodeGPUGaugesCarryFakeValues(t *testing.T) {
	v := gputest.Typical()
	fake := gputest.NewH100(8, v)
	src, err := gpunvml.New(fake)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, testConfig(), WithGPUSource(src))
	api := "http://" + n.APIAddr()

	code, body := testhttp.Get(t, api+"/api/v1/gpus")
	if code != 200 || strings.Count(body, `"uuid"`) != 8 || !strings.Contains(body, fake.UUID(3)) {
		t.Fatalf("/api/v1/gpus = %d:\n%.1500s", code, body)
	}
	_, metrics := testhttp.Get(t, api+"/metrics")
	uuid0 := fake.UUID(0)
	for _, want := range []string{
		`fomo_gpu_utilization_ratio{gpu="0",uuid="` + uuid0 + `"} 0.87`,
		`fomo_gpu_memory_used_bytes{gpu="0",uuid="` + uuid0 + `"} 6.442450944e+10`,
		`fomo_gpu_temperature_celsius{gpu="0",uuid="` + uuid0 + `"} 64`,
		`fomo_gpu_power_watts{gpu="0",uuid="` + uuid0 + `"} 612.5`,
		`fomo_gpus 8`,
		`fomo_build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(metrics, "fomo_gpu"))
	}
}

func TestSupervisedBackendRefusedWithoutGPUMemory(t *testing.T) {
	fake := gputest.NewH100(2, gputest.Typical()) // 60 GiB of 80 used
	src, err := gpunvml.New(fake)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "started")
	cfg := testConfig()
	cfg.Runtime = []configs.Runtime{{
		Name: "big", Kind: configs.KindSupervise,
		Command: []string{"sh", "-c", "touch " + marker + "; sleep 60"},
		URL:     "http://127.0.0.1:1", HealthURL: "http://127.0.0.1:1/health",
		GPUs:          []int{1},
		MinFreeMemory: 40 << 30,
	}}
	n, err := New(cfg, t.TempDir(), WithGPUSource(src))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(context.Background())
	if err == nil {
		n.Stop(context.Background())
		t.Fatal("node started a backend on a GPU without the memory it needs")
	}
	if !strings.Contains(err.Error(), "gpu 1") || !strings.Contains(err.Error(), "40.0 GiB") {
		t.Fatalf("error does not say which GPU and how much: %v", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatal("the backend command ran")
	}
	t.Logf("refused: %v", err)
}
