package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/p2p/p2ptest"
	"github.com/ipfs/go-cid"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	recpb "github.com/libp2p/go-libp2p/core/record/pb"
	"github.com/libp2p/go-libp2p/core/routing"
	"google.golang.org/protobuf/proto"
)

func manifest(name string, seq uint64, issuer peer.ID) models.Manifest {
	sum := sha256.Sum256([]byte(name))
	return models.Manifest{
		Name: name, Seq: seq, Issuer: issuer, Architecture: "llama", Quantization: "q8_0", ContextLength: 2048,
		Weights: models.Weights{SHA256: hex.EncodeToString(sum[:]), Size: 42},
		Tier:    "small", InputPrice: 1, OutputPrice: 2,
	}
}

func sign(t testing.TB, m models.Manifest, sk crypto.PrivKey) []byte {
	t.Helper()
	b, err := models.Sign(m, sk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withValidator(_ int, cfg *p2p.Config) {
	cfg.Validators = map[string]record.Validator{models.Namespace: models.Validator{}}
}

// network starts n hosts in a full mesh with the manifest validator and a
// Service on each.
func network(t *testing.T, n int) ([]*p2p.Host, []*models.Service) {
	t.Helper()
	hosts := p2ptest.NewHosts(t, n, p2ptest.WithConfig(withValidator))
	svcs := make([]*models.Service, n)
	for i, h := range hosts {
		svcs[i] = models.NewService(h.DHT())
		t.Cleanup(func() { svcs[i].Close() })
	}
	return hosts, svcs
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// getAll resolves name on every service concurrently.
func getAll(ctx context.Context, svcs []*models.Service, name string) ([]*models.Signed, []error) {
	out := make([]*models.Signed, len(svcs))
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Go(func() { out[i], errs[i] = s.Get(ctx, name) })
	}
	wg.Wait()
	return out, errs
}

func TestManifestResolvedOnAllNodes(t *testing.T) {
	_, svcs := network(t, 10)
	ctx := ctxT(t, 60*time.Second)
	issuer, _ := testkeys.New(t)
	env := sign(t, manifest("llama", 1, ""), issuer)
	if _, err := svcs[3].Put(ctx, env); err != nil {
		t.Fatal(err)
	}
	got, errs := getAll(ctx, svcs, "llama")
	for i := range svcs {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i].Envelope, env) {
			t.Fatalf("node %d resolved a different envelope", i)
		}
	}

	// A higher seq replaces it everywhere; a lower seq is refused.
	env2 := sign(t, manifest("llama", 2, ""), issuer)
	if _, err := svcs[7].Put(ctx, env2); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs[7].Put(ctx, sign(t, manifest("llama", 1, ""), issuer)); err == nil {
		t.Fatal("lower seq put accepted")
	}
	got, errs = getAll(ctx, svcs, "llama")
	for i := range svcs {
		if errs[i] != nil || got[i].Manifest.Seq != 2 {
			t.Fatalf("node %d after seq 2: %v %v", i, got[i], errs[i])
		}
	}

	if _, err := svcs[0].Get(ctx, "absent"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("absent model: %v, want ErrNotFound", err)
	}
	if _, err := svcs[0].Get(ctx, "Bad Name"); err == nil {
		t.Fatal("bad name accepted")
	}
}

// acceptAll is the validator of a malicious node that stores anything.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

