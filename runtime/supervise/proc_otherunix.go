//go:build unix && !linux

package supervise

import "syscall"

// sysProcAttr puts the child in a process group of its own, so the whole
// group can be signalled. Outside Linux there is no parent-death signal: a
// child outlives a node that is killed without running Close.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether any process, zombies included, remains in
// process group pgid.
func groupAlive(pgid int) bool { return signalGroup(pgid, 0) == nil }
