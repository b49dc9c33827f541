package cli

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/libp2p/go-libp2p/core/peer"
)

// noManifests is a DHT where no model is announced nor served.
type noManifests struct{}

func (noManifests) Put(context.Context, []byte) (*models.Signed, error) {
	return nil, errors.New("read only")
}
func (noManifests) Get(context.Context, string) (*models.Signed, error) {
	return nil, models.ErrNotFound
}
func (noManifests) FindProviders(context.Context, string) ([]peer.AddrInfo, error) { return nil, nil }

// TestNotFoundMessages: a command that asks for something that does not
// exist fails with one clean message: no HTTP status line, no doubled
// "not found".
func TestNotFoundMessages(t *testing.T) {
	n := newEconNet(t)
	srv := httptest.NewServer(api.New(noModels{}, api.WithChain(chain{}), api.WithManifests(noManifests{})))
	t.Cleanup(srv.Close)
	rurl, _ := receiptNode(t, 1)
	for _, tc := range []struct {
		args []string
		api  string
		want string
	}{
		{[]string{"epoch", "show", "999"}, srv.URL, "epoch 999 not found"},
		{[]string{"account", "show", "bob"}, srv.URL, "account bob not found"},
		{[]string{"model", "providers", "nope"}, srv.URL, "no node serves nope"},
		{[]string{"rewards", "show", "bob"}, srv.URL, "rewards bob not found"},
		{[]string{"stake", "show", "bob"}, srv.URL, "stakes bob not found"},
		{[]string{"supply"}, srv.URL, "supply not found"},
		{[]string{"model", "show", "nope"}, srv.URL, `no manifest for model "nope" in the network`},
		{[]string{"rmo", "show", "nope"}, n.url, "model nope has no offering"},
		{[]string{"pool", "show", "mt:nope"}, n.url, `no pool mt:nope (pools are "flock" and "mt:<model>" for a graduated model)`},
		{[]string{"receipts", "show", "0000000000"}, rurl, "receipt 0000000000 not found on this node"},
		{[]string{"receipts", "verify", "0000000000"}, rurl, "receipt 0000000000 not found on this node"},
	} {
		out, err := runHome(t, n.home, append(tc.args, "--api", tc.api)...)
		if err == nil {
			t.Errorf("%s: no error\n%s", strings.Join(tc.args, " "), out)
			continue
		}
		if got := ErrorMessage(err); got != tc.want {
			t.Errorf("%s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