// TestForgedManifestsRejectedOverDHT: a node whose own validator accepts
// anything pushes forged, mis-signed, misnamed and lower-seq manifests; the
// honest nodes refuse to store them and keep resolving the valid one.
func TestForgedManifestsRejectedOverDHT(t *testing.T) {
	hosts := p2ptest.NewHosts(t, 10, p2ptest.WithConfig(func(i int, cfg *p2p.Config) {
		if i == 0 {
			cfg.Validators = map[string]record.Validator{models.Namespace: acceptAll{}}
			return
		}
		withValidator(i, cfg)
	}))
	svcs := make([]*models.Service, len(hosts))
	for i, h := range hosts {
		svcs[i] = models.NewService(h.DHT())
		t.Cleanup(func() { svcs[i].Close() })
	}
	ctx := ctxT(t, 60*time.Second)
	issuer, _ := testkeys.New(t)
	mallory, _ := testkeys.New(t)
	valid := sign(t, manifest("llama", 5, ""), issuer)
	if _, err := svcs[1].Put(ctx, valid); err != nil {
		t.Fatal(err)
	}

	issuerID, _ := peer.IDFromPrivateKey(issuer)
	var e recpb.Envelope
	if err := proto.Unmarshal(sign(t, manifest("llama", 9, ""), issuer), &e); err != nil {
		t.Fatal(err)
	}
	e.Signature[5] ^= 0x40
	forgedSig, _ := proto.Marshal(&e)
	notIssuer := func() []byte {
		// mallory signs a manifest that names the issuer: Sign refuses, so
		// swap the envelope's key and signature for mallory's.
		var good, bad recpb.Envelope
		_ = proto.Unmarshal(sign(t, manifest("llama", 9, issuerID), issuer), &good)
		_ = proto.Unmarshal(sign(t, manifest("llama", 9, ""), mallory), &bad)
		good.PublicKey, good.Signature = bad.PublicKey, bad.Signature
		b, _ := proto.Marshal(&good)
		return b
	}()
	misnamed := sign(t, manifest("mistral", 9, ""), issuer)
	lower := sign(t, manifest("llama", 4, ""), issuer)

	for _, tc := range []struct {
		name string
		val  []byte
	}{{"forged signature", forgedSig}, {"signer is not issuer", notIssuer}, {"name mismatch", misnamed}, {"lower seq", lower}} {
		t.Run(tc.name, func(t *testing.T) {
			// The malicious node stores it locally and sends it to the
			// closest peers, which must all refuse it.
			// (PutValue ignores the peers' refusals, so it succeeds.)
			if err := hosts[0].DHT().PutValue(ctx, models.Key("llama"), tc.val); err != nil {
				t.Fatalf("malicious put: %v", err)
			}
			for i, h := range hosts[1:] {
				v, err := h.DHT().GetValue(ctx, models.Key("llama"), routing.Offline)
				if err != nil || !bytes.Equal(v, valid) {
					t.Fatalf("node %d stores another record (err %v)", i+1, err)
				}
			}
			got, errs := getAll(ctx, svcs[1:], "llama")
			for i := range got {
				if errs[i] != nil {
					t.Fatalf("node %d: %v", i+1, errs[i])
				}
				if !bytes.Equal(got[i].Envelope, valid) {
					t.Fatalf("node %d resolved seq %d, not the valid manifest", i+1, got[i].Manifest.Seq)
				}
			}
		})
	}
}

func TestProvideFindFromAll(t *testing.T) {
	hosts, svcs := network(t, 10)
	ctx := ctxT(t, 60*time.Second)
	for _, i := range []int{2, 6} {
		if err := svcs[i].Provide(ctx, "llama"); err != nil {
			t.Fatal(err)
		}
	}
	want := []peer.ID{hosts[2].ID(), hosts[6].ID()}
	slices.Sort(want)
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	found := make([][]peer.ID, len(svcs))
	for i, s := range svcs {
		wg.Go(func() {
			ais, err := s.FindProviders(ctx, "llama")
			errs[i] = err
			for _, ai := range ais {
				found[i] = append(found[i], ai.ID)
			}
			slices.Sort(found[i])
		})
	}
	wg.Wait()
	for i := range svcs {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if !slices.Equal(found[i], want) {
			t.Fatalf("node %d found %v, want %v", i, found[i], want)
		}
	}
	if got := svcs[2].Provided(); !slices.Equal(got, []string{"llama"}) {
		t.Fatalf("Provided = %v", got)
	}
	ais, err := svcs[0].FindProviders(ctx, "nobody-serves-this")
	if err != nil || len(ais) != 0 {
		t.Fatalf("unserved model: %v %v", ais, err)
	}
}

