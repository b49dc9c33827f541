//go:build cgo

package nvml

import (
	"testing"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/gpu/gputest"
)

// TestMonitorOverSource runs a gpu.Monitor on its own ticker over the fake
// driver while the test changes readings and injects an Xid.
func TestMonitorOverSource(t *testing.T) {
	f := gputest.NewH100(8, gputest.Typical())
	s := newSource(t, f)
	notes := make(chan []gpu.Status, 1)
	m := gpu.NewMonitor(s, gpu.WithInterval(time.Millisecond), gpu.WithSubscriber(func(st []gpu.Status) {
		select {
		case notes <- st:
		default: // the test reads only the newest it needs
		}
	}))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// waitUntil waits, bounded, for a sample that satisfies ok.
	waitUntil := func(what string, ok func([]gpu.Status) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case st := <-notes:
				if ok(st) {
					return
				}
			case <-deadline:
				t.Fatalf("no sample with %s; latest %+v", what, m.Latest())
			}
		}
	}
	waitUntil("all GPUs sampled", func(st []gpu.Status) bool {
		for _, s := range st {
			if s.Sample == nil || s.Sample.TemperatureC != 64 {
				return false
			}
		}
		return len(st) == 8
	})
	f.Update(4, func(v *gputest.SampleValues) { v.MemoryUsedBytes = 70 << 30 })
	f.Xid(6, 48)
	waitUntil("the change", func(st []gpu.Status) bool {
		return st[4].Sample.MemoryUsedBytes == 70<<30 && !st[6].Sample.Healthy
	})
	if free, ok := m.FreeMemory(4); !ok || free != 10<<30 {
		t.Errorf("FreeMemory(4) = %d, %v; want 10 GiB", free, ok)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
