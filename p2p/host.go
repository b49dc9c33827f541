// Package p2p owns the node's libp2p host: its identity, transports (TCP and
// QUIC), connection and resource managers, NAT traversal (AutoNAT v2, hole
// punching, auto-relay, relay service, port mapping), the bootstrap
// connections, the private Kademlia DHT and GossipSub.
//
// Everything network-facing carries the network_id (see package
// configs/networks): the DHT speaks /fomo/<net>/kad/1.0.0, GossipSub speaks
// /fomo/<net>/meshsub/1.x.0 and topics are named fomo/<net>/<name>/1, so
// nodes of different networks may connect but never exchange application
// messages. The protocols that run over the host (manifests, capacity
// adverts, inference streams) live in sub-packages; p2p itself knows nothing
// of models or economics.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	routedhost "github.com/libp2p/go-libp2p/p2p/host/routed"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNetworkID is the devnet's network_id, used when Config.NetworkID
// is empty. It equals configs/networks.Devnet().ID() (checked by a test).
const DefaultNetworkID = "974f0656f1e21b38"

// DHT modes for Config.DHTMode.
const (
	DHTServer = "server"
	DHTClient = "client"
	DHTAuto   = "auto"
)

// Reachability values for Config.ForceReachability and Status.
const (
	ReachabilityUnknown = "unknown"
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
)