// TestNetworksDoNotMix: a node of network B connected to every node of
// network A gets no DHT peers, answers and is answered nothing.
func TestNetworksDoNotMix(t *testing.T) {
	a := p2ptest.NewHosts(t, 4, p2ptest.WithNetworkID("aaaaaaaaaaaaaaaa"), p2ptest.WithConfig(withValidator))
	bcfg := p2ptest.Config("bbbbbbbbbbbbbbbb")
	withValidator(0, &bcfg)
	b := p2ptest.NewHost(t, bcfg, nil)
	ctx := ctxT(t, 60*time.Second)
	for _, h := range a {
		if err := b.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for identify: b knows each A node's protocols.
	kadA := protocol.ID(p2p.DHTPrefix("aaaaaaaaaaaaaaaa") + "/kad/1.0.0")
	for _, h := range a {
		for {
			ps, _ := b.Peerstore().GetProtocols(h.ID())
			if slices.Contains(ps, kadA) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("identify did not complete")
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if n := b.DHT().RoutingTable().Size(); n != 0 {
		t.Fatalf("network B's DHT has %d peers of network A", n)
	}
	for i, h := range a {
		if h.DHT().RoutingTable().Find(b.ID()) != "" {
			t.Fatalf("A node %d has the B node in its routing table", i)
		}
	}

	sa := models.NewService(a[0].DHT())
	defer sa.Close()
	sb := models.NewService(b.DHT())
	defer sb.Close()
	issuer, _ := testkeys.New(t)
	if _, err := sa.Put(ctx, sign(t, manifest("llama", 1, ""), issuer)); err != nil {
		t.Fatal(err)
	}
	if err := sa.Provide(ctx, "llama"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := sb.Get(short, "llama"); err == nil {
		t.Fatal("network B resolved network A's manifest")
	}
	if ais, _ := sb.FindProviders(short, "llama"); len(ais) != 0 {
		t.Fatalf("network B found network A's providers: %v", ais)
	}
	// A direct DHT stream from B to A under B's protocol is refused.
	kadB := protocol.ID(p2p.DHTPrefix("bbbbbbbbbbbbbbbb") + "/kad/1.0.0")
	if s, err := b.NewStream(ctx, a[0].ID(), kadB); err == nil {
		s.Reset()
		t.Fatal("network A answered network B's DHT protocol")
	}
	// Gossip: the networks speak different GossipSub protocols; A's nodes
	// peer with each other, never with B.
	for !slices.Contains(a[0].PubSub().ListPeers(""), a[1].ID()) {
		select {
		case <-ctx.Done():
			t.Fatal("network A's gossipsub never peered")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if slices.Contains(a[0].PubSub().ListPeers(""), b.ID()) {
		t.Fatal("network A's gossipsub peers with network B")
	}
}

// countingRouting records the puts and provides a Service makes.
type countingRouting struct {
	models.Routing
	puts, provides atomic.Int64
	seen           chan struct{}
}

func (c *countingRouting) PutValue(ctx context.Context, k string, v []byte, o ...routing.Option) error {
	c.puts.Add(1)
	c.signal()
	return c.Routing.PutValue(ctx, k, v, o...)
}

func (c *countingRouting) Provide(ctx context.Context, id cid.Cid, b bool) error {
	c.provides.Add(1)
	c.signal()
	return c.Routing.Provide(ctx, id, b)
}

func (c *countingRouting) signal() {
	select {
	case c.seen <- struct{}{}:
	default:
	}
}

func TestRepublishLoop(t *testing.T) {
	hosts := p2ptest.NewHosts(t, 3, p2ptest.WithConfig(withValidator))
	cr := &countingRouting{Routing: hosts[0].DHT(), seen: make(chan struct{}, 1)}
	s := models.NewService(cr, models.WithInterval(20*time.Millisecond))
	ctx := ctxT(t, 60*time.Second)
	issuer, _ := testkeys.New(t)
	if _, err := s.Put(ctx, sign(t, manifest("llama", 1, ""), issuer)); err != nil {
		t.Fatal(err)
	}
	if err := s.Provide(ctx, "llama"); err != nil {
		t.Fatal(err)
	}
	for cr.puts.Load() < 3 || cr.provides.Load() < 3 {
		select {
		case <-cr.seen:
		case <-ctx.Done():
			t.Fatalf("republished %d puts, %d provides", cr.puts.Load(), cr.provides.Load())
		}
	}
	s.StopProviding("llama")
	s.Close()
	p, v := cr.puts.Load(), cr.provides.Load()
	// After Close the loop has ended: nothing more is sent.
	if cr.puts.Load() != p || cr.provides.Load() != v {
		t.Fatal("service kept republishing after Close")
	}
	// The other nodes see the manifest and provider.
	other := models.NewService(hosts[2].DHT())
	defer other.Close()
	if _, err := other.Get(ctx, "llama"); err != nil {
		t.Fatal(err)
	}
}
