package supervise

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// tailLines is how many lines of each output stream are kept for error
	// messages.
	tailLines = 20
	// maxLine is the longest output line logged whole; longer lines are
	// logged in pieces.
	maxLine = 64 << 10
	// groupPoll is how often Close looks for processes left in the group.
	groupPoll = 10 * time.Millisecond
	// drainWait bounds the wait for output still buffered in the pipes once
	// the process group is gone; a process that left the group and still
	// holds them is cut off.
	drainWait = time.Second
	// killWait bounds the wait for processes to disappear after SIGKILL; only
	// a process stuck in the kernel (a hung driver call) takes longer.
	killWait = 5 * time.Second
)

// child is one run of the command.
type child struct {
	cmd   *exec.Cmd
	pid   int
	start time.Time
	ready time.Time // when it first answered its health URL

	// exited is closed once the process has exited and been reaped; state
	// then holds how it ended.
	exited chan struct{}
	state  *os.ProcessState
	// ctx is cancelled when the process exits or the supervisor closes.
	ctx    context.Context
	cancel context.CancelFunc

	readers  sync.WaitGroup
	pipes    []*os.File
	tails    map[string]*tail
	stopOnce sync.Once
}

// tail keeps the last lines of a stream.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == tailLines {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:tailLines-1]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

// spawn starts the command with env added to the node's environment. The
// child's output is read line by line and handed to s.output.
func (s *Supervisor) spawn(parent context.Context, env []string) (*child, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()

	c := &child{cmd: cmd, exited: make(chan struct{}), tails: map[string]*tail{}}
	// The child writes into pipes created here rather than by os/exec, so
	// that Wait returns when the child exits even while a grandchild still
	// holds the pipes open.
	var writers []*os.File
	for _, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(c.pipes)
			closeAll(writers)
			return nil, fmt.Errorf("supervise: %w", err)
		}
		c.pipes = append(c.pipes, r)
		writers = append(writers, w)
		c.tails[stream] = &tail{}
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]

	err := cmd.Start()
	closeAll(writers)
	if err != nil {
		closeAll(c.pipes)
		return nil, fmt.Errorf("supervise: starting %s: %w", s.name, err)
	}
	c.pid = cmd.Process.Pid
	c.start = s.now()
	c.ctx, c.cancel = context.WithCancel(parent)
	for i, stream := range []string{"stdout", "stderr"} {
		c.readers.Add(1)
		go s.readLines(c, stream, c.pipes[i])
	}
	go func() {
		// Wait's error only repeats what ProcessState says.
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
		c.cancel()
	}()
	return c, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// readLines hands each line of r to the output sink until r is closed.
func (s *Supervisor) readLines(c *child, stream string, r *os.File) {
	defer c.readers.Done()
	br := bufio.NewReaderSize(r, maxLine)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			line := string(bytes.TrimRight(b, "\r\n"))
			c.tails[stream].add(line)
			s.output(c.pid, stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// done reports whether the process has exited.
func (c *child) done() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// status describes how the process ended: "exit status 1", "signal: killed".
func (c *child) status() string {
	if !c.done() {
		return "running"
	}
	return c.state.String()
}

// lastOutput returns the last lines the child wrote to stderr, or to stdout
// when it wrote nothing to stderr, indented for an error message.
func (c *child) lastOutput() string {
	name, lines := "stderr", c.tails["stderr"].get()
	if len(lines) == 0 {
		name, lines = "stdout", c.tails["stdout"].get()
	}
	if len(lines) == 0 {
		return ""
	}
	return "; last " + name + ":\n\t" + strings.Join(lines, "\n\t")
}

// stop ends the child's whole process group: SIGTERM, then SIGKILL for
// whatever remains after timeout. It returns once the child is reaped, no
// live process of its group remains and its output has been read. Only the
// first call does anything.
func (s *Supervisor) stop(c *child, timeout time.Duration) {
	c.stopOnce.Do(func() { s.stopGroup(c, timeout) })
}

func (s *Supervisor) stopGroup(c *child, timeout time.Duration) {
	defer c.drain()
	pgid := c.pid
	signal := func(sig syscall.Signal) {
		// The group id cannot be reused while a process of the group, a
		// zombie included, remains; signal only then.
		if !c.done() || groupAlive(pgid) {
			if err := signalGroup(pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				s.log.Warn("signalling runtime failed", "runtime", s.name, "pid", pgid, "signal", sig.String(), "err", err)
			}
		}
	}

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	signal(syscall.SIGTERM)
	// Wait for the leader, then for the rest of the group.
	expired := false
	select {
	case <-c.exited:
	case <-deadline.C:
		expired = true
	}
	for !expired && groupAlive(pgid) {
		select {
		case <-deadline.C:
			expired = true
		case <-time.After(groupPoll):
		}
	}
	if !expired {
		return
	}
	s.log.Warn("runtime did not stop after SIGTERM; killing its process group", "runtime", s.name,
		"pid", pgid, "stop_timeout", timeout)
	signal(syscall.SIGKILL)
	giveUp := time.NewTimer(killWait)
	defer giveUp.Stop()
	select {
	case <-c.exited:
	case <-giveUp.C:
		s.log.Error("runtime did not exit after SIGKILL", "runtime", s.name, "pid", pgid)
		return
	}
	for groupAlive(pgid) {
		select {
		case <-giveUp.C:
			s.log.Error("processes of the runtime's group survive SIGKILL", "runtime", s.name, "pgid", pgid)
			return
		case <-time.After(groupPoll):
		}
	}
}

// drain waits for the output readers, closing the pipes if something
// outside the group still holds them open.
func (c *child) drain() {
	readers := make(chan struct{})
	go func() {
		c.readers.Wait()
		close(readers)
	}()
	select {
	case <-readers:
	case <-time.After(drainWait):
		// Closing a pipe wakes the reader blocked on it.
		closeAll(c.pipes)
		<-readers
		return
	}
	closeAll(c.pipes)
}

// childEnv returns the variables added to the child's environment: the
// configured ones, then the GPU assignment.
func (s *Supervisor) childEnv() []string {
	var env []string
	if len(s.cfg.GPUs) > 0 {
		env = append(env, "CUDA_DEVICE_ORDER=PCI_BUS_ID")
	}
	env = append(env, s.cfg.Env...)
	if len(s.cfg.GPUs) > 0 {
		ids := make([]string, len(s.cfg.GPUs))
		for i, g := range s.cfg.GPUs {
			ids[i] = strconv.Itoa(g)
		}
		env = append(env, "CUDA_VISIBLE_DEVICES="+strings.Join(ids, ","))
	}
	return env
}
