package devnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/api/client"
)

// devnode is one node process of the devnet.
type devnode struct {
	name   string
	home   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	api    string
	peer   string
	addrs  []string
	models []string // served by this node's own runtimes
	// logFrom is where this run's lines start in node.log, which keeps
	// the lines of earlier runs.
	logFrom int64
}

// start writes the node's config.toml and starts "fomo node --home HOME",
// which reads everything from it: the same command restarts the node by hand.
func (n *devnode) start(self string, cfg []byte) error {
	if err := os.MkdirAll(n.home, 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.home, configFile)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	os.Remove(filepath.Join(n.home, node.APIAddrFile))
	logf, err := os.OpenFile(filepath.Join(n.home, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n.logFrom = 0
	if fi, err := logf.Stat(); err == nil {
		n.logFrom = fi.Size()
	}
	n.cmd = exec.Command(self, "node", "--home", n.home)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.Env = withoutFomoHome(os.Environ())
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		n.err = n.cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	return nil
}

func withoutFomoHome(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "FOMO_HOME=") {
			out = append(out, e)
		}
	}
	return out
}

// waitReady waits until the node has written its API address and answers
// its status there, and keeps its peer ID, addresses and models.
func (n *devnode) waitReady(ctx context.Context, ttl time.Duration) error {
	deadline := time.NewTimer(ttl)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(filepath.Join(n.home, node.APIAddrFile)); err == nil {
			// The file may be half written: an address without a host is
			// tried again, as is a node that does not answer yet.
			n.api = "http://" + strings.TrimSpace(string(b))
			if c, err := client.New(n.api); err == nil {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				st, err := c.Status(sctx)
				cancel()
				if err == nil {
					n.peer, n.addrs = st.PeerID, st.ListenAddrs
					for _, m := range st.Models {
						n.models = append(n.models, m.ID)
					}
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.exited:
			return fmt.Errorf("%s exited during start (%v)%s", n.name, n.err, n.logTail(20))
		case <-deadline.C:
			return fmt.Errorf("%s did not start within %s%s", n.name, ttl, n.logTail(20))
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits, then kills the process group.
func (n *devnode) stop(timeout time.Duration) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-n.exited
	}
}

// logTail describes this run of the node from its log: the last error it
// logged first (a failed start ends with one), then its last n lines; the
// lines of earlier runs over the same home are left out.
func (n *devnode) logTail(max int) string {
	path := filepath.Join(n.home, "node.log")
	b, err := readFrom(path, n.logFrom)
	if err != nil {
		return "; no log: " + err.Error()
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "; it wrote nothing to " + path
	}
	lines := bytes.Split(b, []byte("\n"))
	var out strings.Builder
	for i := len(lines) - 1; i >= 0; i-- {
		if l := lines[i]; bytes.HasPrefix(l, []byte("fomo: ")) || bytes.Contains(l, []byte("level=ERROR")) {
			fmt.Fprintf(&out, "\n  error: %s", bytes.TrimPrefix(l, []byte("fomo: ")))
			break
		}
	}
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	fmt.Fprintf(&out, "\n  its last lines (%s):\n%s", path, bytes.Join(lines, []byte("\n")))
	return out.String()
}

// readFrom reads the file at path from offset on (from its start when it
// is now shorter than offset), leaving earlier runs' lines unread.
func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() >= offset {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}
