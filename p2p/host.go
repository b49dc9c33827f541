// Package p2p owns the node's libp2p host: its identity, transports (TCP and
// QUIC), connection and resource managers, and the bootstrap connections.
// The protocols that run over it (DHT, gossip, inference streams) live in
// sub-packages; p2p itself knows nothing of models or economics.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"
)

// Config configures the host.
type Config struct {
	// Listen lists the multiaddrs to listen on (TCP and QUIC).
	Listen []string
	// Bootstrap lists peers, as multiaddrs with /p2p/<id>, to connect to.
	Bootstrap []string
	// ConnLow and ConnHigh are the connection manager's water marks.
	ConnLow, ConnHigh int
	// UserAgent is announced through identify.
	UserAgent string
}

// Host is a started libp2p host. Close stops it and the goroutines it owns.
type Host struct {
	host.Host
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// New starts a host with identity sk.
func New(cfg Config, sk crypto.PrivKey, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bootstrap, err := parsePeers(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(cfg.Listen...),
		// Name the transports: without them libp2p also loads websocket,
		// webtransport and webrtc (go-dependencies.md, pitfall 10).
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ConnectionManager(cm),
	}
	if cfg.UserAgent != "" {
		opts = append(opts, libp2p.UserAgent(cfg.UserAgent))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting host: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &Host{Host: h, log: log, cancel: cancel}
	log.Info("p2p host started", "peer_id", h.ID(), "addrs", h.Addrs())
	if len(bootstrap) > 0 {
		hs.wg.Go(func() { hs.connectBootstrap(ctx, bootstrap) })
	}
	return hs, nil
}

func parsePeers(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for i, a := range addrs {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("p2p: bootstrap[%d] %q: %w", i, a, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("p2p: bootstrap[%d] %q: %w", i, a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

func (h *Host) connectBootstrap(ctx context.Context, peers []peer.AddrInfo) {
	var wg sync.WaitGroup
	for _, ai := range peers {
		if ai.ID == h.ID() {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := h.Connect(cctx, ai); err != nil {
				h.log.Warn("bootstrap peer unreachable", "peer_id", ai.ID, "err", err)
				return
			}
			h.ConnManager().Protect(ai.ID, "bootstrap")
			h.log.Info("connected to bootstrap peer", "peer_id", ai.ID)
		})
	}
	wg.Wait()
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Latency   string   `json:"latency,omitempty"`
	Direction string   `json:"direction"`
}

// Peers lists connected peers, sorted by ID.
func (h *Host) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range h.Network().Peers() {
		pi := PeerInfo{ID: p.String()}
		for _, c := range h.Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
			if c.Stat().Direction == network.DirInbound {
				pi.Direction = "inbound"
			} else {
				pi.Direction = "outbound"
			}
		}
		if l := h.Peerstore().LatencyEWMA(p); l > 0 {
			pi.Latency = l.String()
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// ListenAddrs returns the host's addresses with its /p2p/ suffix.
func (h *Host) ListenAddrs() []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.ID().String())
	}
	return out
}

// Close stops the bootstrap goroutine and the host. It is idempotent.
func (h *Host) Close() error {
	h.once.Do(func() {
		h.cancel()
		h.wg.Wait()
		h.err = h.Host.Close()
		if errors.Is(h.err, context.Canceled) {
			h.err = nil
		}
	})
	return h.err
}