// Config configures the host. The zero value of every optional field is
// usable; DefaultConfig returns what a production node runs with.
type Config struct {
	// NetworkID is the network's id (configs/networks); empty means
	// DefaultNetworkID.
	NetworkID string
	// Listen lists the multiaddrs to listen on (TCP and QUIC).
	Listen []string
	// Bootstrap lists peers, as multiaddrs with /p2p/<id>, to connect to.
	// They also seed the DHT's routing table.
	Bootstrap []string
	// ConnLow and ConnHigh are the connection manager's water marks.
	ConnLow, ConnHigh int
	// UserAgent is announced through identify.
	UserAgent string

	// AutoNAT turns on AutoNAT v2 (per-address reachability) and answers
	// other peers' AutoNAT requests.
	AutoNAT bool
	// HolePunching turns on DCUtR hole punching. It needs relay addresses,
	// i.e. StaticRelays on the NATed side.
	HolePunching bool
	// NATPortMap asks the gateway for a port mapping (UPnP, NAT-PMP).
	NATPortMap bool
	// StaticRelays lists relays (multiaddrs with /p2p/<id>) through which
	// the host reserves a circuit address while it is not publicly
	// reachable (auto-relay).
	StaticRelays []string
	// EnableRelayService makes the host a circuit relay v2 for others while
	// it is publicly reachable.
	EnableRelayService bool
	// ForceReachability skips detection: "public" (a datacenter host with
	// a routable or forwarded address), "private", or "" to detect.
	ForceReachability string

	// DHTMode is "server" (default), "client" or "auto".
	DHTMode string
	// Datastore holds the DHT's records and provider records; nil means an
	// in-memory store.
	Datastore ds.Batching
	// Validators are the DHT record validators by namespace (for keys
	// /<namespace>/...). Only these namespaces are accepted.
	Validators map[string]record.Validator
	// DHTOptions are appended to the DHT's options (tests use them to tune
	// refresh).
	DHTOptions []dht.Option

	// PingInterval is how often each connected peer is pinged to measure
	// latency (a peer is also pinged once when identify completes); 0 means
	// 30 s, negative disables pinging.
	PingInterval time.Duration
	// MaxMessageSize bounds GossipSub messages; 0 means 1 MiB.
	MaxMessageSize int
	// Registerer receives libp2p's metrics; nil disables them.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the configuration a production node starts from:
// TCP and QUIC on port 4001, AutoNAT, hole punching and port mapping on,
// the DHT in server mode.
func DefaultConfig() Config {
	return Config{
		NetworkID:    DefaultNetworkID,
		Listen:       []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
		ConnLow:      100,
		ConnHigh:     400,
		AutoNAT:      true,
		HolePunching: true,
		NATPortMap:   true,
		DHTMode:      DHTServer,
	}
}

// Host is a started libp2p host with its DHT and GossipSub. The embedded
// host.Host is routed: NewStream and Connect to a peer without known
// addresses look it up in the DHT. Close stops it and everything it owns.
type Host struct {
	host.Host
	base   host.Host
	netID  string
	kad    *dht.IpfsDHT
	ps     *pubsub.PubSub
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error

	topicsMu sync.Mutex
	topics   map[string]*pubsub.Topic

	relayMu    sync.Mutex
	relayAddrs []multiaddr.Multiaddr
}

// New starts a host with identity sk, its DHT and GossipSub.
func New(cfg Config, sk crypto.PrivKey, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.NetworkID == "" {
		cfg.NetworkID = DefaultNetworkID
	}
	if strings.ContainsAny(cfg.NetworkID, "/ ") {
		return nil, fmt.Errorf("p2p: network id %q must not contain '/' or spaces", cfg.NetworkID)
	}
	bootstrap, err := parsePeers("bootstrap", cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	relays, err := parsePeers("static_relays", cfg.StaticRelays)
	if err != nil {
		return nil, err
	}
	if cfg.ConnLow == 0 && cfg.ConnHigh == 0 {
		cfg.ConnLow, cfg.ConnHigh = 100, 400
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	rm, err := newResourceManager()
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(cfg.Listen...),
		// Name the transports: without them libp2p also loads websocket,
		// webtransport and webrtc (go-dependencies.md, pitfall 10).
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
	}
	if cfg.UserAgent != "" {
		opts = append(opts, libp2p.UserAgent(cfg.UserAgent))
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	// NAT traversal is opt-in in libp2p (pitfall 11).
	if cfg.AutoNAT {
		opts = append(opts, libp2p.EnableAutoNATv2(), libp2p.EnableNATService())
	}
	if cfg.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	if len(relays) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(relays, autorelay.WithNumRelays(min(2, len(relays)))))
	}
	if cfg.EnableRelayService {
		opts = append(opts, libp2p.EnableRelayService())
	}
	switch cfg.ForceReachability {
	case "":
	case ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	default:
		rm.Close()
		return nil, fmt.Errorf("p2p: force_reachability must be \"\", %q or %q; got %q",
			ReachabilityPublic, ReachabilityPrivate, cfg.ForceReachability)
	}
	mode, err := dhtMode(cfg.DHTMode)
	if err != nil {
		rm.Close()
		return nil, err
	}

	base, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2p: starting host: %w", err)
	}
	store := cfg.Datastore
	if store == nil {
		store = dssync.MutexWrap(ds.NewMapDatastore())
	}
	validator := record.NamespacedValidator{}
	for ns, v := range cfg.Validators {
		validator[ns] = v
	}
	dopts := []dht.Option{
		dht.ProtocolPrefix(protocol.ID(DHTPrefix(cfg.NetworkID))),
		dht.Mode(mode),
		dht.Datastore(store),
		dht.Validator(validator),
		dht.BootstrapPeers(bootstrap...),
	}
	dopts = append(dopts, cfg.DHTOptions...)
	kad, err := dht.New(base, dopts...)
	if err != nil {
		base.Close()
		return nil, fmt.Errorf("p2p: starting DHT: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	hs := &Host{
		Host:   routedhost.Wrap(base, kad),
		base:   base,
		netID:  cfg.NetworkID,
		kad:    kad,
		log:    log,
		cancel: cancel,
		topics: map[string]*pubsub.Topic{},
	}
	hs.ps, err = newPubSub(ctx, hs, cfg, log)
	if err != nil {
		cancel()
		kad.Close()
		base.Close()
		return nil, fmt.Errorf("p2p: starting gossipsub: %w", err)
	}
	log.Info("p2p host started", "peer_id", base.ID(), "addrs", base.Addrs(), "network_id", cfg.NetworkID,
		"dht_mode", cfg.DHTMode)
	hs.wg.Go(func() {
		if len(bootstrap) > 0 {
			hs.connectBootstrap(ctx, bootstrap)
		}
		if err := kad.Bootstrap(ctx); err != nil && ctx.Err() == nil {
			log.Warn("dht bootstrap", "err", err)
		}
	})
	if len(relays) > 0 {
		sub, err := base.EventBus().Subscribe(new(event.EvtAutoRelayAddrsUpdated))
		if err != nil {
			hs.Close()
			return nil, fmt.Errorf("p2p: relay events: %w", err)
		}
		hs.wg.Go(func() { hs.watchRelayAddrs(ctx, sub) })
	}
	if cfg.PingInterval >= 0 {
		iv := cfg.PingInterval
		if iv == 0 {
			iv = 30 * time.Second
		}
		hs.wg.Go(func() { hs.pingLoop(ctx, iv) })
	}
	return hs, nil
}

func dhtMode(s string) (dht.ModeOpt, error) {
	switch s {
	case "", DHTServer:
		return dht.ModeServer, nil
	case DHTClient:
		return dht.ModeClient, nil
	case DHTAuto:
		return dht.ModeAuto, nil
	}
	return 0, fmt.Errorf("p2p: dht mode must be server, client or auto; got %q", s)
}

// ParsePeers parses multiaddrs ending in /p2p/<id> into address infos,
// merging addresses of the same peer. key names the list in errors.
func ParsePeers(key string, addrs []string) ([]peer.AddrInfo, error) {
	return parsePeers(key, addrs)
}

func parsePeers(key string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for i, a := range addrs {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("p2p: %s[%d] %q: %w", key, i, a, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("p2p: %s[%d] %q: %w", key, i, a, err)
		}
		if j := slices.IndexFunc(out, func(o peer.AddrInfo) bool { return o.ID == ai.ID }); j >= 0 {
			out[j].Addrs = append(out[j].Addrs, ai.Addrs...)
			continue
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

// watchRelayAddrs keeps the circuit addresses auto-relay reserved.
func (h *Host) watchRelayAddrs(ctx context.Context, sub event.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtAutoRelayAddrsUpdated)
			h.relayMu.Lock()
			h.relayAddrs = slices.Clone(ev.RelayAddrs)
			h.relayMu.Unlock()
			h.log.Info("relay addresses updated", "addrs", ev.RelayAddrs)
		}
	}
}

// pingLoop pings each newly identified peer once and every connected peer
// each interval; ping records the RTT in the peerstore's latency EWMA, which
// Peers reports.
func (h *Host) pingLoop(ctx context.Context, every time.Duration) {
	sub, err := h.base.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		h.log.Warn("ping: no identify events", "err", err)
		return
	}
	defer sub.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 16)
	pingOne := func(p peer.ID) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			h.ping(ctx, p)
		})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			pingOne(e.(event.EvtPeerIdentificationCompleted).Peer)
		case <-t.C:
			for _, p := range h.Network().Peers() {
				pingOne(p)
			}
		}
	}
}

