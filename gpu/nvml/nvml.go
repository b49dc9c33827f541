//go:build cgo

package nvml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/fomonet/fomo/gpu"
)

// maxEventsPerSample bounds how many pending events one Sample drains, so a
// flood of events cannot stall sampling.
const maxEventsPerSample = 256

// Error is a failed NVML call. It is the only place an NVML return code
// becomes a Go error.
type Error struct {
	// Op is what was being read: "init", "device_count", a Device field such
	// as "uuid", or a Sample field such as gpu.FieldTemperature.
	Op string
	// Device is the GPU index, or -1 for calls not about one GPU.
	Device int
	// Code is the NVML return code.
	Code int
	// Text is NVML's name for Code.
	Text string
}

func (e *Error) Error() string {
	if e.Device >= 0 {
		return fmt.Sprintf("nvml: gpu %d: %s: %s", e.Device, e.Op, e.Text)
	}
	return fmt.Sprintf("nvml: %s: %s", e.Op, e.Text)
}

// Is matches ErrLibraryNotFound, ErrDriverNotLoaded, ErrNotSupported and
// ErrGPULost by return code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrLibraryNotFound:
		return e.Code == int(gonvml.ERROR_LIBRARY_NOT_FOUND)
	case ErrDriverNotLoaded:
		return e.Code == int(gonvml.ERROR_DRIVER_NOT_LOADED)
	case ErrNotSupported:
		return e.Code == int(gonvml.ERROR_NOT_SUPPORTED)
	case ErrGPULost:
		return e.Code == int(gonvml.ERROR_GPU_IS_LOST)
	}
	return false
}

func newError(op string, device int, ret gonvml.Return) *Error {
	return &Error{Op: op, Device: device, Code: int(ret), Text: ret.Error()}
}

// Source is the gpu.Source over NVML. Create it with New or Open; it is safe
// for concurrent use.
type Source struct {
	lib     gonvml.Interface
	cfg     config
	driver  string
	devices []gpu.Device
	handles []gonvml.Device
	// eventReasons says whether the driver has
	// nvmlDeviceGetCurrentClocksEventReasons (drivers from 535 on); older
	// ones have only the throttle-reasons call.
	eventReasons bool

	mu          sync.Mutex
	closed      bool
	events      gonvml.EventSet // nil when no device has Xid events registered
	registered  []bool          // per device: Xid events registered
	health      []health        // per device, sticky
	lastWaitErr string
}

// health is what Xid events and lost GPUs have told about one device.
type health struct {
	lastXid   uint64
	unhealthy bool
	detail    string
}

var _ gpu.Source = (*Source)(nil)

// New initializes lib, reads the inventory and registers for Xid critical
// error events where the driver supports them. A host with an NVIDIA driver
// but no GPUs gets a Source with no devices. On error New leaves lib shut
// down.
func New(lib gonvml.Interface, opts ...Option) (*Source, error) {
	if lib == nil {
		return nil, errors.New("nvml: nil library")
	}
	cfg := newConfig(opts)
	if ret := lib.Init(); ret != gonvml.SUCCESS {
		return nil, newError("init", -1, ret)
	}
	s := &Source{lib: lib, cfg: cfg}
	if err := s.load(); err != nil {
		lib.Shutdown()
		return nil, err
	}
	s.registerEvents()
	return s, nil
}

func (s *Source) load() error {
	s.driver = "nvml unknown"
	if v, ret := s.lib.SystemGetDriverVersion(); ret == gonvml.SUCCESS {
		s.driver = "nvml " + v
	}
	n, ret := s.lib.DeviceGetCount()
	if ret != gonvml.SUCCESS {
		return newError("device_count", -1, ret)
	}
	s.devices = make([]gpu.Device, 0, n)
	s.handles = make([]gonvml.Device, 0, n)
	for i := 0; i < n; i++ {
		h, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != gonvml.SUCCESS {
			return newError("handle", i, ret)
		}
		d, err := s.inventory(i, h)
		if err != nil {
			return err
		}
		s.devices = append(s.devices, d)
		s.handles = append(s.handles, h)
	}
	s.registered = make([]bool, n)
	s.health = make([]health, n)
	s.eventReasons = s.lib.Extensions().LookupSymbol("nvmlDeviceGetCurrentClocksEventReasons") == nil
	return nil
}

