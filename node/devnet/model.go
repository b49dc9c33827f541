package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// idleSuffix names the devnet's second model (the first one's name and
// this): registered by the same issuer, served by no node, sent no traffic.
const idleSuffix = "-idle"

// Prices of the devnet model, usd base units per 1M tokens (5 and 15 usd).
const (
	inputPrice  = 5_000_000
	outputPrice = 15_000_000
)

// makeModel generates the devnet's synthetic model if it is not there yet
// and returns the [[runtime]] block that serves it, its name and its path.
func makeModel(out io.Writer, dir, preset, typ string) (block, name, path string, err error) {
	t, err := synth.ParseType(typ)
	if err != nil {
		return "", "", "", fmt.Errorf("--type %w", err)
	}
	name = fmt.Sprintf("synth-%s-%s", preset, strings.ToLower(t.String()))
	path = filepath.Join(dir, "models", name+".gguf")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "devnet: generating %s (synthetic weights, real tokenizer)\n", path)
		if err := synth.WriteFile(synth.Options{Preset: preset, Type: t, Seed: 1, Name: name}, path); err != nil {
			return "", "", "", fmt.Errorf("generating the devnet model: %w", err)
		}
	} else if err != nil {
		return "", "", "", err
	}
	block = fmt.Sprintf("\n# Written by fomo devnet: the built-in engine serving a synthetic model.\n[[runtime]]\nname = %q\nkind = \"engine\"\nmodel = %q\n", name, path)
	return block, name, path, nil
}

// signManifest signs the manifest of the devnet's model with the devnet's
// issuer key (DIR/keys/issuer.key).
func signManifest(dir, name, path, preset string) ([]byte, error) {
	issuer, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return nil, err
	}
	w, err := models.FileWeights(path)
	if err != nil {
		return nil, err
	}
	p := synth.Presets[preset]
	return models.Sign(models.Manifest{
		Name: name, Seq: 1, Architecture: "llama", Quantization: strings.TrimPrefix(name, "synth-"+preset+"-"),
		ContextLength: uint64(max(p.Context, 1)), Tier: "small", ChatTemplate: "chatml",
		InputPrice: inputPrice, OutputPrice: outputPrice,
		Weights:     w,
		Description: "synthetic " + preset + " model for the devnet: random weights, real tokenizer",
	}, issuer)
}

// announce publishes the model's manifest through node0, as an issuer
// would with `fomo model announce`.
func announce(ctx context.Context, out io.Writer, api, name string, env []byte) error {
	c, err := client.New(api)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.AnnounceManifest(ctx, env)
		if err == nil {
			fmt.Fprintf(out, "devnet: announced %s (issuer %s)\n", name, info.Manifest.Issuer)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("announcing the devnet model: %w", err)
		}
		time.Sleep(200 * time.Millisecond) // until node0's DHT has peers
	}
}