func (h *Host) ping(ctx context.Context, p peer.ID) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if r, ok := <-ping.Ping(network.WithNoDial(pctx, "ping"), h.base, p); ok && r.Error != nil {
		h.log.Debug("ping failed", "peer_id", p, "err", r.Error)
	}
}

// NetworkID returns the network this host belongs to.
func (h *Host) NetworkID() string { return h.netID }

// DHT returns the host's Kademlia DHT.
func (h *Host) DHT() *dht.IpfsDHT { return h.kad }

// PubSub returns the host's GossipSub router.
func (h *Host) PubSub() *pubsub.PubSub { return h.ps }

// ProtocolID returns /fomo/<net>/<name>/<version> for this host's network.
func (h *Host) ProtocolID(name, version string) protocol.ID {
	return protocol.ID(ProtocolID(h.netID, name, version))
}

// Topic returns fomo/<net>/<name>/1 for this host's network.
func (h *Host) Topic(name string) string { return Topic(h.netID, name) }

// DHTPrefix returns the DHT protocol prefix of network net, /fomo/<net>.
func DHTPrefix(net string) string { return "/fomo/" + net }

// ProtocolID returns the stream protocol ID /fomo/<net>/<name>/<version>.
func ProtocolID(net, name, version string) string {
	return "/fomo/" + net + "/" + name + "/" + version
}

// Topic returns the GossipSub topic fomo/<net>/<name>/1.
func Topic(net, name string) string { return "fomo/" + net + "/" + name + "/1" }

// PeerInfo describes one connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// Latency is the smoothed ping round trip ("" before the first ping).
	Latency string `json:"latency,omitempty"`
	// LatencyMS is Latency in milliseconds (0 before the first ping).
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// Direction is inbound or outbound (of the first connection).
	Direction string `json:"direction"`
	// Transport is tcp, quic or relay (of the first connection).
	Transport string `json:"transport"`
}

