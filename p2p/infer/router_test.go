package infer

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/testclock"
	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/p2p/capacity"
	"github.com/fomonet/fomo/runtime"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// staticProviders stands in for the DHT: a fixed provider list per model.
type staticProviders struct {
	mu    sync.Mutex
	peers map[string][]peer.ID
	err   error
	calls int
}

func (s *staticProviders) Providers(_ context.Context, model string) ([]peer.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.peers[model], s.err
}

// staticAdverts stands in for the capacity table.
type staticAdverts struct {
	mu sync.Mutex
	m  map[string][]capacity.Advert
}

func (s *staticAdverts) Fresh(model string) []capacity.Advert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[model]
}

func (s *staticAdverts) set(model string, ads ...capacity.Advert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]capacity.Advert{}
	}
	s.m[model] = ads
}

func advert(p peer.ID, model string, queue uint32, tpsMilli, price uint64) capacity.Advert {
	return capacity.Advert{Peer: p, Time: time.Now(), AdvertContent: capacity.AdvertContent{
		Models: []capacity.ModelCapacity{{Name: model, QueueDepth: queue, TokensPerSecondMilli: tpsMilli, InputPrice: price, OutputPrice: price}},
	}}
}

// cluster is an entry node connected to providers, each optionally serving
// a backend.
type cluster struct {
	entry     host.Host
	providers []host.Host
	servers   []*Server
	dht       *staticProviders
	ads       *staticAdverts
}

func newCluster(t *testing.T, backends ...runtime.Backend) *cluster {
	t.Helper()
	c := &cluster{entry: newHost(t), dht: &staticProviders{peers: map[string][]peer.ID{}}, ads: &staticAdverts{}}
	for _, b := range backends {
		h := newHost(t)
		connect(t, c.entry, h)
		c.providers = append(c.providers, h)
		var srv *Server
		if b != nil {
			srv = NewServer(h, testProto, b)
			t.Cleanup(func() { _ = srv.Close() })
		}
		c.servers = append(c.servers, srv)
	}
	return c
}

func (c *cluster) router(opts ...RouterOption) *Router {
	opts = append([]RouterOption{WithRand(rand.New(rand.NewPCG(1, 2)))}, opts...)
	return NewRouter(c.entry, testProto, c.dht, c.ads, opts...)
}

func TestRouterForwardsAndRetries(t *testing.T) {
	busy := runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "", "busy").WithCode("provider_busy")
	notServed := runtime.Errorf(http.StatusNotFound, runtime.ErrTypeNotFound, "model", "not here")
	tests := []struct {
		name string
		// first is the preferred provider's backend; nil runs no server.
		first     runtime.Backend
		killFirst bool
		// wantFail is the reason the first try failed; "" when it served.
		wantFail string
	}{
		{name: "first provider serves", first: &fakeBackend{chunks: 4}},
		{name: "first provider has no server", first: nil, wantFail: FailUnreachable},
		{name: "first provider busy", first: &fakeBackend{doErr: busy}, wantFail: FailProvider},
		{name: "first provider no longer serves the model", first: &fakeBackend{doErr: notServed}, wantFail: FailProvider},
		{name: "first provider fails", first: &fakeBackend{doErr: errors.New("engine crashed")}, wantFail: FailProvider},
		{name: "first provider is down", first: &fakeBackend{chunks: 4}, killFirst: true, wantFail: FailUnreachable},
		{name: "first provider breaks before its first chunk", first: &fakeBackend{chunks: 4, failAt: 1, failErr: runtime.Errorf(502, runtime.ErrTypeAPI, "", "upstream down")}, wantFail: FailProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			second := &fakeBackend{chunks: 4}
			c := newCluster(t, tt.first, second)
			p1, p2 := c.providers[0].ID(), c.providers[1].ID()
			c.dht.peers["m"] = []peer.ID{p1, p2}
			// p1 is idle, p2 has a queue: p1 is always preferred.
			c.ads.set("m", advert(p1, "m", 0, 50_000, 1), advert(p2, "m", 8, 50_000, 1))
			if tt.killFirst {
				_ = c.providers[0].Close()
			}
			r := c.router()
			s, err := r.Do(context.Background(), chatRequest("m", true))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			data, err := drain(s)
			if err != nil || len(data) != 4 {
				t.Fatalf("got %d chunks, err %v", len(data), err)
			}
			wantRetry := tt.wantFail != ""
			want := p1
			if wantRetry {
				want = p2
			}
			if got := s.(interface{ ServedBy() string }).ServedBy(); got != want.String() {
				t.Fatalf("served by %s, want %s", got, want)
			}
			if r.Failed(p1) != wantRetry {
				t.Fatalf("Failed(first) = %v, want %v", r.Failed(p1), wantRetry)
			}
			wantStats := RouterStats{Attempts: 1, Failures: map[string]uint64{}}
			if wantRetry {
				wantStats = RouterStats{Attempts: 2, Retries: 1, Failures: map[string]uint64{tt.wantFail: 1}}
			}
			if st := r.Stats(); !reflect.DeepEqual(st, wantStats) {
				t.Fatalf("stats %+v, want %+v", st, wantStats)
			}
			if s.Usage().CompletionTokens != 4 || s.Finish() != runtime.FinishStop {
				t.Fatalf("usage %+v finish %q", s.Usage(), s.Finish())
			}
			if wantRetry {
				reqs := second.requests()
				if len(reqs) != 1 {
					t.Fatalf("second provider got %d requests", len(reqs))
				}
			}
		})
	}
}

