// Package consensus embeds a CometBFT v1 node in the fomo process: the
// settlement chain's consensus engine, driving an ABCI 2.0 application
// in-process. The node's libp2p Ed25519 key is its CometBFT validator key
// and peer key (DESIGN §2), its block store lives under a home directory,
// and transactions and queries go through CometBFT's in-process client:
// nothing listens for RPC.
package consensus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Validator is a member of the genesis validator set.
type Validator struct {
	// PubKey is the validator's libp2p Ed25519 public key.
	PubKey crypto.PubKey
	Power  int64
	Name   string
}

// Genesis is the chain's CometBFT genesis.
type Genesis struct {
	ChainID       string
	GenesisTime   time.Time
	InitialHeight int64
	Validators    []Validator
	// AppState is handed to the application's InitChain.
	AppState json.RawMessage
}

// Config configures a Node.
type Config struct {
	// Home holds CometBFT's config/ and data/ (created if missing).
	Home string
	// Key is the node's libp2p Ed25519 key: its validator and peer key.
	Key crypto.PrivKey
	// Genesis is the chain's genesis; a home initialised with another
	// genesis is refused.
	Genesis Genesis
	// ListenAddr is the peer-to-peer address, tcp://host:port; port 0
	// picks a free port.
	ListenAddr string
	// ExternalAddr is the host:port other nodes dial; empty uses the
	// listen address.
	ExternalAddr string
	// Peers are persistent peers, "<node id>@host:port".
	Peers []string
	// BlockInterval is the pause after each committed block (default 1s);
	// the other consensus timeouts scale with it.
	BlockInterval time.Duration
	// App is the ABCI application.
	App abcitypes.Application
	// ConcurrentApp says that App synchronizes itself, so that CometBFT
	// calls it from its connections (mempool, consensus, queries) at the
	// same time, one call at a time on each: a CheckTx verifying a
	// thousand receipts then holds up neither the block being finalized
	// nor queries. Otherwise every call waits for the one in progress.
	ConcurrentApp bool
	// Logger receives CometBFT's logs (its debug lines at slog's Debug).
	Logger *slog.Logger
}

// Limits sized for the settlement chain's transactions: a SubmitReceipts
// of up to 1,000 receipts is up to 4 MiB (settle/chain/tx.MaxTxSize),
// about half a megabyte with typical receipts.
const (
	// MaxTxBytes is the largest transaction the mempool takes. CometBFT's
	// default, 1 MiB, would refuse a full batch of large receipts.
	MaxTxBytes = 4 << 20
	// MaxBlockBytes bounds a block: room for a largest transaction and as
	// much again. CometBFT's default, 4 MiB, could never hold a largest
	// transaction beside the header and commit, so it would wait in the
	// mempool forever.
	MaxBlockBytes = 2 * MaxTxBytes
	// p2pRate is the send and receive rate of each peer connection,
	// bytes/s. CometBFT's default, 5 MB/s, is about what the chain needs
	// at 5,000 receipts/s already in steady state (each tx crosses a
	// connection twice: in mempool gossip and in the proposed block's
	// parts), and it makes an 8 MiB proposal take 1.7 s to reach a peer,
	// past the propose timeout; at 32 MiB/s it takes a quarter second.
	// The rate caps a connection; it reserves nothing.
	p2pRate = 32 << 20
	// maxPacketPayload is the payload of one peer-to-peer packet: a
	// megabyte-sized transaction or a 64 KiB block part goes in 16 KiB
	// pieces rather than CometBFT's default 1 KiB, a sixteenth of the
	// per-packet encoding work, while a vote waits behind at most half a
	// millisecond of another channel's packet at p2pRate.
	maxPacketPayload = 16 << 10
)

