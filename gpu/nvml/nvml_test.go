//go:build cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/gpu/gputest"
	"github.com/fomonet/fomo/internal/testbuf"
)

const h100Memory = 80 << 30

func newLogger() (*slog.Logger, *testbuf.Buffer) {
	b := &testbuf.Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

var fixedTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newSource(t *testing.T, f *gputest.Fake, opts ...Option) *Source {
	t.Helper()
	opts = append([]Option{WithClock(func() time.Time { return fixedTime })}, opts...)
	s, err := New(f, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sample(t *testing.T, s *Source) []gpu.Status {
	t.Helper()
	st, err := s.Sample(context.Background())
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	return st
}

func TestNewInventory(t *testing.T) {
	f := gputest.NewH100(8, gputest.Typical())
	s := newSource(t, f)

	if got, want := s.Driver(), "nvml 550.54.15"; got != want {
		t.Errorf("Driver() = %q, want %q", got, want)
	}
	devs := s.Devices()
	if len(devs) != 8 {
		t.Fatalf("got %d devices, want 8", len(devs))
	}
	for i, d := range devs {
		want := gpu.Device{
			Index:             i,
			UUID:              f.UUID(i),
			Name:              "NVIDIA H100 80GB HBM3",
			MemoryTotalBytes:  h100Memory,
			ComputeCapability: "9.0",
			MIGEnabled:        false,
			PCIBusID:          fmt.Sprintf("0000:%02x:00.0", i),
		}
		if d != want {
			t.Errorf("device %d = %+v, want %+v", i, d, want)
		}
		if !strings.HasPrefix(d.UUID, "GPU-") {
			t.Errorf("device %d UUID %q lacks GPU- prefix", i, d.UUID)
		}
		if !f.Registered(i) {
			t.Errorf("device %d: Xid events not registered", i)
		}
	}
	if f.InitCalls() != 1 {
		t.Errorf("Init called %d times, want 1", f.InitCalls())
	}
	devs[0].Name = "changed"
	if s.Devices()[0].Name == "changed" {
		t.Error("Devices() exposes internal state")
	}
}

func TestNewInventoryMIGAndOptionalFields(t *testing.T) {
	f := gputest.NewH100(2, gputest.Typical())
	f.Device(1).MigMode = gonvml.DEVICE_MIG_ENABLE
	f.Fail(0, gputest.OpComputeCapability, gonvml.ERROR_NOT_SUPPORTED)
	f.Fail(0, gputest.OpPCIBusID, gonvml.ERROR_UNKNOWN)
	log, logs := newLogger()
	s := newSource(t, f, WithLogger(log))
	devs := s.Devices()
	if devs[0].MIGEnabled || !devs[1].MIGEnabled {
		t.Errorf("MIG = %v, %v; want false, true", devs[0].MIGEnabled, devs[1].MIGEnabled)
	}
	if devs[0].ComputeCapability != "" || devs[1].ComputeCapability != "9.0" {
		t.Errorf("compute capability = %q, %q; want \"\", 9.0", devs[0].ComputeCapability, devs[1].ComputeCapability)
	}
	if devs[0].PCIBusID != "" {
		t.Errorf("PCI bus id = %q after a failed read, want empty", devs[0].PCIBusID)
	}
	if n := len(logs.Lines("level=WARN", "pci_bus_id")); n != 1 {
		t.Errorf("%d WARN lines about pci_bus_id, want 1", n)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(f *gputest.Fake)
		is           error
		msg          string
		wantShutdown int
	}{
		{
			name:  "library not found",
			setup: func(f *gputest.Fake) { f.InitFunc = func() gonvml.Return { return gonvml.ERROR_LIBRARY_NOT_FOUND } },
			is:    ErrLibraryNotFound,
			msg:   "nvml: init: ERROR_LIBRARY_NOT_FOUND",
		},
		{
			name:  "driver not loaded",
			setup: func(f *gputest.Fake) { f.InitFunc = func() gonvml.Return { return gonvml.ERROR_DRIVER_NOT_LOADED } },
			is:    ErrDriverNotLoaded,
			msg:   "nvml: init: ERROR_DRIVER_NOT_LOADED",
		},
		{
			name: "device count",
			setup: func(f *gputest.Fake) {
				f.DeviceGetCountFunc = func() (int, gonvml.Return) { return 0, gonvml.ERROR_UNKNOWN }
			},
			msg:          "nvml: device_count: ERROR_UNKNOWN",
			wantShutdown: 1,
		},
		{
			name:         "uuid",
			setup:        func(f *gputest.Fake) { f.Fail(5, gputest.OpUUID, gonvml.ERROR_GPU_IS_LOST) },
			is:           ErrGPULost,
			msg:          "nvml: gpu 5: uuid: ERROR_GPU_IS_LOST",
			wantShutdown: 1,
		},
		{
			name:         "name",
			setup:        func(f *gputest.Fake) { f.Fail(2, gputest.OpName, gonvml.ERROR_UNKNOWN) },
			msg:          "nvml: gpu 2: name: ERROR_UNKNOWN",
			wantShutdown: 1,
		},
		{
			name:         "memory total",
			setup:        func(f *gputest.Fake) { f.Fail(7, gpu.FieldMemory, gonvml.ERROR_NO_PERMISSION) },
			msg:          "nvml: gpu 7: memory_total: ERROR_NO_PERMISSION",
			wantShutdown: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gputest.NewH100(8, gputest.Typical())
			tt.setup(f)
			s, err := New(f)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded, want error")
			}
			if err.Error() != tt.msg {
				t.Errorf("error = %q, want %q", err, tt.msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if got := f.ShutdownCalls(); got != tt.wantShutdown {
				t.Errorf("Shutdown called %d times, want %d", got, tt.wantShutdown)
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestSampleValuesCarried(t *testing.T) {
	f := gputest.NewH100(8, gputest.SampleValues{})
	for i := 0; i < 8; i++ {
		f.Set(i, gputest.SampleValues{
			UtilizationPercent:   uint32(10 * i),
			MemoryUsedBytes:      uint64(i) << 30,
			TemperatureC:         uint32(40 + i),
			PowerMilliwatts:      uint32(100_000 + 1_500*i),
			PowerLimitMilliwatts: 700_000,
			SMClockMHz:           uint32(1000 + 100*i),
			ECCUncorrected:       uint64(i),
		})
	}
	s := newSource(t, f)

	check := func(st []gpu.Status, i int, want gpu.Sample) {
		t.Helper()
		got := st[i].Sample
		if got == nil {
			t.Fatalf("gpu %d: nil sample", i)
		}
		if st[i].Device != s.Devices()[i] {
			t.Errorf("gpu %d: device %+v, want %+v", i, st[i].Device, s.Devices()[i])
		}
		want.Time = fixedTime
		want.Healthy = true
		if want.ThrottleReasons == nil {
			want.ThrottleReasons = []string{}
		}
		if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
			t.Errorf("gpu %d:\n got %+v\nwant %+v", i, *got, want)
		}
	}

	st := sample(t, s)
	if len(st) != 8 {
		t.Fatalf("got %d statuses, want 8", len(st))
	}
	for i := 0; i < 8; i++ {
		check(st, i, gpu.Sample{
			UtilizationPercent: uint32(10 * i),
			MemoryUsedBytes:    uint64(i) << 30,
			MemoryFreeBytes:    h100Memory - uint64(i)<<30,
			TemperatureC:       uint32(40 + i),
			PowerWatts:         float64(100_000+1_500*i) / 1000,
			PowerLimitWatts:    700,
			SMClockMHz:         uint32(1000 + 100*i),
			ECCUncorrected:     uint64(i),
		})
	}

	// Change two GPUs and sample again: only they change.
	f.Update(3, func(v *gputest.SampleValues) {
		v.UtilizationPercent = 99
		v.TemperatureC = 83
		v.ClocksEventReasons = gonvml.ClocksEventReasonSwThermalSlowdown | gonvml.ClocksThrottleReasonHwThermalSlowdown
	})
	f.Update(6, func(v *gputest.SampleValues) { v.MemoryUsedBytes = 79 << 30; v.PowerMilliwatts = 699_999 })
	st = sample(t, s)
	check(st, 3, gpu.Sample{
		UtilizationPercent: 99, MemoryUsedBytes: 3 << 30, MemoryFreeBytes: h100Memory - 3<<30,
		TemperatureC: 83, PowerWatts: 104.5, PowerLimitWatts: 700, SMClockMHz: 1300, ECCUncorrected: 3,
		ThrottleReasons: []string{gpu.ThrottleSWThermal, gpu.ThrottleHWThermal},
	})
	check(st, 6, gpu.Sample{
		UtilizationPercent: 60, MemoryUsedBytes: 79 << 30, MemoryFreeBytes: 1 << 30,
		TemperatureC: 46, PowerWatts: 699.999, PowerLimitWatts: 700, SMClockMHz: 1600, ECCUncorrected: 6,
	})
	check(st, 0, gpu.Sample{
		MemoryFreeBytes: h100Memory, TemperatureC: 40, PowerWatts: 100, PowerLimitWatts: 700, SMClockMHz: 1000,
	})
}

func TestSampleUsesThrottleReasonsOnOldDrivers(t *testing.T) {
	f := gputest.NewH100(1, gputest.SampleValues{ClocksEventReasons: gonvml.ClocksEventReasonSwPowerCap})
	f.LookupSymbolFunc = func(string) error { return errors.New("symbol not found") }
	f.Device(0).GetCurrentClocksEventReasonsFunc = nil // would panic if called
	s := newSource(t, f)
	st := sample(t, s)
	if got := st[0].Sample.ThrottleReasons; !slices.Equal(got, []string{gpu.ThrottleSWPowerCap}) {
		t.Errorf("throttle reasons = %v, want [sw_power_cap]", got)
	}
}

var sampleFields = []string{
	gpu.FieldUtilization, gpu.FieldMemory, gpu.FieldTemperature, gpu.FieldPower,
	gpu.FieldPowerLimit, gpu.FieldSMClock, gpu.FieldThrottleReasons, gpu.FieldECCUncorrected,
}

// fieldValue reads the value of a Sample field as a float, for zero checks.
func fieldValue(s *gpu.Sample, field string) float64 {
	switch field {
	case gpu.FieldUtilization:
		return float64(s.UtilizationPercent)
	case gpu.FieldMemory:
		return float64(s.MemoryUsedBytes + s.MemoryFreeBytes)
	case gpu.FieldTemperature:
		return float64(s.TemperatureC)
	case gpu.FieldPower:
		return s.PowerWatts
	case gpu.FieldPowerLimit:
		return s.PowerLimitWatts
	case gpu.FieldSMClock:
		return float64(s.SMClockMHz)
	case gpu.FieldThrottleReasons:
		return float64(len(s.ThrottleReasons))
	case gpu.FieldECCUncorrected:
		return float64(s.ECCUncorrected)
	}
	panic("unknown field " + field)
}

func busy() gputest.SampleValues {
	v := gputest.Typical()
	v.ClocksEventReasons = gonvml.ClocksEventReasonSwPowerCap
	v.ECCUncorrected = 2
	return v
}

func TestSampleNotSupported(t *testing.T) {
	for _, field := range sampleFields {
		t.Run(field, func(t *testing.T) {
			f := gputest.NewH100(4, busy())
			f.Fail(2, field, gonvml.ERROR_NOT_SUPPORTED)
			s := newSource(t, f)
			st := sample(t, s)
			for i, status := range st {
				sm := status.Sample
				if i == 2 {
					if v := fieldValue(sm, field); v != 0 {
						t.Errorf("gpu 2 %s = %v, want 0", field, v)
					}
					if !slices.Equal(sm.Unsupported, []string{field}) {
						t.Errorf("gpu 2 Unsupported = %v, want [%s]", sm.Unsupported, field)
					}
					if sm.Supports(field) {
						t.Errorf("gpu 2 Supports(%s) = true", field)
					}
				} else if len(sm.Unsupported) != 0 || fieldValue(sm, field) == 0 {
					t.Errorf("gpu %d: %s = %v, Unsupported = %v; want a value and nothing unsupported", i, field, fieldValue(sm, field), sm.Unsupported)
				}
				if !sm.Healthy {
					t.Errorf("gpu %d unhealthy", i)
				}
				for _, other := range sampleFields {
					if other != field && fieldValue(sm, other) == 0 {
						t.Errorf("gpu %d: %s is zero", i, other)
					}
				}
			}
		})
	}
}

func TestSampleErrors(t *testing.T) {
	for _, field := range sampleFields {
		t.Run(field, func(t *testing.T) {
			f := gputest.NewH100(4, busy())
			s := newSource(t, f)
			f.Fail(1, field, gonvml.ERROR_UNKNOWN)
			f.Fail(3, field, gonvml.ERROR_NO_PERMISSION)
			st, err := s.Sample(context.Background())
			if err == nil {
				t.Fatal("Sample succeeded, want error")
			}
			for _, want := range []string{
				"nvml: gpu 1: " + field + ": ERROR_UNKNOWN",
				"nvml: gpu 3: " + field + ": ERROR_NO_PERMISSION",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Device != 1 || e.Op != field || e.Code != int(gonvml.ERROR_UNKNOWN) {
				t.Errorf("errors.As = %+v, want device 1 op %s", e, field)
			}
			if errors.Is(err, ErrNotSupported) {
				t.Error("error matches ErrNotSupported")
			}
			if len(st) != 4 {
				t.Fatalf("got %d statuses with the error, want 4", len(st))
			}
			for i, status := range st {
				sm := status.Sample
				failed := i == 1 || i == 3
				if failed != (fieldValue(sm, field) == 0) {
					t.Errorf("gpu %d %s = %v", i, field, fieldValue(sm, field))
				}
				if len(sm.Unsupported) != 0 {
					t.Errorf("gpu %d Unsupported = %v, want none (errors are not unsupported)", i, sm.Unsupported)
				}
				if !sm.Healthy {
					t.Errorf("gpu %d unhealthy after a transient error", i)
				}
			}
			// The call recovers: so does the sample.
			f.Fail(1, field, gonvml.SUCCESS)
			f.Fail(3, field, gonvml.SUCCESS)
			sample(t, s)
		})
	}
}

func TestSampleGPULost(t *testing.T) {
	f := gputest.NewH100(3, busy())
	log, logs := newLogger()
	s := newSource(t, f, WithLogger(log))
	f.Fail(1, gpu.FieldMemory, gonvml.ERROR_GPU_IS_LOST)
	st, err := s.Sample(context.Background())
	if !errors.Is(err, ErrGPULost) {
		t.Fatalf("err = %v, want ErrGPULost", err)
	}
	if got := strings.Count(err.Error(), "ERROR_GPU_IS_LOST"); got != 1 {
		t.Errorf("error names the lost GPU %d times, want once (reads stop): %v", got, err)
	}
	sm := st[1].Sample
	if sm.Healthy || sm.HealthDetail != "gpu is lost" {
		t.Errorf("gpu 1 healthy=%v detail=%q, want false, \"gpu is lost\"", sm.Healthy, sm.HealthDetail)
	}
	if sm.UtilizationPercent == 0 || sm.TemperatureC != 0 {
		t.Errorf("gpu 1: utilization %d (read before) temperature %d (after, want 0)", sm.UtilizationPercent, sm.TemperatureC)
	}
	if !st[0].Sample.Healthy || !st[2].Sample.Healthy {
		t.Error("other GPUs unhealthy")
	}
	// Lost stays lost: the GPU needs a reset even if a read succeeds again.
	f.Fail(1, gpu.FieldMemory, gonvml.SUCCESS)
	st = sample(t, s)
	if st[1].Sample.Healthy {
		t.Error("gpu 1 healthy again after being lost")
	}
	if n := len(logs.Lines("level=WARN", "gpu lost")); n != 1 {
		t.Errorf("%d WARN lines for the lost GPU, want 1", n)
	}
}

func TestSampleContextCanceled(t *testing.T) {
	s := newSource(t, gputest.NewH100(2, busy()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sample(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestDecodeThrottleReasons(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, []string{}},
		{gonvml.ClocksEventReasonGpuIdle, []string{"gpu_idle"}},
		{gonvml.ClocksEventReasonApplicationsClocksSetting, []string{"applications_clocks"}},
		{gonvml.ClocksEventReasonSwPowerCap, []string{"sw_power_cap"}},
		{gonvml.ClocksThrottleReasonHwSlowdown, []string{"hw_slowdown"}},
		{gonvml.ClocksEventReasonSyncBoost, []string{"sync_boost"}},
		{gonvml.ClocksEventReasonSwThermalSlowdown, []string{"sw_thermal"}},
		{gonvml.ClocksThrottleReasonHwThermalSlowdown, []string{"hw_thermal"}},
		{gonvml.ClocksThrottleReasonHwPowerBrakeSlowdown, []string{"hw_power_brake"}},
		{gonvml.ClocksEventReasonDisplayClockSetting, []string{"display_clock"}},
		{gonvml.ClocksEventReasonBoardLimit, []string{"board_limit"}},
		{gonvml.ClocksEventReasonReliability, []string{"reliability"}},
		{
			gonvml.ClocksEventReasonSwPowerCap | gonvml.ClocksThrottleReasonHwSlowdown | gonvml.ClocksThrottleReasonHwPowerBrakeSlowdown,
			[]string{"sw_power_cap", "hw_slowdown", "hw_power_brake"},
		},
		{gonvml.ClocksEventReasonAll, []string{
			"gpu_idle", "applications_clocks", "sw_power_cap", "hw_slowdown", "sync_boost", "sw_thermal",
			"hw_thermal", "hw_power_brake", "display_clock", "board_limit", "reliability",
		}},
		{1<<40 | gonvml.ClocksEventReasonGpuIdle, []string{"gpu_idle", "unknown_0x10000000000"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#x", tt.mask), func(t *testing.T) {
			got := DecodeThrottleReasons(tt.mask)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("DecodeThrottleReasons(%#x) = %#v, want %#v", tt.mask, got, tt.want)
			}
		})
	}
}

func TestXidEvents(t *testing.T) {
	type want struct {
		lastXid uint64
		healthy bool
		detail  string
	}
	healthy := want{healthy: true}
	tests := []struct {
		name   string
		opts   []Option
		events func(f *gputest.Fake)
		want   map[int]want // GPUs not listed are healthy with no Xid
	}{
		{
			name:   "critical xid marks one GPU",
			events: func(f *gputest.Fake) { f.Xid(3, 79) },
			want:   map[int]want{3: {79, false, "xid 79"}},
		},
		{
			name: "application xids are recorded but harmless",
			events: func(f *gputest.Fake) {
				f.Xid(1, 13)
				f.Xid(2, 31)
				f.Xid(3, 43)
				f.Xid(4, 45)
				f.Xid(5, 68)
				f.Xid(6, 109)
			},
			want: map[int]want{
				1: {13, true, ""}, 2: {31, true, ""}, 3: {43, true, ""},
				4: {45, true, ""}, 5: {68, true, ""}, 6: {109, true, ""},
			},
		},
		{
			name:   "first critical xid is the detail, last xid is recorded",
			events: func(f *gputest.Fake) { f.Xid(0, 48); f.Xid(0, 13); f.Xid(0, 94) },
			want:   map[int]want{0: {94, false, "xid 48"}},
		},
		{
			name:   "xid without device concerns all",
			events: func(f *gputest.Fake) { f.Xid(-1, 62) },
			want: map[int]want{
				0: {62, false, "xid 62"}, 1: {62, false, "xid 62"}, 2: {62, false, "xid 62"}, 3: {62, false, "xid 62"},
				4: {62, false, "xid 62"}, 5: {62, false, "xid 62"}, 6: {62, false, "xid 62"}, 7: {62, false, "xid 62"},
			},
		},
		{
			name: "other event types are ignored",
			events: func(f *gputest.Fake) {
				f.QueueEvent(gonvml.EventData{Device: f.Devices[2], EventType: gonvml.EventTypePState, EventData: 79})
			},
		},
		{
			name:   "ignored xids are configurable",
			opts:   []Option{WithIgnoredXids(79)},
			events: func(f *gputest.Fake) { f.Xid(1, 79); f.Xid(2, 13) },
			want:   map[int]want{1: {79, true, ""}, 2: {13, false, "xid 13"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gputest.NewH100(8, busy())
			s := newSource(t, f, tt.opts...)
			st := sample(t, s)
			for i := range st {
				if !st[i].Sample.Healthy || st[i].Sample.LastXid != 0 {
					t.Fatalf("gpu %d before events: %+v", i, st[i].Sample)
				}
			}
			tt.events(f)
			for round := 0; round < 2; round++ { // health is sticky across samples
				st = sample(t, s)
				for i := range st {
					w, ok := tt.want[i]
					if !ok {
						w = healthy
					}
					sm := st[i].Sample
					if got := (want{sm.LastXid, sm.Healthy, sm.HealthDetail}); got != w {
						t.Errorf("round %d gpu %d: got %+v, want %+v", round, i, got, w)
					}
					if !sm.Supports(gpu.FieldXidEvents) {
						t.Errorf("gpu %d: xid events unsupported", i)
					}
				}
			}
			if f.PendingEvents() != 0 {
				t.Errorf("%d events left undrained", f.PendingEvents())
			}
		})
	}
}

func TestXidEventsUnavailable(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(f *gputest.Fake)
		opts        []Option
		unsupported []bool // per GPU: xid_events unsupported
		warns       int
	}{
		{"event sets unsupported", func(f *gputest.Fake) { f.DisableEvents() }, nil, []bool{true, true, true}, 0},
		{"disabled by option", func(*gputest.Fake) {}, []Option{WithoutXidEvents()}, []bool{true, true, true}, 0},
		{"one device unsupported", func(f *gputest.Fake) { f.Fail(1, gputest.OpRegisterEvents, gonvml.ERROR_NOT_SUPPORTED) }, nil, []bool{false, true, false}, 0},
		{"one device fails", func(f *gputest.Fake) { f.Fail(2, gputest.OpRegisterEvents, gonvml.ERROR_UNKNOWN) }, nil, []bool{false, false, true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gputest.NewH100(3, busy())
			tt.setup(f)
			log, logs := newLogger()
			s := newSource(t, f, append(tt.opts, WithLogger(log))...)
			st := sample(t, s)
			for i, status := range st {
				if got := !status.Sample.Supports(gpu.FieldXidEvents); got != tt.unsupported[i] {
					t.Errorf("gpu %d xid_events unsupported = %v, want %v", i, got, tt.unsupported[i])
				}
				if !status.Sample.Healthy {
					t.Errorf("gpu %d unhealthy", i)
				}
			}
			if n := len(logs.Lines("level=WARN")); n != tt.warns {
				t.Errorf("%d WARN lines, want %d: %v", n, tt.warns, logs.Lines("level=WARN"))
			}
		})
	}
}

func TestXidEventWaitError(t *testing.T) {
	f := gputest.NewH100(2, busy())
	log, logs := newLogger()
	s := newSource(t, f, WithLogger(log))
	f.Xid(0, 79)
	f.FailEventWait(gonvml.ERROR_UNKNOWN)
	for i := 0; i < 3; i++ {
		st := sample(t, s) // a failed wait does not fail the sample
		if !st[0].Sample.Healthy {
			t.Fatal("event read despite the failing wait")
		}
	}
	if n := len(logs.Lines("level=WARN", "event wait")); n != 1 {
		t.Errorf("%d WARN lines about the wait, want 1", n)
	}
	f.FailEventWait(gonvml.SUCCESS)
	if st := sample(t, s); st[0].Sample.Healthy || st[0].Sample.LastXid != 79 {
		t.Errorf("after the wait recovers: %+v", st[0].Sample)
	}
}

func TestXidEventFloodIsBounded(t *testing.T) {
	f := gputest.NewH100(1, busy())
	s := newSource(t, f)
	for i := 0; i < maxEventsPerSample+10; i++ {
		f.Xid(0, 13)
	}
	sample(t, s)
	if got := f.PendingEvents(); got != 10 {
		t.Errorf("%d events pending after one sample, want 10", got)
	}
}

func TestCloseIdempotent(t *testing.T) {
	f := gputest.NewH100(8, busy())
	s, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if f.ShutdownCalls() != 1 || f.EventSetFrees() != 1 {
		t.Errorf("Shutdown %d, Free %d times; want 1, 1", f.ShutdownCalls(), f.EventSetFrees())
	}
	if _, err := s.Sample(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Sample after Close: %v, want ErrClosed", err)
	}
}

func TestCloseShutdownError(t *testing.T) {
	f := gputest.NewH100(1, busy())
	f.ShutdownFunc = func() gonvml.Return { return gonvml.ERROR_UNKNOWN }
	s, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil || err.Error() != "nvml: shutdown: ERROR_UNKNOWN" {
		t.Errorf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestConcurrentSample(t *testing.T) {
	f := gputest.NewH100(8, busy())
	s := newSource(t, f)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				f.Update(w, func(v *gputest.SampleValues) { v.TemperatureC = uint32(i) })
				f.Xid(w, 13)
				if _, err := s.Sample(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestOpenOnHostWithoutDriver(t *testing.T) {
	log, logs := newLogger()
	src := Open(log)
	if s, ok := src.(*Source); ok {
		defer s.Close()
		t.Skipf("this host has an NVIDIA driver (%s)", s.Driver())
	}
	null, ok := src.(gpu.Null)
	if !ok {
		t.Fatalf("Open returned %T, want gpu.Null", src)
	}
	if null.Reason == "" {
		t.Error("empty reason")
	}
	if warns := logs.Lines("level=WARN"); len(warns) != 1 || !strings.Contains(warns[0], `msg="no NVIDIA driver; serving on CPU"`) ||
		!strings.Contains(warns[0], "reason=") {
		t.Errorf("WARN lines = %q, want exactly one no-driver line with a reason", warns)
	}
	if n := len(logs.Lines()); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
	if len(src.Devices()) != 0 {
		t.Error("Null has devices")
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name   string
		fake   func() *gputest.Fake
		reason string // "" means a *Source
	}{
		{"gpus", func() *gputest.Fake { return gputest.NewH100(8, busy()) }, ""},
		{"no gpus", func() *gputest.Fake { return gputest.NewH100(0, busy()) }, "no NVIDIA GPUs found"},
		{"library not found", func() *gputest.Fake {
			f := gputest.NewH100(8, busy())
			f.InitFunc = func() gonvml.Return { return gonvml.ERROR_LIBRARY_NOT_FOUND }
			return f
		}, "NVML library libnvidia-ml.so.1 not found"},
		{"driver not loaded", func() *gputest.Fake {
			f := gputest.NewH100(8, busy())
			f.InitFunc = func() gonvml.Return { return gonvml.ERROR_DRIVER_NOT_LOADED }
			return f
		}, "NVIDIA kernel driver not loaded"},
		{"inventory error", func() *gputest.Fake {
			f := gputest.NewH100(8, busy())
			f.Fail(0, gputest.OpUUID, gonvml.ERROR_UNKNOWN)
			return f
		}, "nvml: gpu 0: uuid: ERROR_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake()
			log, logs := newLogger()
			src := open(f, log)
			defer src.Close()
			warns := logs.Lines("level=WARN")
			if tt.reason == "" {
				s, ok := src.(*Source)
				if !ok {
					t.Fatalf("open returned %T, want *Source", src)
				}
				if len(s.Devices()) != 8 || len(warns) != 0 {
					t.Errorf("%d devices, WARN lines %q", len(s.Devices()), warns)
				}
				return
			}
			if got, want := src, (gpu.Null{Reason: tt.reason}); got != want {
				t.Errorf("open = %#v, want %#v", got, want)
			}
			if got, want := src.Driver(), "none ("+tt.reason+")"; got != want {
				t.Errorf("Driver() = %q, want %q", got, want)
			}
			if len(warns) != 1 || !strings.Contains(warns[0], "no NVIDIA driver; serving on CPU") {
				t.Errorf("WARN lines = %q, want exactly one", warns)
			}
			if f.InitCalls() != f.ShutdownCalls() && tt.name != "library not found" && tt.name != "driver not loaded" {
				t.Errorf("Init %d times, Shutdown %d times", f.InitCalls(), f.ShutdownCalls())
			}
		})
	}
}

// FuzzDecodeThrottleReasons checks that every mask decodes to names that
// encode back to the same mask.
func FuzzDecodeThrottleReasons(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(gonvml.ClocksEventReasonAll))
	f.Add(uint64(1<<63 | 5))
	byName := map[string]uint64{}
	for _, t := range throttleNames {
		byName[t.name] = t.bit
	}
	f.Fuzz(func(t *testing.T, mask uint64) {
		var back uint64
		for _, name := range DecodeThrottleReasons(mask) {
			if bit, ok := byName[name]; ok {
				back |= bit
				continue
			}
			var rest uint64
			if _, err := fmt.Sscanf(name, "unknown_%v", &rest); err != nil {
				t.Fatalf("name %q: %v", name, err)
			}
			back |= rest
		}
		if back != mask {
			t.Fatalf("mask %#x decodes to %v, which encodes to %#x", mask, DecodeThrottleReasons(mask), back)
		}
	})
}