func TestRouterDoesNotRetryBadRequests(t *testing.T) {
	bad := runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "messages", "messages must not be empty")
	second := &fakeBackend{chunks: 1}
	c := newCluster(t, &fakeBackend{doErr: bad}, second)
	p1, p2 := c.providers[0].ID(), c.providers[1].ID()
	c.dht.peers["m"] = []peer.ID{p1, p2}
	c.ads.set("m", advert(p1, "m", 0, 50_000, 1), advert(p2, "m", 8, 50_000, 1))
	r := c.router()
	_, err := r.Do(context.Background(), chatRequest("m", true))
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != 400 || re.Message != "messages must not be empty" {
		t.Fatalf("got %v, want the provider's 400", err)
	}
	if r.Failed(p1) || len(second.requests()) != 0 {
		t.Fatal("a bad request was retried or blamed on the provider")
	}
}

func TestRouterGivesUpAfterOneRetry(t *testing.T) {
	down := errors.New("down")
	third := &fakeBackend{chunks: 1}
	c := newCluster(t, &fakeBackend{doErr: down}, &fakeBackend{doErr: down}, third)
	ids := []peer.ID{c.providers[0].ID(), c.providers[1].ID(), c.providers[2].ID()}
	c.dht.peers["m"] = ids
	c.ads.set("m", advert(ids[0], "m", 0, 50_000, 1), advert(ids[1], "m", 0, 50_000, 1), advert(ids[2], "m", 50, 50_000, 1))
	r := c.router()
	_, err := r.Do(context.Background(), chatRequest("m", true))
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != 500 || !strings.Contains(re.Message, "down") {
		t.Fatalf("got %v, want the second provider's error", err)
	}
	if !r.Failed(ids[0]) || !r.Failed(ids[1]) || len(third.requests()) != 0 {
		t.Fatal("the router tried more than two providers or did not mark both failed")
	}
}

func TestRouterNoProvider(t *testing.T) {
	c := newCluster(t, &fakeBackend{chunks: 1})
	p1 := c.providers[0].ID()
	tests := []struct {
		name    string
		setup   func(r *Router)
		peers   []peer.ID
		dhtErr  error
		adverts []capacity.Advert
		want    string
	}{
		{name: "no DHT providers", want: "no DHT providers"},
		{name: "only this node provides it", peers: []peer.ID{c.entry.ID()},
			adverts: []capacity.Advert{advert(c.entry.ID(), "m", 0, 1, 1)}, want: "no DHT providers"},
		{name: "DHT lookup fails", dhtErr: errors.New("routing table empty"), want: "routing table empty"},
		{name: "no fresh advert", peers: []peer.ID{p1}, want: "none of its 1 DHT providers has a fresh capacity advert"},
		{name: "advert for another model", peers: []peer.ID{p1}, adverts: []capacity.Advert{advert(p1, "other", 0, 1, 1)},
			want: "fresh capacity advert"},
		{name: "all failed recently", peers: []peer.ID{p1}, adverts: []capacity.Advert{advert(p1, "m", 0, 1, 1)},
			setup: func(r *Router) { r.markFailed(p1) }, want: "all 1 providers with a fresh capacity advert failed in the last 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.dht.peers = map[string][]peer.ID{"m": tt.peers}
			c.dht.err = tt.dhtErr
			c.ads.set("m", tt.adverts...)
			r := c.router()
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.Do(context.Background(), chatRequest("m", true))
			var re *runtime.Error
			if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Type != runtime.ErrTypeUnavailable {
				t.Fatalf("got %v, want a 503 service_unavailable_error", err)
			}
			if !strings.HasPrefix(re.Message, "no provider serves model m: ") || !strings.Contains(re.Message, tt.want) {
				t.Fatalf("message %q does not say %q", re.Message, tt.want)
			}
			if st := r.Stats(); st.Attempts != 0 || st.Failures[FailNoProvider] != 1 {
				t.Fatalf("stats %+v, want one no_provider failure and no attempt", st)
			}
		})
	}
}

