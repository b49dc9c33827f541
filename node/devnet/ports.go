package devnet

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fomonet/fomo/configs"
	"github.com/multiformats/go-multiaddr"
)

// ports are the loopback ports a devnet node listens on: its API, its
// libp2p TCP and QUIC (one number, TCP and UDP) and CometBFT's peer port.
// The devnet picks them on the node's first start and keeps them in its
// config.toml, so that the node, restarted by another run or by hand
// (fomo node --home DIR/node<i>), listens where its peers' bootstrap and
// chain peer addresses point.
type ports struct {
	API, P2P, Chain int
}

// portsOf reads the ports in the config.toml of home; a port it does not
// find is 0.
func portsOf(home string) ports {
	var p ports
	b, err := os.ReadFile(filepath.Join(home, configFile))
	if err != nil {
		return p
	}
	cfg, err := configs.Decode(b)
	if err != nil {
		return p
	}
	port := func(hostport string) int {
		_, s, err := net.SplitHostPort(hostport)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	p.API = port(cfg.API.Listen)
	p.Chain = port(strings.TrimPrefix(cfg.Chain.Listen, "tcp://"))
	for _, a := range cfg.P2P.Listen {
		if m, err := multiaddr.NewMultiaddr(a); err == nil {
			if v, err := m.ValueForProtocol(multiaddr.P_TCP); err == nil {
				p.P2P, _ = strconv.Atoi(v)
				break
			}
		}
	}
	return p
}

// assignPorts gives each node the ports its config.toml already holds
// while they are free, and free ones otherwise, and says which.
func assignPorts(out io.Writer, homes []string) ([]ports, error) {
	taken := map[int]bool{}
	all := make([]ports, len(homes))
	var kept, picked []string
	for i, home := range homes {
		old := portsOf(home)
		p := old
		changed := false
		for _, f := range []struct {
			port *int
			udp  bool
		}{{&p.API, false}, {&p.P2P, true}, {&p.Chain, false}} {
			if *f.port > 0 && !taken[*f.port] && portFree(*f.port, f.udp) {
				taken[*f.port] = true
				continue
			}
			n, err := pickFreePort(taken, f.udp)
			if err != nil {
				return nil, err
			}
			*f.port, changed = n, true
		}
		all[i] = p
		name := filepath.Base(home)
		switch {
		case !changed:
			kept = append(kept, name)
		case old != ports{}:
			picked = append(picked, fmt.Sprintf("%s (its ports %d/%d/%d were busy)", name, old.API, old.P2P, old.Chain))
		default:
			picked = append(picked, name)
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(out, "devnet: %s keep their ports from config.toml\n", strings.Join(kept, ", "))
	}
	if len(picked) > 0 {
		fmt.Fprintf(out, "devnet: new ports, kept in config.toml for restarts: %s\n", strings.Join(picked, ", "))
	}
	return all, nil
}

// pickFreePort returns a loopback port free for TCP (and UDP too with udp)
// that is not in taken, and adds it there. It draws below the kernel's
// ephemeral range when it can, where no outgoing connection takes the port
// while its node is down; otherwise it asks the kernel for one.
func pickFreePort(taken map[int]bool, udp bool) (int, error) {
	const low = 10000
	if high := ephemeralLow(); high-low >= 1000 {
		for range 200 {
			p := low + rand.IntN(high-low)
			if !taken[p] && portFree(p, udp) {
				taken[p] = true
				return p, nil
			}
		}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !taken[p] && (!udp || portFree(p, true)) {
			taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("devnet: no free loopback port")
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// portFree reports whether the loopback TCP port (and UDP port, with udp)
// can be bound now.
func portFree(p int, udp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	if udp {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}
