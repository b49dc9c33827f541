//go:build cgo

package gpumetrics

import (
	"context"
	"fmt"
	"strings"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/gpu/gputest"
	"github.com/fomonet/fomo/gpu/nvml"
)

// TestCollectorOverFakeH100s runs the whole chain: fake driver, nvml
// Source, Monitor, Collector, registry.
func TestCollectorOverFakeH100s(t *testing.T) {
	f := gputest.NewH100(2, gputest.SampleValues{})
	f.Set(0, gputest.SampleValues{
		UtilizationPercent: 87, MemoryUsedBytes: 60 << 30, TemperatureC: 64,
		PowerMilliwatts: 612_500, PowerLimitMilliwatts: 700_000, SMClockMHz: 1980,
		ClocksEventReasons: gonvml.ClocksEventReasonSwPowerCap | gonvml.ClocksThrottleReasonHwSlowdown,
	})
	f.Set(1, gputest.SampleValues{
		UtilizationPercent: 3, MemoryUsedBytes: 1 << 30, TemperatureC: 33,
		PowerMilliwatts: 71_250, PowerLimitMilliwatts: 700_000, SMClockMHz: 345,
		ClocksEventReasons: gonvml.ClocksEventReasonGpuIdle, ECCUncorrected: 4,
	})
	src, err := nvml.New(f)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mon := gpu.NewMonitor(src)
	defer mon.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(mon))

	// Before the first sample: inventory only.
	u0, u1 := f.UUID(0), f.UUID(1)
	before := fmt.Sprintf(`
# HELP fomo_gpus Number of GPUs on this host.
# TYPE fomo_gpus gauge
fomo_gpus 2
# HELP fomo_gpu_info GPU inventory; always 1.
# TYPE fomo_gpu_info gauge
fomo_gpu_info{compute_capability="9.0",gpu="0",mig="false",name="NVIDIA H100 80GB HBM3",uuid="%[1]s"} 1
fomo_gpu_info{compute_capability="9.0",gpu="1",mig="false",name="NVIDIA H100 80GB HBM3",uuid="%[2]s"} 1
# HELP fomo_gpu_memory_total_bytes GPU memory size.
# TYPE fomo_gpu_memory_total_bytes gauge
fomo_gpu_memory_total_bytes{gpu="0",uuid="%[1]s"} 8.589934592e+10
fomo_gpu_memory_total_bytes{gpu="1",uuid="%[2]s"} 8.589934592e+10
`, u0, u1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(before)); err != nil {
		t.Errorf("before the first sample: %v", err)
	}

	if err := mon.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`
# HELP fomo_gpu_ecc_uncorrected_errors Uncorrected ECC errors since the driver loaded.
# TYPE fomo_gpu_ecc_uncorrected_errors gauge
fomo_gpu_ecc_uncorrected_errors{gpu="0",uuid="%[1]s"} 0
fomo_gpu_ecc_uncorrected_errors{gpu="1",uuid="%[2]s"} 4
# HELP fomo_gpu_healthy 1 if the GPU is healthy (no critical Xid, not lost), else 0.
# TYPE fomo_gpu_healthy gauge
fomo_gpu_healthy{gpu="0",uuid="%[1]s"} 1
fomo_gpu_healthy{gpu="1",uuid="%[2]s"} 1
# HELP fomo_gpu_memory_free_bytes GPU memory free.
# TYPE fomo_gpu_memory_free_bytes gauge
fomo_gpu_memory_free_bytes{gpu="0",uuid="%[1]s"} 2.147483648e+10
fomo_gpu_memory_free_bytes{gpu="1",uuid="%[2]s"} 8.4825604096e+10
# HELP fomo_gpu_memory_used_bytes GPU memory in use.
# TYPE fomo_gpu_memory_used_bytes gauge
fomo_gpu_memory_used_bytes{gpu="0",uuid="%[1]s"} 6.442450944e+10
fomo_gpu_memory_used_bytes{gpu="1",uuid="%[2]s"} 1.073741824e+09
# HELP fomo_gpu_power_limit_watts Enforced GPU power limit.
# TYPE fomo_gpu_power_limit_watts gauge
fomo_gpu_power_limit_watts{gpu="0",uuid="%[1]s"} 700
fomo_gpu_power_limit_watts{gpu="1",uuid="%[2]s"} 700
# HELP fomo_gpu_power_watts GPU power draw.
# TYPE fomo_gpu_power_watts gauge
fomo_gpu_power_watts{gpu="0",uuid="%[1]s"} 612.5
fomo_gpu_power_watts{gpu="1",uuid="%[2]s"} 71.25
# HELP fomo_gpu_sm_clock_hertz Current SM clock.
# TYPE fomo_gpu_sm_clock_hertz gauge
fomo_gpu_sm_clock_hertz{gpu="0",uuid="%[1]s"} 1.98e+09
fomo_gpu_sm_clock_hertz{gpu="1",uuid="%[2]s"} 3.45e+08
# HELP fomo_gpu_temperature_celsius GPU core temperature.
# TYPE fomo_gpu_temperature_celsius gauge
fomo_gpu_temperature_celsius{gpu="0",uuid="%[1]s"} 64
fomo_gpu_temperature_celsius{gpu="1",uuid="%[2]s"} 33
# HELP fomo_gpu_throttled 1 for each active clock throttle reason.
# TYPE fomo_gpu_throttled gauge
fomo_gpu_throttled{gpu="0",reason="hw_slowdown",uuid="%[1]s"} 1
fomo_gpu_throttled{gpu="0",reason="sw_power_cap",uuid="%[1]s"} 1
fomo_gpu_throttled{gpu="1",reason="gpu_idle",uuid="%[2]s"} 1
# HELP fomo_gpu_utilization_ratio Fraction of the last sample period the GPU was busy (0..1).
# TYPE fomo_gpu_utilization_ratio gauge
fomo_gpu_utilization_ratio{gpu="0",uuid="%[1]s"} 0.87
fomo_gpu_utilization_ratio{gpu="1",uuid="%[2]s"} 0.03
`, u0, u1)
	names := []string{
		"fomo_gpu_ecc_uncorrected_errors", "fomo_gpu_healthy", "fomo_gpu_memory_free_bytes",
		"fomo_gpu_memory_used_bytes", "fomo_gpu_power_limit_watts", "fomo_gpu_power_watts",
		"fomo_gpu_sm_clock_hertz", "fomo_gpu_temperature_celsius", "fomo_gpu_throttled",
		"fomo_gpu_utilization_ratio",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Errorf("after the first sample: %v", err)
	}

	// Change the fake: GPU 1 loses its temperature sensor and reports a
	// critical Xid; GPU 0 stops throttling.
	f.Update(0, func(v *gputest.SampleValues) { v.ClocksEventReasons = 0 })
	f.Fail(1, gpu.FieldTemperature, gonvml.ERROR_NOT_SUPPORTED)
	f.Xid(1, 79)
	if err := mon.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := fmt.Sprintf(`
# HELP fomo_gpu_healthy 1 if the GPU is healthy (no critical Xid, not lost), else 0.
# TYPE fomo_gpu_healthy gauge
fomo_gpu_healthy{gpu="0",uuid="%[1]s"} 1
fomo_gpu_healthy{gpu="1",uuid="%[2]s"} 0
# HELP fomo_gpu_temperature_celsius GPU core temperature.
# TYPE fomo_gpu_temperature_celsius gauge
fomo_gpu_temperature_celsius{gpu="0",uuid="%[1]s"} 64
# HELP fomo_gpu_throttled 1 for each active clock throttle reason.
# TYPE fomo_gpu_throttled gauge
fomo_gpu_throttled{gpu="1",reason="gpu_idle",uuid="%[2]s"} 1
`, u0, u1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(after),
		"fomo_gpu_healthy", "fomo_gpu_temperature_celsius", "fomo_gpu_throttled"); err != nil {
		t.Errorf("after the change: %v", err)
	}
}
