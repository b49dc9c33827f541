package chaos

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// partitioner cuts a node off from the others on loopback with iptables:
// every packet travels through OUTPUT, so a rule there that drops what the
// node sends (its sockets by local port, and its later sockets by a cgroup
// v2 it is moved into) and what is sent to it cuts it off both ways. The
// node's API port stays open, so clients still reach it.
type partitioner struct {
	ok     bool
	reason string // why partitions are impossible here, when !ok
	cgroot string // the cgroup v2 mount
	chain  string
	rules  map[int][][]string // per node, the rules to delete on heal
}

const chaosChain = "FOMO-CHAOS"

// newPartitioner probes for root, iptables with the cgroup match and a
// writable cgroup v2 hierarchy, and hooks its own chain into OUTPUT.
func newPartitioner() *partitioner {
	p := &partitioner{chain: chaosChain, rules: map[int][][]string{}}
	if os.Geteuid() != 0 {
		p.reason = "not root: no CAP_NET_ADMIN for iptables"
		return p
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		p.reason = "iptables is not installed"
		return p
	}
	p.cgroot = cgroup2Mount()
	if p.cgroot == "" {
		p.reason = "no cgroup v2 hierarchy mounted"
		return p
	}
	probe := filepath.Join(p.cgroot, "fomo-chaos-probe")
	if err := os.Mkdir(probe, 0o755); err != nil && !os.IsExist(err) {
		p.reason = "cgroup v2 not writable: " + err.Error()
		return p
	}
	defer os.Remove(probe)
	_ = ipt("-D", "OUTPUT", "-j", p.chain) // left by an earlier run
	_ = ipt("-F", p.chain)
	_ = ipt("-X", p.chain)
	if err := ipt("-N", p.chain); err != nil {
		p.reason = "iptables -N: " + err.Error()
		return p
	}
	if err := ipt("-A", p.chain, "-m", "cgroup", "--path", "fomo-chaos-probe", "-j", "DROP"); err != nil {
		_ = ipt("-X", p.chain)
		p.reason = "iptables has no cgroup match: " + err.Error()
		return p
	}
	_ = ipt("-F", p.chain)
	if err := ipt("-I", "OUTPUT", "-j", p.chain); err != nil {
		_ = ipt("-X", p.chain)
		p.reason = "iptables -I OUTPUT: " + err.Error()
		return p
	}
	p.ok = true
	return p
}

// close heals every partition and removes the chain.
func (p *partitioner) close() {
	if !p.ok {
		return
	}
	for i := range p.rules {
		p.heal(i, 0)
	}
	_ = ipt("-D", "OUTPUT", "-j", p.chain)
	_ = ipt("-F", p.chain)
	_ = ipt("-X", p.chain)
}

func (p *partitioner) cgroup(i int) string { return fmt.Sprintf("fomo-chaos-node%d", i) }

// isolate cuts node i (process pid, API port api) off from the others.
func (p *partitioner) isolate(i, pid, api int) error {
	cg := p.cgroup(i)
	if err := os.Mkdir(filepath.Join(p.cgroot, cg), 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.cgroot, cg, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("moving node%d into its cgroup: %w", i, err)
	}
	apiPort := strconv.Itoa(api)
	rules := [][]string{
		{"-m", "cgroup", "--path", cg, "-p", "tcp", "--sport", apiPort, "-j", "RETURN"},
		{"-m", "cgroup", "--path", cg, "-j", "DROP"},
	}
	tcp, udp := socketPorts(pid)
	for proto, ports := range map[string][]int{"tcp": tcp, "udp": udp} {
		var keep []string
		for _, port := range ports {
			if port != api {
				keep = append(keep, strconv.Itoa(port))
			}
		}
		for len(keep) > 0 {
			n := min(len(keep), 15) // multiport's limit
			list := strings.Join(keep[:n], ",")
			keep = keep[n:]
			rules = append(rules,
				[]string{"-p", proto, "-m", "multiport", "--sports", list, "-j", "DROP"},
				[]string{"-p", proto, "-m", "multiport", "--dports", list, "-j", "DROP"})
		}
	}
	for _, r := range rules {
		if err := ipt(append([]string{"-A", p.chain}, r...)...); err != nil {
			p.rules[i] = append(p.rules[i], r)
			p.heal(i, pid)
			return err
		}
		p.rules[i] = append(p.rules[i], r)
	}
	return nil
}

// heal removes node i's rules and moves the process (when pid > 0) back
// to the root cgroup.
func (p *partitioner) heal(i, pid int) {
	for _, r := range p.rules[i] {
		_ = ipt(append([]string{"-D", p.chain}, r...)...)
	}
	delete(p.rules, i)
	if pid > 0 {
		_ = os.WriteFile(filepath.Join(p.cgroot, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
	}
	_ = os.Remove(filepath.Join(p.cgroot, p.cgroup(i)))
}

func ipt(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options ... - fstype source ...
		fields := strings.Fields(sc.Text())
		for k, fld := range fields {
			if fld == "-" && k+1 < len(fields) && fields[k+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}

// socketPorts returns the local ports of a process's TCP and UDP sockets.
func socketPorts(pid int) (tcp, udp []int) {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	read := func(files ...string) []int {
		seen := map[int]bool{}
		var ports []int
		for _, name := range files {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, name))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				if len(f) < 10 || !inodes[f[9]] {
					continue
				}
				_, hexPort, ok := strings.Cut(f[1], ":")
				if !ok {
					continue
				}
				port, err := strconv.ParseInt(hexPort, 16, 32)
				if err == nil && port > 0 && !seen[int(port)] {
					seen[int(port)] = true
					ports = append(ports, int(port))
				}
			}
		}
		return ports
	}
	return read("tcp", "tcp6"), read("udp", "udp6")
}
