//go:build linux

package supervise

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so the whole
// group can be signalled, and asks the kernel to SIGKILL it when the thread
// that started it dies. Go threads live as long as the process unless a
// goroutine exits while locked to its thread, so in practice the child dies
// with the node. Pdeathsig reaches only the direct child: its own children
// are cleaned up by Close, or by the child itself.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// groupAlive reports whether a live (not zombie) process remains in process
// group pgid. Zombies are left out: a grandchild orphaned by the group leader
// is reaped by init, or by nobody when the node runs as PID 1 of a container,
// and must not hold up Close.
func groupAlive(pgid int) bool {
	dir, err := os.Open("/proc")
	if err != nil {
		return signalGroup(pgid, 0) == nil
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return signalGroup(pgid, 0) == nil
	}
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		state, pg, ok := parseStat(b)
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// parseStat returns the state and process group of a /proc/PID/stat line:
// "pid (comm) state ppid pgrp ...". comm may itself contain ") ".
func parseStat(b []byte) (state byte, pgrp int, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pg, true
}
