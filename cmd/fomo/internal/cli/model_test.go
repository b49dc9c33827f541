package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/p2p/models"
)

// TestLoadManifestFillsWeights: --weights fills the weights' hash and size
// of a manifest that leaves them out, whether it has no [weights] table or
// one with only the weights' URIs; without --weights such a manifest is
// refused, naming the missing field.
func TestLoadManifestFillsWeights(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "w.gguf")
	if err := os.WriteFile(weights, []byte("weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := models.FileWeights(weights)
	if err != nil {
		t.Fatal(err)
	}
	const base = "name = \"m\"\nseq = 1\narchitecture = \"llama\"\nquantization = \"q8_0\"\ncontext_length = 4096\ntier = \"small\"\n"
	for name, body := range map[string]string{
		"no weights table": base,
		"uris only":        base + "\n[weights]\nuris = [\"https://example.org/w.gguf\"]\n",
	} {
		path := filepath.Join(dir, "m.toml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := loadManifest(path, weights)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Weights.SHA256 != want.SHA256 || m.Weights.Size != want.Size {
			t.Fatalf("%s: weights %+v, want %+v", name, m.Weights, want)
		}
		if name == "uris only" && len(m.Weights.URIs) != 1 {
			t.Fatalf("%s: the URIs were lost: %+v", name, m.Weights)
		}
		if _, err := loadManifest(path, ""); err == nil || !strings.Contains(err.Error(), "weights") || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s without --weights: %v", name, err)
		}
	}
}