func TestRouterSkipsFailedPeersForAMinute(t *testing.T) {
	first := &fakeBackend{doErr: errors.New("down")}
	second := &fakeBackend{chunks: 1}
	c := newCluster(t, first, second)
	p1, p2 := c.providers[0].ID(), c.providers[1].ID()
	c.dht.peers["m"] = []peer.ID{p1, p2}
	c.ads.set("m", advert(p1, "m", 0, 50_000, 1), advert(p2, "m", 8, 50_000, 1))
	clk := testclock.New(time.Unix(1_790_000_000, 0))
	r := c.router(WithClock(clk.Now))

	servedBy := func() string {
		t.Helper()
		s, err := r.Do(context.Background(), chatRequest("m", true))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := drain(s); err != nil {
			t.Fatal(err)
		}
		return s.(interface{ ServedBy() string }).ServedBy()
	}
	if got := servedBy(); got != p2.String() {
		t.Fatalf("first request served by %s, want the retry on %s", got, p2)
	}
	first.doErr, first.chunks = nil, 1 // p1 recovers
	clk.Advance(59 * time.Second)
	if got := servedBy(); got != p2.String() {
		t.Fatalf("within the minute the request went to %s", got)
	}
	if len(first.requests()) != 1 {
		t.Fatalf("the failed provider got %d requests within its minute", len(first.requests()))
	}
	clk.Advance(2 * time.Second)
	if got := servedBy(); got != p1.String() {
		t.Fatalf("after the minute the request went to %s, want the recovered %s", got, p1)
	}
}

