package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs/networks"
)

// writeGenesis writes a copy of the devnet genesis named name, with the
// development flag set as given, and returns its path.
func writeGenesis(t *testing.T, name string, development bool) string {
	t.Helper()
	g := networks.Devnet()
	g.Name, g.Development = name, development
	b, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "genesis.toml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenAccessOnlyOnDevelopmentNetworks(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		cfg := testConfig() // sets auth.open_access_key
		cfg.P2P.Network = writeGenesis(t, "mainnet", false)
		n, err := New(cfg, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		err = n.Start(context.Background())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n.Stop(ctx)
			t.Fatal("open access accepted on a network that is not a development network")
		}
		if !strings.Contains(err.Error(), "auth.open_access_key") || !strings.Contains(err.Error(), "development") {
			t.Fatalf("error %q does not name auth.open_access_key and why", err)
		}
	})
	t.Run("development", func(t *testing.T) {
		cfg := testConfig()
		cfg.P2P.Network = writeGenesis(t, "testnet", true)
		startNode(t, cfg)
	})
	t.Run("without open access", func(t *testing.T) {
		cfg := testConfig()
		cfg.Auth.OpenAccessKey = ""
		cfg.P2P.Network = writeGenesis(t, "mainnet", false)
		startNode(t, cfg)
	})
}