// Peers lists connected peers, sorted by ID.
func (h *Host) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range h.Network().Peers() {
		pi := PeerInfo{ID: p.String()}
		for i, c := range h.Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
			if i > 0 {
				continue
			}
			pi.Direction = "outbound"
			if c.Stat().Direction == network.DirInbound {
				pi.Direction = "inbound"
			}
			pi.Transport = transportOf(c)
		}
		if l := h.Peerstore().LatencyEWMA(p); l > 0 {
			pi.Latency = l.String()
			pi.LatencyMS = float64(l.Microseconds()) / 1000
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func transportOf(c network.Conn) string {
	m := c.RemoteMultiaddr()
	for _, comp := range m {
		switch comp.Protocol().Code {
		case multiaddr.P_CIRCUIT:
			return "relay"
		}
	}
	for _, comp := range m {
		switch comp.Protocol().Code {
		case multiaddr.P_QUIC_V1, multiaddr.P_QUIC:
			return "quic"
		case multiaddr.P_TCP:
			return "tcp"
		}
	}
	if t := c.ConnState().Transport; t != "" {
		return t
	}
	return "unknown"
}

// ListenAddrs returns the host's addresses with its /p2p/ suffix.
func (h *Host) ListenAddrs() []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.ID().String())
	}
	return out
}

// AddrInfo returns the host's peer ID and advertised addresses.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// Reachability is the host's reachability as AutoNAT (or
// Config.ForceReachability) determined it: unknown, public or private.
func (h *Host) Reachability() string {
	r, ok := h.base.(interface{ Reachability() network.Reachability })
	if !ok {
		return ReachabilityUnknown
	}
	switch r.Reachability() {
	case network.ReachabilityPublic:
		return ReachabilityPublic
	case network.ReachabilityPrivate:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}

// Status is the host's network view for the status API.
type Status struct {
	PeerID    string `json:"peer_id"`
	NetworkID string `json:"network_id"`
	// Reachability is unknown, public or private.
	Reachability string `json:"reachability"`
	// Listen are the local listen addresses (interfaces resolved).
	Listen []string `json:"listen_addrs"`
	// Advertised are the addresses the host announces, including
	// addresses peers observed and relay addresses.
	Advertised []string `json:"advertised_addrs"`
	// Reachable, Unreachable and Unknown classify the advertised
	// addresses by AutoNAT v2 (empty without it).
	Reachable   []string `json:"reachable_addrs,omitempty"`
	Unreachable []string `json:"unreachable_addrs,omitempty"`
	Unknown     []string `json:"unknown_addrs,omitempty"`
	// Relay are the circuit addresses reserved through StaticRelays.
	Relay []string `json:"relay_addrs,omitempty"`
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
	// DHTPeers is the size of the DHT routing table.
	DHTPeers int `json:"dht_peers"`
}

// Status reports reachability, addresses and peer counts.
func (h *Host) Status() Status {
	st := Status{
		PeerID:       h.ID().String(),
		NetworkID:    h.netID,
		Reachability: h.Reachability(),
		Listen:       addrStrings(h.Network().ListenAddresses()),
		Advertised:   addrStrings(h.Addrs()),
		Peers:        len(h.Network().Peers()),
		DHTPeers:     h.kad.RoutingTable().Size(),
	}
	h.relayMu.Lock()
	st.Relay = addrStrings(h.relayAddrs)
	h.relayMu.Unlock()
	if len(st.Relay) == 0 {
		st.Relay = nil
	}
	if ia, err := h.Network().InterfaceListenAddresses(); err == nil {
		st.Listen = addrStrings(ia)
	}
	if c, ok := h.base.(interface {
		ConfirmedAddrs() (reachable, unreachable, unknown []multiaddr.Multiaddr)
	}); ok {
		r, u, k := c.ConfirmedAddrs()
		st.Reachable, st.Unreachable, st.Unknown = addrStrings(r), addrStrings(u), addrStrings(k)
	}
	return st
}

func addrStrings(as []multiaddr.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// Close stops GossipSub, the DHT, the background goroutines and the host.
// It is idempotent.
func (h *Host) Close() error {
	h.once.Do(func() {
		h.cancel()
		h.wg.Wait()
		h.topicsMu.Lock()
		for _, t := range h.topics {
			t.Close()
		}
		h.topicsMu.Unlock()
		errs := []error{h.kad.Close(), h.base.Close()}
		for i, err := range errs {
			if errors.Is(err, context.Canceled) {
				errs[i] = nil
			}
		}
		h.err = errors.Join(errs...)
	})
	return h.err
}