// inventory reads the static facts of device i. Name, UUID and memory are
// required; compute capability, MIG mode and PCI bus id are left empty when
// the driver cannot tell them.
func (s *Source) inventory(i int, h gonvml.Device) (gpu.Device, error) {
	d := gpu.Device{Index: i}
	var ret gonvml.Return
	if d.UUID, ret = h.GetUUID(); ret != gonvml.SUCCESS {
		return d, newError("uuid", i, ret)
	}
	if d.Name, ret = h.GetName(); ret != gonvml.SUCCESS {
		return d, newError("name", i, ret)
	}
	mem, ret := h.GetMemoryInfo()
	switch ret {
	case gonvml.SUCCESS:
		d.MemoryTotalBytes = mem.Total
	case gonvml.ERROR_NOT_SUPPORTED:
	default:
		return d, newError("memory_total", i, ret)
	}
	optional := func(field string, ret gonvml.Return) bool {
		switch ret {
		case gonvml.SUCCESS:
			return true
		case gonvml.ERROR_NOT_SUPPORTED:
		default:
			s.cfg.log.Warn("gpu inventory field unavailable", "gpu", i, "field", field, "err", newError(field, i, ret))
		}
		return false
	}
	if major, minor, ret := h.GetCudaComputeCapability(); optional("compute_capability", ret) {
		d.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	}
	if current, _, ret := h.GetMigMode(); optional("mig_mode", ret) {
		d.MIGEnabled = current == gonvml.DEVICE_MIG_ENABLE
	}
	if pci, ret := h.GetPciInfo(); optional("pci_bus_id", ret) {
		d.PCIBusID = cString(pci.BusId[:])
	}
	return d, nil
}

// registerEvents creates one event set and registers every device that
// supports Xid critical error events on it.
func (s *Source) registerEvents() {
	if !s.cfg.xidEvents || len(s.handles) == 0 {
		return
	}
	set, ret := s.lib.EventSetCreate()
	if ret != gonvml.SUCCESS {
		if ret != gonvml.ERROR_NOT_SUPPORTED {
			s.cfg.log.Warn("gpu xid events unavailable", "err", newError("event_set_create", -1, ret))
		}
		return
	}
	anyRegistered := false
	for i, h := range s.handles {
		supported, ret := h.GetSupportedEventTypes()
		if ret == gonvml.SUCCESS {
			if supported&gonvml.EventTypeXidCriticalError == 0 {
				continue
			}
			ret = h.RegisterEvents(gonvml.EventTypeXidCriticalError, set)
		}
		switch ret {
		case gonvml.SUCCESS:
			s.registered[i] = true
			anyRegistered = true
		case gonvml.ERROR_NOT_SUPPORTED:
		default:
			s.cfg.log.Warn("gpu xid events unavailable", "gpu", i, "err", newError("register_events", i, ret))
		}
	}
	if !anyRegistered {
		set.Free()
		return
	}
	s.events = set
}

// Devices returns the inventory read by New, ordered by index.
func (s *Source) Devices() []gpu.Device {
	return append([]gpu.Device{}, s.devices...)
}

// Driver returns "nvml <driver version>".
func (s *Source) Driver() string { return s.driver }

// Sample drains pending Xid events without waiting, then reads every device.
// It returns a status for every device even when some reads fail: failed
// fields are left zero and the returned error joins one *Error per failure,
// naming the device and field. Fields the driver does not support are left
// zero and named in Sample.Unsupported.
func (s *Source) Sample(ctx context.Context) ([]gpu.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.drainEvents()
	out := make([]gpu.Status, len(s.devices))
	var errs []error
	for i := range s.devices {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sm, err := s.sampleDevice(i)
		out[i] = gpu.Status{Device: s.devices[i], Sample: sm}
		errs = append(errs, err...)
	}
	return out, errors.Join(errs...)
}

// fieldReader records the outcome of each NVML read of one device.
type fieldReader struct {
	index int
	sm    *gpu.Sample
	errs  []error
	lost  bool
}

