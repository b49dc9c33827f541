// Package gpumetrics exports the latest GPU statuses as Prometheus metrics.
// Its Collector reads the statuses at scrape time from a gpu.Monitor (or
// anything else with a Latest method) and never calls the driver itself.
package gpumetrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fomonet/fomo/gpu"
)

// StatusSource provides the latest statuses; *gpu.Monitor satisfies it.
type StatusSource interface {
	Latest() []gpu.Status
}

// Collector is a prometheus.Collector of GPU gauges. Per-GPU metrics carry
// the labels gpu (the index) and uuid. Gauges of fields a GPU's driver does
// not support, and all sample gauges of a GPU not sampled yet, are left out.
type Collector struct {
	src StatusSource

	info, count                         *prometheus.Desc
	utilization, memUsed, memTotal      *prometheus.Desc
	memFree, temperature, power         *prometheus.Desc
	powerLimit, smClock, throttled, ecc *prometheus.Desc
	healthy                             *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector over src. Register it with a
// prometheus.Registerer.
func NewCollector(src StatusSource) *Collector {
	gpuLabels := []string{"gpu", "uuid"}
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("fomo_gpu_"+name, help, append(append([]string{}, gpuLabels...), extra...), nil)
	}
	return &Collector{
		src: src,
		info: prometheus.NewDesc("fomo_gpu_info", "GPU inventory; always 1.",
			[]string{"gpu", "uuid", "name", "compute_capability", "mig"}, nil),
		count:       prometheus.NewDesc("fomo_gpus", "Number of GPUs on this host.", nil, nil),
		utilization: desc("utilization_ratio", "Fraction of the last sample period the GPU was busy (0..1)."),
		memUsed:     desc("memory_used_bytes", "GPU memory in use."),
		memTotal:    desc("memory_total_bytes", "GPU memory size."),
		memFree:     desc("memory_free_bytes", "GPU memory free."),
		temperature: desc("temperature_celsius", "GPU core temperature."),
		power:       desc("power_watts", "GPU power draw."),
		powerLimit:  desc("power_limit_watts", "Enforced GPU power limit."),
		smClock:     desc("sm_clock_hertz", "Current SM clock."),
		throttled:   desc("throttled", "1 for each active clock throttle reason.", "reason"),
		ecc:         desc("ecc_uncorrected_errors", "Uncorrected ECC errors since the driver loaded."),
		healthy:     desc("healthy", "1 if the GPU is healthy (no critical Xid, not lost), else 0."),
	}
}

// Describe sends the descriptors of every metric the Collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.count, c.utilization, c.memUsed, c.memTotal, c.memFree, c.temperature,
		c.power, c.powerLimit, c.smClock, c.throttled, c.ecc, c.healthy,
	} {
		ch <- d
	}
}

// Collect sends the metrics of the latest statuses.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	statuses := c.src.Latest()
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(len(statuses)))
	for _, st := range statuses {
		idx := strconv.Itoa(st.Index)
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1,
			idx, st.UUID, st.Name, st.ComputeCapability, strconv.FormatBool(st.MIGEnabled))
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{idx, st.UUID}, extra...)...)
		}
		gauge(c.memTotal, float64(st.MemoryTotalBytes))
		sm := st.Sample
		if sm == nil {
			continue
		}
		if sm.Supports(gpu.FieldUtilization) {
			gauge(c.utilization, float64(sm.UtilizationPercent)/100)
		}
		if sm.Supports(gpu.FieldMemory) {
			gauge(c.memUsed, float64(sm.MemoryUsedBytes))
			gauge(c.memFree, float64(sm.MemoryFreeBytes))
		}
		if sm.Supports(gpu.FieldTemperature) {
			gauge(c.temperature, float64(sm.TemperatureC))
		}
		if sm.Supports(gpu.FieldPower) {
			gauge(c.power, sm.PowerWatts)
		}
		if sm.Supports(gpu.FieldPowerLimit) {
			gauge(c.powerLimit, sm.PowerLimitWatts)
		}
		if sm.Supports(gpu.FieldSMClock) {
			gauge(c.smClock, float64(sm.SMClockMHz)*1e6)
		}
		if sm.Supports(gpu.FieldThrottleReasons) {
			seen := map[string]bool{}
			for _, r := range sm.ThrottleReasons {
				if !seen[r] {
					seen[r] = true
					gauge(c.throttled, 1, r)
				}
			}
		}
		if sm.Supports(gpu.FieldECCUncorrected) {
			gauge(c.ecc, float64(sm.ECCUncorrected))
		}
		healthy := 0.0
		if sm.Healthy {
			healthy = 1
		}
		gauge(c.healthy, healthy)
	}
}
