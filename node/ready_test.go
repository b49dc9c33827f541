package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
	"github.com/fomonet/fomo/internal/testhttp"
	"github.com/fomonet/fomo/internal/testwait"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/runtime/runtimetest"
)

// TestReadyzFollowsRuntimesAndChain runs a validator of a one-node chain
// whose runtime's upstream the test takes down and brings back: /readyz
// answers 200 with a check per runtime and one for the chain while all
// hold, 503 naming the runtime while it is down; /healthz stays 200.
func TestReadyzFollowsRuntimesAndChain(t *testing.T) {
	c := newChainNet(t)
	up := runtimetest.NewUpstream(runtimetest.WithModels(chainModel))
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	t.Cleanup(up.Close)
	c.cfg.Runtime = []configs.Runtime{{Name: "u", Kind: configs.KindOpenAI, URL: srv.URL}}
	n, _ := c.start(t)
	base := "http://" + n.APIAddr()

	readyz := func() (int, api.Readyz) {
		code, body := testhttp.Get(t, base+"/readyz")
		var r api.Readyz
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, r
	}
	var r api.Readyz
	testwait.For(t, "/readyz 200", 20*time.Second, func() bool {
		var code int
		code, r = readyz()
		return code == http.StatusOK
	})
	var names []string
	for _, ch := range r.Checks {
		names = append(names, ch.Name)
	}
	if !slices.Equal(names, []string{"runtime u", "chain"}) {
		t.Fatalf("checks %v, want [runtime u chain]", names)
	}

	up.SetReady(false)
	code, r := readyz()
	if code != http.StatusServiceUnavailable || !slices.Equal(r.Failing, []string{"runtime u"}) || r.Checks[0].Detail == "" {
		t.Fatalf("upstream loading: /readyz = %d %+v, want 503 failing [runtime u] with a detail", code, r)
	}
	if code, body := testhttp.Get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %s while not ready, want 200", code, body)
	}
	up.SetReady(true)
	if code, r := readyz(); code != http.StatusOK {
		t.Fatalf("upstream back: /readyz = %d %+v, want 200", code, r)
	}
}
