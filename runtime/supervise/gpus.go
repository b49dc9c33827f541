package supervise

import (
	"context"
	"fmt"
	"slices"

	"github.com/fomonet/fomo/gpu"
)

// checkGPUs verifies that every assigned GPU exists and, when
// min_free_memory is set, has that much memory free.
func (s *Supervisor) checkGPUs(ctx context.Context) error {
	if len(s.cfg.GPUs) == 0 {
		return nil
	}
	// A sampler may return every device along with errors for the fields
	// it failed to read; the devices are still checked, and the errors are
	// reported when the check fails.
	sts, sampleErr := s.gpus.Sample(ctx)
	if sampleErr != nil && len(sts) == 0 {
		return fmt.Errorf("supervise: %s: reading GPU state: %w", s.name, sampleErr)
	}
	err := checkGPUs(sts, s.cfg.GPUs, s.cfg.MinFreeMemory, func(st gpu.Status) {
		s.log.Warn("assigned GPU reports a health problem", "runtime", s.name, "gpu", st.Index,
			"uuid", st.UUID, "detail", st.Sample.HealthDetail)
	})
	if err != nil && sampleErr != nil {
		return fmt.Errorf("%w (reading GPU state: %v)", err, sampleErr)
	}
	return err
}

// checkGPUs checks want against the sampled GPUs; unhealthy is called for an
// assigned GPU whose sample is not healthy (which does not stop the start).
func checkGPUs(sts []gpu.Status, want []int, minFree uint64, unhealthy func(gpu.Status)) error {
	for _, idx := range want {
		i := slices.IndexFunc(sts, func(st gpu.Status) bool { return st.Index == idx })
		if i < 0 {
			return fmt.Errorf("supervise: gpu %d not present (host has %s)", idx, plural(len(sts), "GPU"))
		}
		st := sts[i]
		if st.Sample != nil && !st.Sample.Healthy && unhealthy != nil {
			unhealthy(st)
		}
		if minFree == 0 {
			continue
		}
		if st.Sample == nil || !st.Sample.Supports(gpu.FieldMemory) {
			return fmt.Errorf("supervise: gpu %d (%s) reports no free memory, cannot check min_free_memory %s",
				idx, describe(st), gib(minFree))
		}
		if free := st.Sample.MemoryFreeBytes; free < minFree {
			return fmt.Errorf("supervise: gpu %d (%s) has %s free, command needs %s", idx, describe(st), gib(free), gib(minFree))
		}
	}
	return nil
}

func describe(st gpu.Status) string {
	switch {
	case st.Name != "" && st.UUID != "":
		return st.Name + ", " + st.UUID
	case st.Name != "":
		return st.Name
	case st.UUID != "":
		return st.UUID
	}
	return "unnamed"
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
