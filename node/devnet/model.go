package devnet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// Prices of the devnet model, usd base units per 1M tokens (5 and 15 usd).
const (
	inputPrice  = 5_000_000
	outputPrice = 15_000_000
)

// makeModel generates the devnet's synthetic model if it is not there yet
// and returns the [[runtime]] block that serves it, its name and its path.
func makeModel(out io.Writer, dir, preset, typ string) (block, name, path string, err error) {
	t, err := parseType(typ)
	if err != nil {
		return "", "", "", err
	}
	name = fmt.Sprintf("synth-%s-%s", preset, strings.ToLower(t.String()))
	path = filepath.Join(dir, "models", name+".gguf")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "devnet: generating %s (synthetic weights, real tokenizer)\n", path)
		if err := writeSynth(synth.Options{Preset: preset, Type: t, Seed: 1, Name: name}, path); err != nil {
			return "", "", "", fmt.Errorf("generating the devnet model: %w", err)
		}
	} else if err != nil {
		return "", "", "", err
	}
	block = fmt.Sprintf("\n# Written by fomo devnet: the built-in engine serving a synthetic model.\n[[runtime]]\nname = %q\nkind = \"engine\"\nmodel = %q\n", name, path)
	return block, name, path, nil
}

// synthTypes are the weight types the synthetic model can have.
var synthTypes = []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeQ6_K}

func parseType(s string) (gguf.Type, error) {
	var names []string
	for _, t := range synthTypes {
		if strings.EqualFold(t.String(), s) {
			return t, nil
		}
		names = append(names, strings.ToLower(t.String()))
	}
	return 0, fmt.Errorf("--type %q: want one of %s", s, strings.Join(names, ", "))
}

// writeSynth generates a synthetic model into path, through a temporary
// file in the same directory, so that path is whole or absent.
func writeSynth(opts synth.Options, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".synth-*.gguf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := synth.Generate(opts, bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// signManifest signs the manifest of the devnet's model with the devnet's
// issuer key (DIR/keys/issuer.key).
func signManifest(dir, name, path, preset string) ([]byte, error) {
	issuer, _, err := identity.LoadOrCreate(filepath.Join(dir, "keys", "issuer.key"))
	if err != nil {
		return nil, err
	}
	sum, size, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	p := synth.Presets[preset]
	return models.Sign(models.Manifest{
		Name: name, Seq: 1, Architecture: "llama", Quantization: strings.TrimPrefix(name, "synth-"+preset+"-"),
		ContextLength: uint64(max(p.Context, 1)), Tier: "small", ChatTemplate: "chatml",
		InputPrice: inputPrice, OutputPrice: outputPrice,
		Weights:     models.Weights{SHA256: sum, Size: size},
		Description: "synthetic " + preset + " model for the devnet: random weights, real tokenizer",
	}, issuer)
}

func fileSHA256(path string) (string, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), uint64(n), nil
}

// announce publishes the model's manifest through node0, as an issuer
// would with `fomo model announce`.
func announce(ctx context.Context, out io.Writer, api, name string, env []byte) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info struct {
			Manifest struct {
				Issuer string `json:"issuer"`
			} `json:"manifest"`
		}
		err := apiDo(ctx, http.MethodPost, api+"/api/v1/manifests", env, &info)
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
