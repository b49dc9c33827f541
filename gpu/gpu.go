// Package gpu describes the GPUs of a host: the inventory and sample types,
// the Source interface that produces them, and the Null source used on hosts
// without an NVIDIA driver, where the node serves on CPU. It is a leaf: the
// NVML implementation lives in gpu/nvml and test fakes in gpu/gputest.
package gpu

import (
	"context"
	"time"
)

// Device is the static inventory of one GPU.
type Device struct {
	Index             int    `json:"index"`
	UUID              string `json:"uuid"`
	Name              string `json:"name"`
	MemoryTotalBytes  uint64 `json:"memory_total_bytes"`
	ComputeCapability string `json:"compute_capability"` // "9.0"
	MIGEnabled        bool   `json:"mig_enabled"`
	PCIBusID          string `json:"pci_bus_id,omitempty"`
}

// Sample is one reading of a GPU's dynamic state. Fields the driver does not
// support on a device are left zero and named in Unsupported.
type Sample struct {
	Time               time.Time `json:"time"`
	UtilizationPercent uint32    `json:"utilization_percent"`
	MemoryUsedBytes    uint64    `json:"memory_used_bytes"`
	MemoryFreeBytes    uint64    `json:"memory_free_bytes"`
	TemperatureC       uint32    `json:"temperature_c"`
	PowerWatts         float64   `json:"power_watts"`
	PowerLimitWatts    float64   `json:"power_limit_watts,omitempty"`
	SMClockMHz         uint32    `json:"sm_clock_mhz"`
	ThrottleReasons    []string  `json:"throttle_reasons"`
	ECCUncorrected     uint64    `json:"ecc_uncorrected"`
	LastXid            uint64    `json:"last_xid,omitempty"`
	Healthy            bool      `json:"healthy"`
	HealthDetail       string    `json:"health_detail,omitempty"`
	Unsupported        []string  `json:"unsupported,omitempty"`
}

// Status is a device with its latest sample.
type Status struct {
	Device
	Sample *Sample `json:"sample"`
}

// Source produces GPU inventory and samples.
type Source interface {
	// Devices returns the inventory, ordered by index. A host without GPUs
	// returns an empty slice and no error.
	Devices() []Device
	// Sample reads the current state of every device, ordered by index.
	Sample(ctx context.Context) ([]Status, error)
	// Driver describes the driver ("nvml 560.35.03", or "none").
	Driver() string
	// Close releases the source.
	Close() error
}

// Null is the Source of a host without GPUs.
type Null struct {
	// Reason says why there are no GPUs (for status output).
	Reason string
}

var _ Source = Null{}

// Devices returns no devices.
func (Null) Devices() []Device { return []Device{} }

// Sample returns no samples.
func (Null) Sample(context.Context) ([]Status, error) { return []Status{}, nil }

// Driver reports "none" with the reason.
func (n Null) Driver() string {
	if n.Reason == "" {
		return "none"
	}
	return "none (" + n.Reason + ")"
}

// Close does nothing.
func (Null) Close() error { return nil }
