//go:build cgo

package gputest

import (
	"sync"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/fomonet/fomo/gpu"
)

// Names of the inventory and event calls Fail accepts, besides the gpu.Field*
// sample fields. gpu.FieldMemory covers both the inventory's memory total
// and the sampled used/free memory.
const (
	OpUUID              = "uuid"
	OpName              = "name"
	OpComputeCapability = "compute_capability"
	OpMIGMode           = "mig_mode"
	OpPCIBusID          = "pci_bus_id"
	OpRegisterEvents    = "register_events"
)

// SampleValues are the readings a fake GPU reports.
type SampleValues struct {
	UtilizationPercent   uint32
	MemoryUsedBytes      uint64 // free memory is the total minus this
	TemperatureC         uint32
	PowerMilliwatts      uint32
	PowerLimitMilliwatts uint32
	SMClockMHz           uint32
	// ClocksEventReasons is the NVML clocks event (throttle) reasons mask,
	// e.g. nvml.ClocksEventReasonSwPowerCap.
	ClocksEventReasons uint64
	ECCUncorrected     uint64
}

// Typical returns plausible readings of a busy H100.
func Typical() SampleValues {
	return SampleValues{
		UtilizationPercent:   87,
		MemoryUsedBytes:      60 << 30,
		TemperatureC:         64,
		PowerMilliwatts:      612_500,
		PowerLimitMilliwatts: 700_000,
		SMClockMHz:           1980,
	}
}

// Fake is a host of fake GPUs built on go-nvml's mock server. It satisfies
// nvml.Interface (through the embedded *server.Server), answers every call
// the gpu/nvml Source makes, and lets a test change each GPU's readings,
// make calls fail, and inject Xid events, also while a Monitor samples it.
type Fake struct {
	*server.Server

	mu              sync.Mutex
	values          []SampleValues
	fail            []map[string]gonvml.Return
	events          []gonvml.EventData
	eventsSupported bool
	waitReturn      gonvml.Return
	inits           int
	shutdowns       int
	registered      []bool
	frees           int
}

// NewH100 returns a host of n fake H100 80GB GPUs (as in a DGX H100), each
// reporting v. Xid events are supported and none are pending.
func NewH100(n int, v SampleValues) *Fake {
	f := &Fake{
		Server:          dgxh100.NewWithGPUs(gpus.Multiple(n, gpus.H100_SXM5_80GB)...),
		values:          make([]SampleValues, n),
		fail:            make([]map[string]gonvml.Return, n),
		registered:      make([]bool, n),
		eventsSupported: true,
	}
	for i := range f.values {
		f.values[i] = v
		f.fail[i] = map[string]gonvml.Return{}
	}
	f.setServerFuncs()
	for i := range f.Devices {
		f.setDeviceFuncs(i)
	}
	return f
}

// Device returns the mock device of GPU i.
func (f *Fake) Device(i int) *server.Device { return f.Devices[i].(*server.Device) }

// UUID returns the UUID of GPU i.
func (f *Fake) UUID(i int) string { return f.Device(i).UUID }

// MemoryTotal returns the memory size of GPU i in bytes.
func (f *Fake) MemoryTotal(i int) uint64 { return f.Device(i).MemoryInfo.Total }

// Set replaces the readings of GPU i.
func (f *Fake) Set(i int, v SampleValues) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[i] = v
}

// Update changes the readings of GPU i in place.
func (f *Fake) Update(i int, change func(*SampleValues)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.values[i])
}

// Values returns the current readings of GPU i.
func (f *Fake) Values(i int) SampleValues {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.values[i]
}

// Fail makes the call for op on GPU i return ret; op is a gpu.Field* name or
// one of the Op* constants. Fail(i, op, nvml.SUCCESS) restores the call.
func (f *Fake) Fail(i int, op string, ret gonvml.Return) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ret == gonvml.SUCCESS {
		delete(f.fail[i], op)
		return
	}
	f.fail[i][op] = ret
}

// DisableEvents makes EventSetCreate return ERROR_NOT_SUPPORTED, as on
// drivers without event support. Call it before nvml.New.
func (f *Fake) DisableEvents() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventsSupported = false
}

// Xid queues an Xid critical error event for GPU i. A negative i queues an
// event that names no device.
func (f *Fake) Xid(i int, xid uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := gonvml.EventData{EventType: gonvml.EventTypeXidCriticalError, EventData: xid}
	if i >= 0 {
		e.Device = f.Devices[i]
	}
	f.events = append(f.events, e)
}

// QueueEvent queues any event, for tests of events other than Xids.
func (f *Fake) QueueEvent(e gonvml.EventData) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

// PendingEvents returns how many queued events have not been read.
func (f *Fake) PendingEvents() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events)
}

// FailEventWait makes EventSet.Wait return ret (SUCCESS restores it).
func (f *Fake) FailEventWait(ret gonvml.Return) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waitReturn = ret
}

// Registered reports whether Xid events were registered for GPU i.
func (f *Fake) Registered(i int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registered[i]
}

// InitCalls returns how many times Init was called.
func (f *Fake) InitCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inits
}

// ShutdownCalls returns how many times Shutdown was called.
func (f *Fake) ShutdownCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shutdowns
}

// EventSetFrees returns how many times an event set was freed.
func (f *Fake) EventSetFrees() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frees
}

func (f *Fake) setServerFuncs() {
	f.InitFunc = func() gonvml.Return {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.inits++
		return gonvml.SUCCESS
	}
	f.ShutdownFunc = func() gonvml.Return {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.shutdowns++
		return gonvml.SUCCESS
	}
	f.EventSetCreateFunc = func() (gonvml.EventSet, gonvml.Return) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.eventsSupported {
			return nil, gonvml.ERROR_NOT_SUPPORTED
		}
		return &mock.EventSet{WaitFunc: f.wait, FreeFunc: f.free}, gonvml.SUCCESS
	}
}

