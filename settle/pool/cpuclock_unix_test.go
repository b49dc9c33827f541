//go:build unix

package pool

import (
	"syscall"
	"time"
)

// cpuClock is the process's CPU time (user and system) when it started.
type cpuClock struct{ start time.Duration }

func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

func startCPU() cpuClock {
	t, _ := processCPU()
	return cpuClock{t}
}

// since returns the CPU time the process used since c started.
func (c cpuClock) since() (time.Duration, bool) {
	t, ok := processCPU()
	return t - c.start, ok
}
