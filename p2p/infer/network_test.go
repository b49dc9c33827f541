package infer

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/p2p"
	"github.com/fomonet/fomo/p2p/capacity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/p2p/p2ptest"
	"github.com/fomonet/fomo/runtime"
)

// netNode is one node of a full-stack test network: a p2p.Host with its
// DHT and GossipSub, the models service (provider records), capacity
// adverts, an inference server and a router.
type netNode struct {
	host    *p2p.Host
	models  *models.Service
	adverts *capacity.Service
	backend *fakeBackend
	server  *Server
	router  *Router
	clock   *skewClock
}

// skewClock runs with the wall clock plus an offset the test can move.
type skewClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *skewClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *skewClock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// newNetwork starts n nodes; the nodes in serving serve model "m" (with
// chunks events each): they provide it in the DHT and advertise it with
// the queue depth serving gives.
func newNetwork(t *testing.T, n int, serving map[int]uint32, chunks int) []*netNode {
	t.Helper()
	hosts := p2ptest.NewHosts(t, n, p2ptest.WithTimeout(40*time.Second))
	nodes := make([]*netNode, n)
	for i, h := range hosts {
		nd := &netNode{host: h, clock: &skewClock{}}
		nd.models = models.NewService(h.DHT())
		t.Cleanup(func() { _ = nd.models.Close() })
		proto := h.ProtocolID("infer", "1.0.0")
		var content capacity.AdvertContent
		if queue, ok := serving[i]; ok {
			nd.backend = &fakeBackend{chunks: chunks}
			nd.server = NewServer(h, proto, nd.backend)
			t.Cleanup(func() { _ = nd.server.Close() })
			content.Models = []capacity.ModelCapacity{{Name: "m", QueueDepth: queue, TokensPerSecondMilli: 20_000}}
		}
		adv, err := capacity.New(h, h.PubSub(), h.Topic("capacity"), capacity.SourceFunc(func() capacity.AdvertContent { return content }),
			capacity.WithInterval(500*time.Millisecond), capacity.WithClock(nd.clock.now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = adv.Close() })
		nd.adverts = adv
		nd.router = NewRouter(h, proto, ProvidersFrom(h, nd.models.FindProviders), adv, WithLookupTimeout(5*time.Second))
		nodes[i] = nd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for i, nd := range nodes {
		if _, ok := serving[i]; ok {
			if err := nd.models.Provide(ctx, "m"); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := len(serving)
	testwait.For(t, "every node to hold the providers' adverts", 40*time.Second, func() bool {
		for _, nd := range nodes {
			if len(nd.adverts.Fresh("m")) != want {
				return false
			}
		}
		return true
	})
	return nodes
}

func TestForwardingOverNetwork(t *testing.T) {
	const n = 6
	nodes := newNetwork(t, n, map[int]uint32{3: 0}, 6)
	provider := nodes[3].host.ID().String()
	var wg sync.WaitGroup
	for entry := range n {
		if entry == 3 {
			continue
		}
		wg.Go(func() {
			comb := NewCombined(runtime.NewRegistry(nil), nodes[entry].router, nodes[entry].adverts)
			if ids := comb.Models(); len(ids) != 1 || ids[0].ID != "m" {
				t.Errorf("node %d lists %+v", entry, ids)
			}
			s, err := comb.Do(context.Background(), chatRequest("m", true))
			if err != nil {
				t.Errorf("request at node %d: %v", entry, err)
				return
			}
			defer s.Close()
			data, err := drain(s)
			if err != nil || len(data) != 6 {
				t.Errorf("request at node %d: %d chunks, %v", entry, len(data), err)
			}
			if got := s.(interface{ ServedBy() string }).ServedBy(); got != provider {
				t.Errorf("request at node %d served by %s, want %s", entry, got, provider)
			}
		})
	}
	wg.Wait()
	reqs := nodes[3].backend.requests()
	if len(reqs) != n-1 {
		t.Fatalf("the provider served %d requests, want %d", len(reqs), n-1)
	}
	for _, r := range reqs {
		if r.Model != "m" || !r.Stream {
			t.Fatalf("provider got %+v", r)
		}
	}

	// The provider's adverts stop counting once they are 15 s old.
	nodes[0].clock.advance(16 * time.Second)
	_, err := nodes[0].router.Do(context.Background(), chatRequest("m", true))
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || !strings.Contains(re.Message, "fresh capacity advert") {
		t.Fatalf("with stale adverts: %v", err)
	}
	// A model nobody provides.
	_, err = nodes[1].router.Do(context.Background(), chatRequest("nobody-serves-this", true))
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || !strings.Contains(re.Message, "no DHT providers") {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestForwardingRetriesOverNetwork(t *testing.T) {
	// Node 2 looks better (no queue) but fails every request before its
	// first chunk.
	nodes := newNetwork(t, 4, map[int]uint32{2: 0, 3: 4}, 3)
	nodes[2].backend.doErr = runtime.Errorf(http.StatusInternalServerError, runtime.ErrTypeAPI, "", "GPU fell off the bus")
	served := map[string]int{}
	for range 4 {
		s, err := nodes[0].router.Do(context.Background(), chatRequest("m", true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := drain(s); err != nil {
			t.Fatal(err)
		}
		served[s.(interface{ ServedBy() string }).ServedBy()]++
		_ = s.Close()
	}
	if served[nodes[3].host.ID().String()] != 4 {
		t.Fatalf("served by %v, want node 3 every time", served)
	}
	if n := len(nodes[2].backend.requests()); n != 1 {
		t.Fatalf("the failing provider got %d requests; it should be skipped after the first", n)
	}
}
