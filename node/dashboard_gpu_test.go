//go:build cgo

package node

import (
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/gpu/gputest"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
)

// TestDashboardShowsGPUs opens /ui on a node with two fake H100s whose
// utilisation changes: the page shows each GPU's name, utilisation,
// memory, temperature and power, and draws the utilisation's history.
func TestDashboardShowsGPUs(t *testing.T) {
	fake := gputest.NewH100(2, gputest.Typical())
	fake.Update(1, func(v *gputest.SampleValues) { v.UtilizationPercent, v.TemperatureC = 12, 41 })
	src, err := gpunvml.New(fake)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.GPU.SampleInterval = configs.Duration(100 * time.Millisecond)
	n := startNode(t, cfg, WithGPUSource(src))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				fake.Update(0, func(v *gputest.SampleValues) { v.UtilizationPercent = 40 + i*7%60 })
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
	d := openDashboard(t, n.APIAddr())
	d.waitFor(
		`document.querySelectorAll("#gpus .gpu").length === 2`,
		has("#gpus .val", "60.0 GiB / 80.0 GiB"),
		has("#gpus .val", "12%"),
		has("#gpus .val", "41 °C"),
		has("#gpus .val", "613 W / 700 W"),
		// Two samples or more draw the line of the history.
		`document.querySelectorAll("#gpus svg.spark path.line").length === 2`,
	)
	d.contains("H100", "healthy")
	d.screenshot()
	d.finish()
}