// ok reports whether ret is SUCCESS; otherwise it records field as
// unsupported or failed.
func (r *fieldReader) ok(field string, ret gonvml.Return) bool {
	switch ret {
	case gonvml.SUCCESS:
		return true
	case gonvml.ERROR_NOT_SUPPORTED:
		r.sm.Unsupported = append(r.sm.Unsupported, field)
	default:
		if ret == gonvml.ERROR_GPU_IS_LOST {
			r.lost = true
		}
		r.errs = append(r.errs, newError(field, r.index, ret))
	}
	return false
}

func (s *Source) sampleDevice(i int) (*gpu.Sample, []error) {
	h := s.handles[i]
	sm := &gpu.Sample{Time: s.cfg.now(), ThrottleReasons: []string{}}
	r := &fieldReader{index: i, sm: sm}
	reads := []func(){
		func() {
			if u, ret := h.GetUtilizationRates(); r.ok(gpu.FieldUtilization, ret) {
				sm.UtilizationPercent = u.Gpu
			}
		},
		func() {
			if m, ret := h.GetMemoryInfo(); r.ok(gpu.FieldMemory, ret) {
				sm.MemoryUsedBytes, sm.MemoryFreeBytes = m.Used, m.Free
			}
		},
		func() {
			if t, ret := h.GetTemperature(gonvml.TEMPERATURE_GPU); r.ok(gpu.FieldTemperature, ret) {
				sm.TemperatureC = t
			}
		},
		func() {
			if mw, ret := h.GetPowerUsage(); r.ok(gpu.FieldPower, ret) {
				sm.PowerWatts = float64(mw) / 1000
			}
		},
		func() {
			if mw, ret := h.GetEnforcedPowerLimit(); r.ok(gpu.FieldPowerLimit, ret) {
				sm.PowerLimitWatts = float64(mw) / 1000
			}
		},
		func() {
			if mhz, ret := h.GetClockInfo(gonvml.CLOCK_SM); r.ok(gpu.FieldSMClock, ret) {
				sm.SMClockMHz = mhz
			}
		},
		func() {
			var mask uint64
			var ret gonvml.Return
			if s.eventReasons {
				mask, ret = h.GetCurrentClocksEventReasons()
			} else {
				mask, ret = h.GetCurrentClocksThrottleReasons()
			}
			if r.ok(gpu.FieldThrottleReasons, ret) {
				sm.ThrottleReasons = DecodeThrottleReasons(mask)
			}
		},
		func() {
			n, ret := h.GetTotalEccErrors(gonvml.MEMORY_ERROR_TYPE_UNCORRECTED, gonvml.VOLATILE_ECC)
			if r.ok(gpu.FieldECCUncorrected, ret) {
				sm.ECCUncorrected = n
			}
		},
	}
	for _, read := range reads {
		read()
		if r.lost {
			// Every further call would fail the same way.
			break
		}
	}
	if !s.registered[i] {
		sm.Unsupported = append(sm.Unsupported, gpu.FieldXidEvents)
	}
	hs := &s.health[i]
	if r.lost && !hs.unhealthy {
		hs.unhealthy = true
		hs.detail = "gpu is lost"
		s.cfg.log.Warn("gpu lost", "gpu", i, "uuid", s.devices[i].UUID)
	}
	sm.LastXid = hs.lastXid
	sm.Healthy = !hs.unhealthy
	sm.HealthDetail = hs.detail
	return sm, r.errs
}

// drainEvents handles the events already pending, without waiting.
func (s *Source) drainEvents() {
	if s.events == nil {
		return
	}
	for n := 0; n < maxEventsPerSample; n++ {
		e, ret := s.events.Wait(0)
		switch ret {
		case gonvml.SUCCESS:
			s.lastWaitErr = ""
			s.handleEvent(e)
		case gonvml.ERROR_TIMEOUT:
			s.lastWaitErr = ""
			return
		default:
			err := newError("event_wait", -1, ret)
			if msg := err.Error(); msg != s.lastWaitErr {
				s.cfg.log.Warn("gpu event wait failed", "err", err)
				s.lastWaitErr = msg
			}
			return
		}
	}
}

