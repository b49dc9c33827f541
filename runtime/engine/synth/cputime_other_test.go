//go:build !unix

package synth_test

import "time"

// processCPU returns the CPU time the process has used; here it is not
// known, and 0.
func processCPU() time.Duration { return 0 }
