//go:build unix

package supervise

import "syscall"

// supported reports whether child processes can be supervised here.
func supported() error { return nil }

// signalGroup sends sig to every process of group pgid.
func signalGroup(pgid int, sig syscall.Signal) error {
	return syscall.Kill(-pgid, sig)
}
