//go:build cgo

package gputest

import (
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/fomonet/fomo/gpu"
)

func TestFakeAnswersThroughNVMLInterface(t *testing.T) {
	f := NewH100(8, Typical())
	var lib gonvml.Interface = f
	if ret := lib.Init(); ret != gonvml.SUCCESS {
		t.Fatal(ret)
	}
	n, ret := lib.DeviceGetCount()
	if ret != gonvml.SUCCESS || n != 8 {
		t.Fatalf("DeviceGetCount = %d, %v", n, ret)
	}
	d, _ := lib.DeviceGetHandleByIndex(5)
	f.Update(5, func(v *SampleValues) { v.TemperatureC = 91; v.MemoryUsedBytes = 1 << 30 })

	tests := []struct {
		name string
		got  func() (uint64, gonvml.Return)
		want uint64
	}{
		{"temperature", func() (uint64, gonvml.Return) { v, r := d.GetTemperature(gonvml.TEMPERATURE_GPU); return uint64(v), r }, 91},
		{"utilization", func() (uint64, gonvml.Return) { v, r := d.GetUtilizationRates(); return uint64(v.Gpu), r }, 87},
		{"memory used", func() (uint64, gonvml.Return) { v, r := d.GetMemoryInfo(); return v.Used, r }, 1 << 30},
		{"memory free", func() (uint64, gonvml.Return) { v, r := d.GetMemoryInfo(); return v.Free, r }, 79 << 30},
		{"power", func() (uint64, gonvml.Return) { v, r := d.GetPowerUsage(); return uint64(v), r }, 612_500},
		{"power limit", func() (uint64, gonvml.Return) { v, r := d.GetEnforcedPowerLimit(); return uint64(v), r }, 700_000},
		{"sm clock", func() (uint64, gonvml.Return) { v, r := d.GetClockInfo(gonvml.CLOCK_SM); return uint64(v), r }, 1980},
		{"event reasons", func() (uint64, gonvml.Return) { return d.GetCurrentClocksEventReasons() }, 0},
		{"ecc", func() (uint64, gonvml.Return) {
			return d.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_UNCORRECTED, gonvml.VOLATILE_ECC)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ret := tt.got(); ret != gonvml.SUCCESS || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, ret, tt.want)
			}
		})
	}
	if v, ret := d.GetUtilizationRates(); ret != gonvml.SUCCESS || v.Gpu != 87 {
		t.Errorf("utilization = %d, %v", v.Gpu, ret)
	}
	f.Fail(5, gpu.FieldPower, gonvml.ERROR_NOT_SUPPORTED)
	if _, ret := d.GetPowerUsage(); ret != gonvml.ERROR_NOT_SUPPORTED {
		t.Errorf("failed power = %v", ret)
	}
	f.Fail(5, gpu.FieldPower, gonvml.SUCCESS)
	if _, ret := d.GetPowerUsage(); ret != gonvml.SUCCESS {
		t.Errorf("restored power = %v", ret)
	}
	other, _ := lib.DeviceGetHandleByIndex(4)
	if v, _ := other.GetTemperature(gonvml.TEMPERATURE_GPU); v != 64 {
		t.Errorf("gpu 4 temperature %d, want 64 (unchanged)", v)
	}
}

func TestFakeEvents(t *testing.T) {
	f := NewH100(2, Typical())
	set, ret := f.EventSetCreate()
	if ret != gonvml.SUCCESS {
		t.Fatal(ret)
	}
	if _, ret := set.Wait(0); ret != gonvml.ERROR_TIMEOUT {
		t.Errorf("empty Wait = %v, want ERROR_TIMEOUT", ret)
	}
	f.Xid(1, 79)
	e, ret := set.Wait(0)
	if ret != gonvml.SUCCESS || e.EventData != 79 || e.EventType != gonvml.EventTypeXidCriticalError {
		t.Errorf("Wait = %+v, %v", e, ret)
	}
	if uuid, _ := e.Device.GetUUID(); uuid != f.UUID(1) {
		t.Errorf("event device %s, want %s", uuid, f.UUID(1))
	}
	set.Free()
	if f.EventSetFrees() != 1 {
		t.Error("Free not counted")
	}
	f.DisableEvents()
	if _, ret := f.EventSetCreate(); ret != gonvml.ERROR_NOT_SUPPORTED {
		t.Errorf("EventSetCreate after DisableEvents = %v", ret)
	}
}