func (s *Source) handleEvent(e gonvml.EventData) {
	if e.EventType&gonvml.EventTypeXidCriticalError == 0 {
		return
	}
	xid := e.EventData
	targets := []int{s.indexOf(e.Device)}
	if targets[0] < 0 {
		// The event names no device we know: it concerns them all.
		targets = targets[:0]
		for i := range s.devices {
			targets = append(targets, i)
		}
	}
	critical := !s.cfg.ignoredXids[xid]
	for _, i := range targets {
		hs := &s.health[i]
		hs.lastXid = xid
		if !critical {
			s.cfg.log.Info("gpu application xid", "gpu", i, "uuid", s.devices[i].UUID, "xid", xid)
			continue
		}
		s.cfg.log.Warn("gpu critical xid", "gpu", i, "uuid", s.devices[i].UUID, "xid", xid)
		if !hs.unhealthy {
			hs.unhealthy = true
			hs.detail = fmt.Sprintf("xid %d", xid)
		}
	}
}

// indexOf finds the index of an event's device by UUID, or -1.
func (s *Source) indexOf(d gonvml.Device) int {
	if d == nil {
		return -1
	}
	uuid, ret := d.GetUUID()
	if ret != gonvml.SUCCESS {
		return -1
	}
	for i, dev := range s.devices {
		if dev.UUID == uuid {
			return i
		}
	}
	return -1
}

// Close frees the event set and shuts NVML down. Calls after the first do
// nothing.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.events != nil {
		s.events.Free()
		s.events = nil
	}
	if ret := s.lib.Shutdown(); ret != gonvml.SUCCESS {
		return newError("shutdown", -1, ret)
	}
	return nil
}

// throttleNames maps clock event (throttle) reason bits to their names, in
// the order they are reported.
var throttleNames = []struct {
	bit  uint64
	name string
}{
	{gonvml.ClocksEventReasonGpuIdle, gpu.ThrottleGPUIdle},
	{gonvml.ClocksEventReasonApplicationsClocksSetting, gpu.ThrottleApplicationsClocks},
	{gonvml.ClocksEventReasonSwPowerCap, gpu.ThrottleSWPowerCap},
	{gonvml.ClocksThrottleReasonHwSlowdown, gpu.ThrottleHWSlowdown},
	{gonvml.ClocksEventReasonSyncBoost, gpu.ThrottleSyncBoost},
	{gonvml.ClocksEventReasonSwThermalSlowdown, gpu.ThrottleSWThermal},
	{gonvml.ClocksThrottleReasonHwThermalSlowdown, gpu.ThrottleHWThermal},
	{gonvml.ClocksThrottleReasonHwPowerBrakeSlowdown, gpu.ThrottleHWPowerBrake},
	{gonvml.ClocksEventReasonDisplayClockSetting, gpu.ThrottleDisplayClockSetting},
	{gonvml.ClocksEventReasonBoardLimit, gpu.ThrottleBoardLimit},
	{gonvml.ClocksEventReasonReliability, gpu.ThrottleReliability},
}

// DecodeThrottleReasons names the bits set in an NVML clocks event
// (throttle) reasons mask. Bits without a name are reported as one
// "unknown_0x..." entry. A zero mask gives an empty slice.
func DecodeThrottleReasons(mask uint64) []string {
	out := []string{}
	for _, t := range throttleNames {
		if mask&t.bit != 0 {
			out = append(out, t.name)
			mask &^= t.bit
		}
	}
	if mask != 0 {
		out = append(out, fmt.Sprintf("unknown_%#x", mask))
	}
	return out
}

// cString converts a NUL-terminated C char array to a string.
func cString(b []int8) string {
	buf := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		buf = append(buf, byte(c))
	}
	return string(buf)
}

// Open opens the host's NVML library. Where there is no usable NVIDIA
// driver or no GPU it logs one WARN line, "no NVIDIA driver; serving on
// CPU" with the reason, and returns gpu.Null.
func Open(log *slog.Logger, opts ...Option) gpu.Source {
	return open(gonvml.New(), log, opts...)
}

func open(lib gonvml.Interface, log *slog.Logger, opts ...Option) gpu.Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := New(lib, append([]Option{WithLogger(log)}, opts...)...)
	if err == nil && len(src.devices) == 0 {
		src.Close()
		err = errors.New("no NVIDIA GPUs found")
	}
	if err != nil {
		reason := Reason(err)
		log.Warn(noDriverMsg, "reason", reason)
		return gpu.Null{Reason: reason}
	}
	log.Info("gpus found", "driver", src.driver, "count", len(src.devices))
	return src
}
