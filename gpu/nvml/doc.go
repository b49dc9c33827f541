// Package nvml is the gpu.Source of hosts with an NVIDIA driver. It reads
// inventory, utilization, memory, temperature, power, clocks, throttle
// reasons, ECC counters and Xid health events through NVML
// (github.com/NVIDIA/go-nvml), over an injected library interface so that
// tests run against go-nvml's mock servers.
//
// NVML is reached through cgo. A binary built without cgo gets only Open,
// which reports that there is no GPU support and returns gpu.Null.
package nvml
