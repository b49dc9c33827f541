package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/internal/testbuf"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/identity"
)

// The devnet's model and its shape: every node serves it.
const (
	model      = "synth-tiny-q8_0"
	validators = 4
)

// TestMain removes the fomo binary that the runs built.
func TestMain(m *testing.M) { os.Exit(fomotest.Main(m)) }

// devnet is a running `fomo devnet` and its nodes. Nodes that the campaign
// restarts are children of the test, not of devnet.
type devnet struct {
	t     *testing.T
	bin   string
	dir   string
	proc  *exec.Cmd
	out   *testbuf.Buffer
	done  chan struct{}
	nodes []*devNode
}

// devNode is one node process. mu guards the fields that a restart
// changes.
type devNode struct {
	i    int
	peer string
	home string
	args []string // the node's command line, without the binary

	mu   sync.Mutex
	pid  int
	api  string
	cmd  *exec.Cmd // set once the test restarted the node
	done chan struct{}
}

func (n *devNode) API() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.api
}

func (n *devNode) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid
}

// startDevnet runs fomo devnet with four validators, every one serving the
// synthetic model, short epochs and no built-in traffic, and waits until it
// has announced the model.
func startDevnet(t *testing.T, bin string, epoch time.Duration) *devnet {
	t.Helper()
	dir := t.TempDir()
	d := &devnet{t: t, bin: bin, dir: dir, out: &testbuf.Buffer{}, done: make(chan struct{})}
	d.proc = exec.Command(bin, "devnet", "--nodes", strconv.Itoa(validators), "--serve-on", strconv.Itoa(validators), "--dir", dir, "--keep-going",
		"--epoch", epoch.String(), "--block-interval", "200ms", "--traffic", "0",
		"--model-preset", "tiny", "--model-type", "q8_0",
		"--set", "gpu.enabled=false", "--set", "p2p.advert_interval=500ms")
	d.proc.Stdout, d.proc.Stderr = d.out, d.out
	d.proc.Env = append(os.Environ(), "FOMO_HOME=")
	if err := d.proc.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.proc.Wait(); close(d.done) }()
	t.Cleanup(d.stop)

	d.nodes = make([]*devNode, validators)
	for i, n := range fomotest.WaitDevnet(t, d.out, d.done, validators, 3*time.Minute) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID))
		if err != nil {
			t.Fatalf("node%d: %v", i, err)
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")[1:]
		d.nodes[i] = &devNode{i: i, peer: n.Peer, pid: n.PID, api: n.API, args: args,
			home: filepath.Join(dir, fmt.Sprintf("node%d", i))}
	}
	return d
}

// userClient is a client that pays as the devnet's funded user, at the
// prices node0 quotes for the model, with timeout per request.
func (d *devnet) userClient(t *testing.T, timeout time.Duration) *client {
	t.Helper()
	key, err := identity.Load(filepath.Join(d.dir, "keys", "user.key"))
	if err != nil {
		t.Fatal(err)
	}
	var q quote
	if err := fomotest.GetJSON(t.Context(), d.nodes[0].API()+"/api/v1/prices/"+model, &q, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return &client{key: key, q: q, nodes: d.nodes, timeout: timeout}
}

// stop stops devnet (and with it the nodes it started) and every node the
// test restarted, gracefully, then by SIGKILL.
func (d *devnet) stop() {
	for _, n := range d.nodes {
		if n != nil {
			_ = syscall.Kill(n.PID(), syscall.SIGCONT)
		}
	}
	var wg sync.WaitGroup
	for _, n := range d.nodes {
		if n == nil {
			continue
		}
		n.mu.Lock()
		cmd, done := n.cmd, n.done
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		wg.Go(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	select {
	case <-d.done:
	default:
		_ = d.proc.Process.Signal(syscall.SIGINT)
		select {
		case <-d.done:
		case <-time.After(45 * time.Second):
			_ = d.proc.Process.Kill()
			<-d.done
		}
	}
	wg.Wait()
}

// kill sends SIGKILL to a node and waits until its process is gone.
func (d *devnet) kill(n *devNode) {
	pid := n.PID()
	_ = syscall.Kill(pid, syscall.SIGCONT)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done != nil {
		<-done
		return
	}
	// A child of devnet: devnet reaps it.
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// restart starts a node again over its home with its own command line and
// waits until its API answers.
func (d *devnet) restart(n *devNode, within time.Duration) error {
	os.Remove(filepath.Join(n.home, node.APIAddrFile)) // left behind by the kill
	logf, err := os.OpenFile(filepath.Join(n.home, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "FOMO_HOME=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done, n.pid = cmd, done, cmd.Process.Pid
	n.mu.Unlock()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("node%d exited during restart", n.i)
		case <-time.After(100 * time.Millisecond):
		}
		b, err := os.ReadFile(filepath.Join(n.home, node.APIAddrFile))
		if err != nil {
			continue
		}
		api := "http://" + strings.TrimSpace(string(b))
		var st struct {
			PeerID string `json:"peer_id"`
		}
		if fomotest.GetJSON(context.Background(), api+"/api/v1/status", &st, 2*time.Second) == nil {
			n.mu.Lock()
			n.api = api
			n.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("node%d did not answer within %s of its restart", n.i, within)
}

// chainState is the part of /api/v1/chain the campaign reads.
type chainState struct {
	Height  int64  `json:"height"`
	AppHash string `json:"app_hash"`
	State   struct {
		NextEpoch uint64 `json:"next_epoch"`
	} `json:"state"`
}

// metrics reads the Prometheus gauges named in want from a node's /metrics.
func metrics(api string, want ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, w := range want {
			if v, ok := strings.CutPrefix(line, w+" "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil {
					out[w] = f
				}
			}
		}
	}
	return out, sc.Err()
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var total int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total
}
