//go:build !unix

package supervise

import (
	"fmt"
	"runtime"
	"syscall"
)

// supported reports whether child processes can be supervised here: they
// need Unix process groups.
func supported() error {
	return fmt.Errorf("supervise: supervising a child process is not supported on %s", runtime.GOOS)
}

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalGroup(int, syscall.Signal) error { return supported() }

func groupAlive(int) bool { return false }
