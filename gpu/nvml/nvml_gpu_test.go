//go:build gpu && cgo

package nvml

import (
	"context"
	"strings"
	"testing"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/fomonet/fomo/gpu"
)

// TestRealDriver runs against the host's NVIDIA driver: go test -tags gpu.
func TestRealDriver(t *testing.T) {
	log, logs := newLogger()
	s, err := New(gonvml.New(), WithLogger(log))
	if err != nil {
		t.Fatalf("New over the real driver: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	devs := s.Devices()
	if len(devs) == 0 {
		t.Fatal("the driver reports no GPUs")
	}
	t.Logf("driver: %s, %d GPU(s)", s.Driver(), len(devs))
	for _, d := range devs {
		t.Logf("gpu %d: %+v", d.Index, d)
		if d.Name == "" {
			t.Errorf("gpu %d: empty name", d.Index)
		}
		if !strings.HasPrefix(d.UUID, "GPU-") {
			t.Errorf("gpu %d: UUID %q lacks the GPU- prefix", d.Index, d.UUID)
		}
		if d.MemoryTotalBytes == 0 {
			t.Errorf("gpu %d: zero memory", d.Index)
		}
	}

	for round := 0; round < 2; round++ {
		if round > 0 {
			time.Sleep(time.Second) // two real samples, one second apart
		}
		st, err := s.Sample(context.Background())
		if err != nil {
			t.Fatalf("Sample: %v", err)
		}
		for _, status := range st {
			sm := status.Sample
			t.Logf("sample %d gpu %d: %+v", round, status.Index, *sm)
			if sm.TemperatureC < 1 || sm.TemperatureC > 120 {
				t.Errorf("gpu %d: temperature %d C", status.Index, sm.TemperatureC)
			}
			if sm.PowerWatts <= 0 {
				t.Errorf("gpu %d: power %.3f W", status.Index, sm.PowerWatts)
			}
			if sm.Supports(gpu.FieldMemory) && sm.MemoryUsedBytes+sm.MemoryFreeBytes > status.MemoryTotalBytes {
				t.Errorf("gpu %d: used+free %d > total %d", status.Index, sm.MemoryUsedBytes+sm.MemoryFreeBytes, status.MemoryTotalBytes)
			}
			if sm.UtilizationPercent > 100 {
				t.Errorf("gpu %d: utilization %d%%", status.Index, sm.UtilizationPercent)
			}
			if !sm.Healthy {
				t.Errorf("gpu %d: unhealthy: %s", status.Index, sm.HealthDetail)
			}
		}
	}
	for _, l := range logs.Lines() {
		t.Logf("log: %s", l)
	}
}

// TestRealOpen checks that Open finds the driver and logs no warning.
func TestRealOpen(t *testing.T) {
	log, logs := newLogger()
	src := Open(log)
	defer src.Close()
	if _, ok := src.(*Source); !ok {
		t.Fatalf("Open returned %T (%s), want *Source", src, src.Driver())
	}
	if warns := logs.Lines("level=WARN"); len(warns) != 0 {
		t.Errorf("WARN lines: %q", warns)
	}
}