// Node is a running CometBFT node.
type Node struct {
	node   *nm.Node
	client *rpclocal.Local
	addr   string // id@host:port as bound
	log    *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// NodeID returns the CometBFT node id of a libp2p Ed25519 key: the hex of
// the first 20 bytes of sha256 of the raw public key.
func NodeID(pub crypto.PubKey) (string, error) {
	raw, err := pub.Raw()
	if err != nil {
		return "", err
	}
	if len(raw) != cmted25519.PubKeySize {
		return "", errors.New("consensus: not an Ed25519 key")
	}
	return hex.EncodeToString(cmted25519.PubKey(raw).Address()), nil
}

func cometKey(k crypto.PrivKey) (cmted25519.PrivKey, error) {
	if k == nil || k.Type() != crypto.Ed25519 {
		return nil, errors.New("consensus: the node key must be Ed25519")
	}
	raw, err := k.Raw() // seed ‖ public key, as CometBFT's
	if err != nil {
		return nil, err
	}
	if len(raw) != cmted25519.PrivateKeySize {
		return nil, fmt.Errorf("consensus: Ed25519 key of %d bytes", len(raw))
	}
	return cmted25519.PrivKey(raw), nil
}

func (g Genesis) doc() (*types.GenesisDoc, error) {
	d := &types.GenesisDoc{
		ChainID: g.ChainID, GenesisTime: g.GenesisTime.UTC(), InitialHeight: max(g.InitialHeight, 1),
		ConsensusParams: types.DefaultConsensusParams(), AppState: g.AppState,
	}
	d.ConsensusParams.Block.MaxBytes = MaxBlockBytes
	for i, v := range g.Validators {
		raw, err := v.PubKey.Raw()
		if err != nil || len(raw) != cmted25519.PubKeySize {
			return nil, fmt.Errorf("consensus: genesis validator %d: not an Ed25519 key", i)
		}
		pk := cmted25519.PubKey(raw)
		d.Validators = append(d.Validators, types.GenesisValidator{Address: pk.Address(), PubKey: pk, Power: v.Power, Name: v.Name})
	}
	if err := d.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("consensus: genesis: %w", err)
	}
	return d, nil
}

