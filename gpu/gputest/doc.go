// Package gputest provides fake NVIDIA GPUs for tests: a Fake host built on
// go-nvml's mock servers that answers every NVML call the gpu/nvml Source
// makes, with readings, failures and Xid events a test controls. It needs
// cgo, like go-nvml itself.
package gputest
