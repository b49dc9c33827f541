package gpumetrics

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fomonet/fomo/gpu"
)

// staticSource serves fixed statuses.
type staticSource struct {
	mu sync.Mutex
	st []gpu.Status
}

func (s *staticSource) Latest() []gpu.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func TestCollectorStatic(t *testing.T) {
	src := &staticSource{st: []gpu.Status{
		{
			Device: gpu.Device{Index: 0, UUID: "GPU-aaaa", Name: "NVIDIA L4", MemoryTotalBytes: 24 << 30, ComputeCapability: "8.9"},
			Sample: &gpu.Sample{
				UtilizationPercent: 25, MemoryUsedBytes: 4 << 30, MemoryFreeBytes: 20 << 30, TemperatureC: 51,
				PowerWatts: 35.5, SMClockMHz: 2040, ThrottleReasons: []string{"gpu_idle", "gpu_idle"},
				Healthy: false, HealthDetail: "xid 79", LastXid: 79,
				// Power limit and ECC are unsupported: their gauges are left out.
				Unsupported: []string{gpu.FieldPowerLimit, gpu.FieldECCUncorrected},
			},
		},
		{
			// Not sampled yet: only inventory gauges.
			Device: gpu.Device{Index: 1, UUID: "GPU-bbbb", Name: "NVIDIA L4", MemoryTotalBytes: 24 << 30, ComputeCapability: "8.9", MIGEnabled: true},
		},
	}}
	want := `
# HELP fomo_gpus Number of GPUs on this host.
# TYPE fomo_gpus gauge
fomo_gpus 2
# HELP fomo_gpu_healthy 1 if the GPU is healthy (no critical Xid, not lost), else 0.
# TYPE fomo_gpu_healthy gauge
fomo_gpu_healthy{gpu="0",uuid="GPU-aaaa"} 0
# HELP fomo_gpu_info GPU inventory; always 1.
# TYPE fomo_gpu_info gauge
fomo_gpu_info{compute_capability="8.9",gpu="0",mig="false",name="NVIDIA L4",uuid="GPU-aaaa"} 1
fomo_gpu_info{compute_capability="8.9",gpu="1",mig="true",name="NVIDIA L4",uuid="GPU-bbbb"} 1
# HELP fomo_gpu_memory_free_bytes GPU memory free.
# TYPE fomo_gpu_memory_free_bytes gauge
fomo_gpu_memory_free_bytes{gpu="0",uuid="GPU-aaaa"} 2.147483648e+10
# HELP fomo_gpu_memory_total_bytes GPU memory size.
# TYPE fomo_gpu_memory_total_bytes gauge
fomo_gpu_memory_total_bytes{gpu="0",uuid="GPU-aaaa"} 2.5769803776e+10
fomo_gpu_memory_total_bytes{gpu="1",uuid="GPU-bbbb"} 2.5769803776e+10
# HELP fomo_gpu_memory_used_bytes GPU memory in use.
# TYPE fomo_gpu_memory_used_bytes gauge
fomo_gpu_memory_used_bytes{gpu="0",uuid="GPU-aaaa"} 4.294967296e+09
# HELP fomo_gpu_power_watts GPU power draw.
# TYPE fomo_gpu_power_watts gauge
fomo_gpu_power_watts{gpu="0",uuid="GPU-aaaa"} 35.5
# HELP fomo_gpu_sm_clock_hertz Current SM clock.
# TYPE fomo_gpu_sm_clock_hertz gauge
fomo_gpu_sm_clock_hertz{gpu="0",uuid="GPU-aaaa"} 2.04e+09
# HELP fomo_gpu_temperature_celsius GPU core temperature.
# TYPE fomo_gpu_temperature_celsius gauge
fomo_gpu_temperature_celsius{gpu="0",uuid="GPU-aaaa"} 51
# HELP fomo_gpu_throttled 1 for each active clock throttle reason.
# TYPE fomo_gpu_throttled gauge
fomo_gpu_throttled{gpu="0",reason="gpu_idle",uuid="GPU-aaaa"} 1
# HELP fomo_gpu_utilization_ratio Fraction of the last sample period the GPU was busy (0..1).
# TYPE fomo_gpu_utilization_ratio gauge
fomo_gpu_utilization_ratio{gpu="0",uuid="GPU-aaaa"} 0.25
`
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(src)); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(NewCollector(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorNoGPUs(t *testing.T) {
	c := NewCollector(&staticSource{st: []gpu.Status{}})
	want := `
# HELP fomo_gpus Number of GPUs on this host.
# TYPE fomo_gpus gauge
fomo_gpus 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Errorf("%d metrics, want 1", n)
	}
}