// freePort resolves port 0 in a tcp://host:port address to a free port.
func freePort(addr string) (string, error) {
	hostport, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return "", fmt.Errorf("consensus: listen address %q is not tcp://host:port", addr)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("consensus: listen address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), nil
}

// Start writes the node's CometBFT config under cfg.Home and starts it.
func Start(ctx context.Context, c Config) (*Node, error) {
	if c.App == nil {
		return nil, errors.New("consensus: no application")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BlockInterval <= 0 {
		c.BlockInterval = time.Second
	}
	key, err := cometKey(c.Key)
	if err != nil {
		return nil, err
	}
	doc, err := c.Genesis.doc()
	if err != nil {
		return nil, err
	}
	listen, err := freePort(c.ListenAddr)
	if err != nil {
		return nil, err
	}
	conf := cfg.DefaultConfig()
	conf.SetRoot(c.Home)
	conf.Moniker = "fomo"
	conf.RPC.ListenAddress = ""
	conf.GRPC.ListenAddress = ""
	conf.P2P.ListenAddress = listen
	conf.P2P.ExternalAddress = c.ExternalAddr
	conf.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	conf.P2P.AddrBookStrict = false
	conf.P2P.AllowDuplicateIP = true
	conf.P2P.PexReactor = true
	conf.Instrumentation.Prometheus = false
	conf.TxIndex.Indexer = "null" // receipts and txs are indexed by the application
	bi := c.BlockInterval
	conf.Consensus.TimeoutCommit = bi
	// A proposal of several megabytes takes a while to cross the network
	// and be checked (ProcessProposal); a proposal timeout shorter than
	// that fails the round and costs more than waiting would have. The
	// timeout only delays a round whose proposer is down.
	conf.Consensus.TimeoutPropose = max(3*bi, 2*time.Second)
	conf.Consensus.TimeoutProposeDelta = max(bi/2, 50*time.Millisecond)
	conf.Consensus.TimeoutPrevote = max(bi, 100*time.Millisecond)
	conf.Consensus.TimeoutPrevoteDelta = max(bi/2, 50*time.Millisecond)
	conf.Consensus.TimeoutPrecommit = max(bi, 100*time.Millisecond)
	conf.Consensus.TimeoutPrecommitDelta = max(bi/2, 50*time.Millisecond)
	conf.Consensus.CreateEmptyBlocks = true
	conf.Consensus.PeerGossipSleepDuration = min(100*time.Millisecond, max(bi/5, 10*time.Millisecond))
	conf.RPC.TimeoutBroadcastTxCommit = max(10*bi, 10*time.Second)
	conf.Mempool.MaxTxBytes = MaxTxBytes
	// Rechecking the waiting transactions after each block stays on: it
	// keeps the application's view of pending nonces right, and the
	// application keeps opened transactions and receipt verdicts, so a
	// recheck verifies no signature again.
	conf.Mempool.Recheck = true
	conf.P2P.SendRate, conf.P2P.RecvRate = p2pRate, p2pRate
	conf.P2P.MaxPacketMsgPayloadSize = maxPacketPayload
	for _, d := range []string{filepath.Join(c.Home, "config"), filepath.Join(c.Home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := checkGenesis(conf.GenesisFile(), doc); err != nil {
		return nil, err
	}
	if err := conf.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("consensus: config: %w", err)
	}

	// The validator's sign state (last height/round signed) survives
	// restarts, so that a restarted validator never signs twice.
	var pv *privval.FilePV
	if _, err := os.Stat(conf.PrivValidatorStateFile()); err == nil {
		pv = privval.LoadFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
		if !bytes.Equal(pv.Key.PubKey.Bytes(), key.PubKey().Bytes()) {
			return nil, fmt.Errorf("consensus: %s holds another validator key than the node's", conf.PrivValidatorKeyFile())
		}
	} else {
		pv = privval.NewFilePV(key, conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
		pv.Save()
	}
	for _, f := range []string{conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile()} {
		_ = os.Chmod(f, 0o600)
	}
	nodeKey := &p2p.NodeKey{PrivKey: key}

	logger := slogAdapter{l: c.Logger}
	clients := proxy.NewLocalClientCreator(c.App)
	if c.ConcurrentApp {
		clients = proxy.NewConnSyncLocalClientCreator(c.App)
	}
	n, err := nm.NewNode(ctx, conf, pv, nodeKey, clients,
		func() (nm.ChecksummedGenesisDoc, error) {
			b, err := os.ReadFile(conf.GenesisFile())
			if err != nil {
				return nm.ChecksummedGenesisDoc{}, err
			}
			sum := sha256Sum(b)
			return nm.ChecksummedGenesisDoc{GenesisDoc: doc, Sha256Checksum: sum[:]}, nil
		},
		(&dbGroup{log: c.Logger}).provider, nm.DefaultMetricsProvider(conf.Instrumentation), logger)
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	if err := n.Start(); err != nil {
		return nil, fmt.Errorf("consensus: start: %w", err)
	}
	host := strings.TrimPrefix(listen, "tcp://")
	if c.ExternalAddr != "" {
		host = c.ExternalAddr
	}
	return &Node{node: n, client: rpclocal.New(n), addr: string(nodeKey.ID()) + "@" + host, log: c.Logger}, nil
}

// checkGenesis writes the genesis file, or checks that the one already in
// the home is the same chain.
func checkGenesis(path string, doc *types.GenesisDoc) error {
	if old, err := types.GenesisDocFromFile(path); err == nil {
		same := old.ChainID == doc.ChainID && old.GenesisTime.Equal(doc.GenesisTime) && len(old.Validators) == len(doc.Validators)
		var a, b bytes.Buffer
		_ = json.Compact(&a, old.AppState)
		_ = json.Compact(&b, doc.AppState)
		same = same && bytes.Equal(a.Bytes(), b.Bytes())
		for i := range doc.Validators {
			same = same && old.Validators[i].Address.String() == doc.Validators[i].Address.String() && old.Validators[i].Power == doc.Validators[i].Power
		}
		if !same {
			return fmt.Errorf("consensus: %s is the genesis of chain %q, not of %q: this home belongs to another network", path, old.ChainID, doc.ChainID)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) && !os.IsNotExist(errors.Unwrap(err)) {
		if _, serr := os.Stat(path); serr == nil {
			return fmt.Errorf("consensus: reading %s: %w", path, err)
		}
	}
	return doc.SaveAs(path)
}

// P2PAddress is the node's peer address, "<node id>@host:port".
func (n *Node) P2PAddress() string { return n.addr }

// AddPeers dials peers learned after start ("<node id>@host:port"); they
// are kept as persistent peers.
func (n *Node) AddPeers(addrs ...string) {
	sw := n.node.Switch()
	if err := sw.AddPersistentPeers(addrs); err != nil {
		n.log.Debug("adding peers", "err", err)
	}
	if err := sw.DialPeersAsync(addrs); err != nil {
		n.log.Debug("dialling peers", "err", err)
	}
}

// Status is the node's view of the chain.
type Status struct {
	ChainID    string
	NodeID     string
	Height     int64
	AppHash    []byte
	CatchingUp bool
	Peers      int
}

// Status returns the latest height and app hash and the peer count.
func (n *Node) Status() Status {
	st := Status{ChainID: n.node.GenesisDoc().ChainID, NodeID: string(n.node.NodeInfo().ID()), Peers: n.node.Switch().Peers().Size()}
	if s, err := n.client.Status(context.Background()); err == nil {
		st.Height, st.AppHash, st.CatchingUp = s.SyncInfo.LatestBlockHeight, s.SyncInfo.LatestAppHash, s.SyncInfo.CatchingUp
	}
	return st
}

// PeerHeight returns the highest height a peer of the chain is deciding
// (its last block's plus one), and 0 when no peer has said yet.
func (n *Node) PeerHeight(ctx context.Context) (int64, error) {
	dump, err := n.client.DumpConsensusState(ctx)
	if err != nil {
		return 0, fmt.Errorf("consensus: peers' state: %w", err)
	}
	var top int64
	for _, p := range dump.Peers {
		h, err := peerRoundHeight(p.PeerState)
		if err != nil {
			return 0, fmt.Errorf("consensus: state of peer %s: %w", p.NodeAddress, err)
		}
		top = max(top, h)
	}
	return top, nil
}

// peerRoundHeight reads the height of a peer's round state, as CometBFT
// encodes it (int64 as a JSON string).
func peerRoundHeight(state json.RawMessage) (int64, error) {
	var ps struct {
		RoundState struct {
			Height json.Number `json:"height"`
		} `json:"round_state"`
	}
	if err := json.Unmarshal(state, &ps); err != nil {
		return 0, err
	}
	if ps.RoundState.Height == "" {
		return 0, nil
	}
	return strconv.ParseInt(string(ps.RoundState.Height), 10, 64)
}

// AppHashAfter returns the app hash after block h, as block h+1's header
// records it (so h+1 must be committed), and the time of block h.
func (n *Node) AppHashAfter(ctx context.Context, h int64) ([]byte, time.Time, error) {
	next := h + 1
	b, err := n.client.Block(ctx, &next)
	if err != nil {
		return nil, time.Time{}, err
	}
	cur, err := n.client.Block(ctx, &h)
	if err != nil {
		return nil, time.Time{}, err
	}
	return b.Block.AppHash, cur.Block.Time, nil
}

// CheckResult is a transaction's CheckTx verdict.
type CheckResult struct {
	Code uint32
	Log  string
	Hash string
}

// BroadcastTx adds a transaction to the mempool (CheckTx) and returns
// without waiting for a block.
func (n *Node) BroadcastTx(ctx context.Context, tx []byte) (CheckResult, error) {
	r, err := n.client.BroadcastTxSync(ctx, tx)
	if err != nil {
		return CheckResult{}, err
	}
	return CheckResult{Code: r.Code, Log: r.Log, Hash: r.Hash.String()}, nil
}

// TxResult is a transaction's outcome once in a block (or its CheckTx
// refusal, Height 0).
type TxResult struct {
	Hash   string          `json:"hash"`
	Height int64           `json:"height"`
	Code   uint32          `json:"code"`
	Log    string          `json:"log,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// SubmitTx broadcasts a transaction and waits until it is in a block.
func (n *Node) SubmitTx(ctx context.Context, tx []byte) (TxResult, error) {
	r, err := n.client.BroadcastTxCommit(ctx, tx)
	if err != nil {
		return TxResult{}, err
	}
	out := TxResult{Hash: r.Hash.String(), Height: r.Height}
	if r.CheckTx.Code != 0 {
		out.Code, out.Log = r.CheckTx.Code, r.CheckTx.Log
		return out, nil
	}
	out.Code, out.Log = r.TxResult.Code, r.TxResult.Log
	if json.Valid(r.TxResult.Data) {
		out.Result = r.TxResult.Data
	}
	return out, nil
}

// ErrQuery is what Query's error matches when the application answered
// with a non-zero code; ErrNotFound when that code means "not found". The
// error is a *QueryError, which holds the code.
var (
	ErrQuery    = errors.New("consensus: query failed")
	ErrNotFound = errors.New("not found")
)

// NotFoundCode is the query code an application answers for a missing
// item.
const NotFoundCode = 2

// Query runs an ABCI query against the latest committed state; an answer
// with a non-zero code is a *QueryError.
func (n *Node) Query(ctx context.Context, path string, data []byte) ([]byte, error) {
	r, err := n.client.ABCIQuery(ctx, path, data)
	if err != nil {
		return nil, err
	}
	if r.Response.Code != 0 {
		return nil, &QueryError{Code: r.Response.Code, Log: r.Response.Log}
	}
	return r.Response.Value, nil
}

// QueryError is an application's answer to a query with a non-zero code:
// it matches ErrNotFound when the code is NotFoundCode, else ErrQuery, and
// keeps the code for the ones a caller tells apart.
type QueryError struct {
	// Code is the application's query code.
	Code uint32
	// Log is what the application said: the missing item ("epoch 7"), or
	// why the query failed.
	Log string
}

// Error reads "not found: epoch 7" or "consensus: query failed: why".
func (e *QueryError) Error() string {
	if e.Code == NotFoundCode {
		return ErrNotFound.Error() + ": " + e.Log
	}
	return ErrQuery.Error() + ": " + e.Log
}

// Is makes errors.Is(err, ErrNotFound) true for NotFoundCode and
// errors.Is(err, ErrQuery) for any other code.
func (e *QueryError) Is(target error) bool {
	if e.Code == NotFoundCode {
		return target == ErrNotFound
	}
	return target == ErrQuery
}

// Stop stops the node and waits for it; it is idempotent.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		if err := n.node.Stop(); err != nil {
			n.stopErr = err
			return
		}
		n.node.Wait()
	})
	return n.stopErr
}

// slogAdapter is CometBFT's logger on slog. CometBFT's Info is chatty
// (every block, every peer), so it goes to slog's Debug; its errors to Warn.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(msg string, kv ...any) { a.l.Debug(msg, kv...) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.l.Debug(msg, kv...) }
func (a slogAdapter) Error(msg string, kv ...any) { a.l.Warn(msg, kv...) }
func (a slogAdapter) With(kv ...any) cmtlog.Logger {
	return slogAdapter{l: a.l.With(kv...)}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