func TestRouterMidStreamFailure(t *testing.T) {
	b := &fakeBackend{chunks: 100, gate: make(chan struct{})}
	b.started = make(chan *fakeStream, 1)
	second := &fakeBackend{chunks: 2}
	c := newCluster(t, b, second)
	p1, p2 := c.providers[0].ID(), c.providers[1].ID()
	c.dht.peers["m"] = []peer.ID{p1, p2}
	c.ads.set("m", advert(p1, "m", 0, 50_000, 1), advert(p2, "m", 8, 50_000, 1))
	r := c.router()
	go func() {
		<-b.started
		b.gate <- struct{}{}
		b.gate <- struct{}{}
	}()
	s, err := r.Do(context.Background(), chatRequest("m", true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.providers[0].Close()
	_, err = s.Recv()
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusBadGateway {
		t.Fatalf("got %v, want a 502 after the provider died", err)
	}
	if !r.Failed(p1) {
		t.Fatal("the provider that died mid-stream is not marked failed")
	}
	if st := r.Stats(); st.Failures[FailBroken] != 1 {
		t.Fatalf("stats %+v, want one broken stream", st)
	}
	// The entry node is fine: the next request goes to the other provider.
	s2, err := r.Do(context.Background(), chatRequest("m", true))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if data, err := drain(s2); err != nil || len(data) != 2 || s2.(interface{ ServedBy() string }).ServedBy() != p2.String() {
		t.Fatalf("next request: %d chunks, err %v", len(data), err)
	}
}

func TestRouterClientCancelReachesProvider(t *testing.T) {
	b := &fakeBackend{chunks: 100, gate: make(chan struct{})}
	b.started = make(chan *fakeStream, 1)
	c := newCluster(t, b)
	p1 := c.providers[0].ID()
	c.dht.peers["m"] = []peer.ID{p1}
	c.ads.set("m", advert(p1, "m", 0, 50_000, 1))
	r := c.router()
	go func() {
		<-b.started
		b.gate <- struct{}{}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := r.Do(ctx, chatRequest("m", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	b.mu.Lock()
	fs := b.streams[0]
	b.mu.Unlock()
	select {
	case <-fs.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider kept generating after the client closed")
	}
	if fs.produced.Load() > 2 {
		t.Fatalf("provider produced %d events, the client took 1", fs.produced.Load())
	}
	if r.Failed(p1) {
		t.Fatal("a client cancel marked the provider failed")
	}
}

func TestPowerOfTwoChoices(t *testing.T) {
	h := newHost(t)
	r := NewRouter(h, testProto, &staticProviders{}, &staticAdverts{}, WithRand(rand.New(rand.NewPCG(7, 7))))
	mk := func(queue uint32, tpsMilli, price uint64) candidate {
		_, p := testkeys.New(t)
		c := candidate{peer: p, offer: capacity.ModelCapacity{QueueDepth: queue, TokensPerSecondMilli: tpsMilli, InputPrice: price, OutputPrice: price}}
		c.score = r.score(c)
		return c
	}
	t.Run("score", func(t *testing.T) {
		tests := []struct {
			c    candidate
			want time.Duration
		}{
			{mk(0, 0, 0), DefaultUnknownRTT},
			{mk(4, 100_000, 0), DefaultUnknownRTT + 4*256*time.Second/100},
			{mk(2, 0, 0), DefaultUnknownRTT + 2*DefaultUnmeasuredWait},
		}
		for _, tt := range tests {
			if tt.c.score != tt.want {
				t.Errorf("score(%+v) = %s, want %s", tt.c.offer, tt.c.score, tt.want)
			}
		}
	})
	t.Run("worst never chosen", func(t *testing.T) {
		cands := []candidate{mk(0, 50_000, 5), mk(2, 50_000, 5), mk(30, 50_000, 5)}
		counts := map[peer.ID]int{}
		for range 600 {
			counts[r.pick(cands).peer]++
		}
		if counts[cands[2].peer] != 0 {
			t.Fatalf("the worst candidate was picked %d times", counts[cands[2].peer])
		}
		// The best wins both its pairs (2/3 of draws), the middle one its pair with the worst.
		if counts[cands[0].peer] < 300 || counts[cands[1].peer] < 100 {
			t.Fatalf("picks %v are not a power-of-two-choices distribution", counts)
		}
	})
	t.Run("price breaks ties", func(t *testing.T) {
		cheap, dear := mk(0, 50_000, 1), mk(0, 50_000, 9)
		for range 50 {
			if got := r.pick([]candidate{dear, cheap}); got.peer != cheap.peer {
				t.Fatal("equal scores: the dearer provider was picked")
			}
		}
		// Outside the margin the faster provider wins whatever its price.
		fast := mk(0, 50_000, 100)
		slow := mk(1, 50_000, 1)
		if got := r.pick([]candidate{slow, fast}); got.peer != fast.peer {
			t.Fatal("a cheaper but slower provider beat a faster one")
		}
	})
}

func TestCombined(t *testing.T) {
	remote := &fakeBackend{chunks: 3}
	c := newCluster(t, remote)
	p1 := c.providers[0].ID()
	c.dht.peers["remote-m"] = []peer.ID{p1}
	c.ads.set("remote-m", advert(p1, "remote-m", 0, 1, 1))
	reg := runtime.NewRegistry(nil)
	local := &localRuntime{name: "local", models: []string{"local-m"}, b: &fakeBackend{chunks: 2}}
	if err := reg.Add(local); err != nil {
		t.Fatal(err)
	}
	if err := reg.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	comb := NewCombined(reg, c.router(), catalog{"remote-m", "local-m"})

	s, err := comb.Do(context.Background(), chatRequest("local-m", true))
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := drain(s); len(data) != 2 {
		t.Fatalf("local model: %d chunks", len(data))
	}
	if _, ok := s.(interface{ ServedBy() string }); ok {
		t.Fatal("a local stream claims to be served elsewhere")
	}
	s, err = comb.Do(context.Background(), chatRequest("remote-m", true))
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := drain(s); len(data) != 3 || s.(interface{ ServedBy() string }).ServedBy() != p1.String() {
		t.Fatalf("remote model: %d chunks", len(data))
	}
	if reqs := remote.requests(); len(reqs) != 1 || reqs[0].Model != "remote-m" {
		t.Fatalf("provider got %+v", reqs)
	}
	_, err = comb.Do(context.Background(), chatRequest("nowhere", true))
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != 503 {
		t.Fatalf("unknown model: %v", err)
	}
	models := comb.Models()
	if len(models) != 2 || models[0].ID != "local-m" || models[1].ID != "remote-m" || models[1].Runtime != NetworkRuntime {
		t.Fatalf("Models() = %+v", models)
	}
	if m, ok := comb.Model("remote-m"); !ok || m.Runtime != NetworkRuntime {
		t.Fatalf("Model(remote-m) = %+v %v", m, ok)
	}
	if _, ok := comb.Model("nowhere"); ok {
		t.Fatal("Model(nowhere) found")
	}
	gateway := NewCombined(nil, c.router(), nil)
	if s, err := gateway.Do(context.Background(), chatRequest("remote-m", true)); err != nil {
		t.Fatalf("light client: %v", err)
	} else {
		_ = s.Close()
	}
	// A node serves its local models through its metering: the local
	// backend, not the registry's Do.
	paid := &fakeBackend{chunks: 5}
	metered := NewCombined(reg, c.router(), nil, WithLocalBackend(paid))
	s, err = metered.Do(context.Background(), chatRequest("local-m", true))
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := drain(s); len(data) != 5 || len(paid.requests()) != 1 {
		t.Fatalf("local model with a local backend: %d chunks, backend saw %d requests", len(data), len(paid.requests()))
	}
}

type catalog []string

func (c catalog) Models() []string { return c }

// localRuntime is a runtime.Runtime over a fakeBackend.
type localRuntime struct {
	name   string
	models []string
	b      *fakeBackend
}

func (l *localRuntime) Name() string { return l.name }
func (l *localRuntime) Models(context.Context) ([]runtime.Model, error) {
	var out []runtime.Model
	for _, m := range l.models {
		out = append(out, runtime.Model{ID: m})
	}
	return out, nil
}
func (l *localRuntime) Chat(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return l.b.Do(ctx, req)
}
func (l *localRuntime) Complete(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return l.b.Do(ctx, req)
}
func (l *localRuntime) Embed(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	return l.b.Do(ctx, req)
}
func (l *localRuntime) Health(context.Context) runtime.Health { return runtime.Health{OK: true} }

func TestRouterPaysTheProvider(t *testing.T) {
	tests := []struct {
		name string
		pay  *testPayment
	}{
		{"unpaid request", nil},
		{"paid request", &testPayment{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBackend{chunks: 1}
			c := newCluster(t, b)
			p1 := c.providers[0].ID()
			c.dht.peers["m"] = []peer.ID{p1}
			c.ads.set("m", advert(p1, "m", 0, 1, 1))
			req := chatRequest("m", true)
			if tt.pay != nil {
				req.Payment = tt.pay
			}
			s, err := c.router().Do(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := drain(s); err != nil {
				t.Fatal(err)
			}
			got := b.requests()
			if len(got) != 1 {
				t.Fatalf("provider served %d requests", len(got))
			}
			if tt.pay == nil {
				if got[0].Payment != nil {
					t.Fatal("an unpaid request reached the provider with a payment")
				}
				return
			}
			// The provider receives the authorization naming it, and its
			// receipt comes back to the request's payment.
			if auth, _ := got[0].Payment.For(""); string(auth) != "auth:"+p1.String() {
				t.Fatalf("provider got authorization %q", auth)
			}
			if want := "receipt:m:auth:" + p1.String(); string(tt.pay.paidWith()) != want {
				t.Fatalf("payment got receipt %q, want %q", tt.pay.paidWith(), want)
			}
		})
	}
}

func TestRouterPaymentFailure(t *testing.T) {
	c := newCluster(t, &fakeBackend{chunks: 1})
	p1 := c.providers[0].ID()
	c.dht.peers["m"] = []peer.ID{p1}
	c.ads.set("m", advert(p1, "m", 0, 1, 1))
	r := c.router()
	req := chatRequest("m", true)
	req.Payment = &testPayment{err: runtime.Errorf(http.StatusPaymentRequired, runtime.ErrTypeInsufficientQuota, "", "spend limit reached")}
	_, err := r.Do(context.Background(), req)
	var re *runtime.Error
	if !errors.As(err, &re) || re.Status != http.StatusPaymentRequired {
		t.Fatalf("got %v, want the payment's 402", err)
	}
	if r.Failed(p1) {
		t.Fatal("an authorization failure was blamed on the provider")
	}
}