func (f *Fake) wait(uint32) (gonvml.EventData, gonvml.Return) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waitReturn != gonvml.SUCCESS {
		return gonvml.EventData{}, f.waitReturn
	}
	if len(f.events) == 0 {
		return gonvml.EventData{}, gonvml.ERROR_TIMEOUT
	}
	e := f.events[0]
	f.events = f.events[1:]
	return e, gonvml.SUCCESS
}

func (f *Fake) free() gonvml.Return {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frees++
	return gonvml.SUCCESS
}

// read returns GPU i's values and the return code for op.
func (f *Fake) read(i int, op string) (SampleValues, gonvml.Return) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ret, ok := f.fail[i][op]; ok {
		return SampleValues{}, ret
	}
	return f.values[i], gonvml.SUCCESS
}

func (f *Fake) setDeviceFuncs(i int) {
	d := f.Device(i)
	uuid, name := d.UUID, d.Config.Name
	major, minor := d.Config.CudaMajor, d.Config.CudaMinor
	total := d.MemoryInfo.Total
	busID := d.PciBusID

	d.GetUUIDFunc = func() (string, gonvml.Return) {
		if _, ret := f.read(i, OpUUID); ret != gonvml.SUCCESS {
			return "", ret
		}
		return uuid, gonvml.SUCCESS
	}
	d.GetNameFunc = func() (string, gonvml.Return) {
		if _, ret := f.read(i, OpName); ret != gonvml.SUCCESS {
			return "", ret
		}
		return name, gonvml.SUCCESS
	}
	d.GetCudaComputeCapabilityFunc = func() (int, int, gonvml.Return) {
		if _, ret := f.read(i, OpComputeCapability); ret != gonvml.SUCCESS {
			return 0, 0, ret
		}
		return major, minor, gonvml.SUCCESS
	}
	getMig := d.GetMigModeFunc
	d.GetMigModeFunc = func() (int, int, gonvml.Return) {
		if _, ret := f.read(i, OpMIGMode); ret != gonvml.SUCCESS {
			return 0, 0, ret
		}
		return getMig()
	}
	d.GetPciInfoFunc = func() (gonvml.PciInfo, gonvml.Return) {
		if _, ret := f.read(i, OpPCIBusID); ret != gonvml.SUCCESS {
			return gonvml.PciInfo{}, ret
		}
		p := gonvml.PciInfo{PciDeviceId: d.Config.PciDeviceId, Bus: uint32(i)}
		for j := 0; j < len(busID) && j < len(p.BusId)-1; j++ {
			p.BusId[j] = int8(busID[j])
		}
		return p, gonvml.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (gonvml.Memory, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldMemory)
		if ret != gonvml.SUCCESS {
			return gonvml.Memory{}, ret
		}
		used := min(v.MemoryUsedBytes, total)
		return gonvml.Memory{Total: total, Used: used, Free: total - used}, gonvml.SUCCESS
	}
	d.GetUtilizationRatesFunc = func() (gonvml.Utilization, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldUtilization)
		return gonvml.Utilization{Gpu: v.UtilizationPercent}, ret
	}
	d.GetTemperatureFunc = func(sensor gonvml.TemperatureSensors) (uint32, gonvml.Return) {
		if sensor != gonvml.TEMPERATURE_GPU {
			return 0, gonvml.ERROR_INVALID_ARGUMENT
		}
		v, ret := f.read(i, gpu.FieldTemperature)
		return v.TemperatureC, ret
	}
	d.GetPowerUsageFunc = func() (uint32, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldPower)
		return v.PowerMilliwatts, ret
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldPowerLimit)
		return v.PowerLimitMilliwatts, ret
	}
	d.GetClockInfoFunc = func(clock gonvml.ClockType) (uint32, gonvml.Return) {
		if clock != gonvml.CLOCK_SM && clock != gonvml.CLOCK_GRAPHICS {
			return 0, gonvml.ERROR_NOT_SUPPORTED
		}
		v, ret := f.read(i, gpu.FieldSMClock)
		return v.SMClockMHz, ret
	}
	reasons := func() (uint64, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldThrottleReasons)
		return v.ClocksEventReasons, ret
	}
	d.GetCurrentClocksEventReasonsFunc = reasons
	d.GetCurrentClocksThrottleReasonsFunc = reasons
	d.GetTotalEccErrorsFunc = func(kind gonvml.MemoryErrorType, _ gonvml.EccCounterType) (uint64, gonvml.Return) {
		v, ret := f.read(i, gpu.FieldECCUncorrected)
		if kind != gonvml.MEMORY_ERROR_TYPE_UNCORRECTED {
			return 0, ret
		}
		return v.ECCUncorrected, ret
	}
	d.GetSupportedEventTypesFunc = func() (uint64, gonvml.Return) {
		if _, ret := f.read(i, OpRegisterEvents); ret != gonvml.SUCCESS {
			return 0, ret
		}
		return gonvml.EventTypeXidCriticalError | gonvml.EventTypeDoubleBitEccError | gonvml.EventTypeSingleBitEccError, gonvml.SUCCESS
	}
	d.RegisterEventsFunc = func(types uint64, _ gonvml.EventSet) gonvml.Return {
		if _, ret := f.read(i, OpRegisterEvents); ret != gonvml.SUCCESS {
			return ret
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.registered[i] = types&gonvml.EventTypeXidCriticalError != 0
		return gonvml.SUCCESS
	}
}
