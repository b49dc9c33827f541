package cli

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/p2p/models"
	"github.com/fomonet/fomo/runtime/engine/synth"
	"github.com/spf13/cobra"
)

func newModelCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Announce, inspect and generate models",
	}
	cmd.AddCommand(newModelSynthCmd(), newModelAnnounceCmd(rf), newModelShowCmd(), newModelProvidersCmd())
	cmd.AddCommand(newModelChainCmds(rf)...)
	return cmd
}

func newModelAnnounceCmd(rf *Flags) *cobra.Command {
	var keyName, keyFile, apiURL, weights string
	cmd := &cobra.Command{
		Use:   "announce MANIFEST.toml",
		Short: "Sign a model manifest with the issuer's key and publish it in the network's DHT",
		Long: `announce reads a manifest (name, seq, architecture, quantization,
context_length, weights {sha256, size, uris}, chat_template, tier, input_price,
output_price, description), signs it with the issuer key, and publishes it
through a node (--api). Nodes announce a model they serve to the network only
once its manifest is published and their weights match its sha256. A higher
seq replaces an earlier manifest of the same name.

--weights FILE fills weights.sha256 and weights.size from a local file.`,
		Example: "  fomo model announce llama.toml --key-name issuer --weights /models/llama.gguf",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadManifest(args[0], weights)
			if err != nil {
				return err
			}
			sk, err := identity.Load(keyPath(rf.Home, keyName, keyFile))
			if err != nil {
				return err
			}
			env, err := models.Sign(m, sk)
			if err != nil {
				return err
			}
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			info, err := c.AnnounceManifest(cmd.Context(), env)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "announced %s seq %d by %s\nmanifest sha256 %s\n",
				info.Manifest.Name, info.Manifest.Seq, info.Manifest.Issuer, info.SHA256)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyName, "key-name", "issuer", "issuer key: HOME/keys/NAME.key")
	cmd.Flags().StringVar(&keyFile, "key", "", "issuer key file (overrides --key-name)")
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to publish through (env FOMO_API)")
	cmd.Flags().StringVar(&weights, "weights", "", "fill weights.sha256 and weights.size from this file")
	return cmd
}

func newModelShowCmd() *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a model's signed manifest, resolved from the DHT by a node",
		Example: "  fomo model show synth-small-q8_0 --api http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			info, err := c.Manifest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			info.Envelope = ""
			return printJSON(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	return cmd
}

func newModelProvidersCmd() *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:     "providers NAME",
		Short:   "List the nodes that serve a model, from the DHT",
		Example: "  fomo model providers synth-small-q8_0",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			out, err := c.Providers(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(out) == 0 {
				return fmt.Errorf("no node serves %s", args[0])
			}
			for _, p := range out {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", p.PeerID, strings.Join(p.Addrs, " "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	return cmd
}

// reparse decodes a manifest file after filling in its weights fields.
// loadManifest reads the manifest file at path and, when weights names a
// file, fills the manifest's weights hash and size from it before checking
// the manifest: a file may leave them out, or hold only the weights' URIs.
func loadManifest(path, weights string) (models.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return models.Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	m, err := models.DecodeTOML(b)
	if err != nil {
		return models.Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	if weights != "" {
		w, err := models.FileWeights(weights)
		if err != nil {
			return models.Manifest{}, err
		}
		m.Weights.SHA256, m.Weights.Size = w.SHA256, w.Size
	}
	if err := m.ValidateUnsigned(); err != nil {
		return models.Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func newModelSynthCmd() *cobra.Command {
	var (
		opts    synth.Options
		typ     string
		out     string
		presets = strings.Join(synth.PresetNames(), ", ")
	)
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Write a synthetic GGUF model: deterministic random weights, a real tokenizer",
		Long: `synth writes a GGUF file in the llama or qwen2 architecture with random weights
drawn from --seed and a byte-level BPE tokenizer learned from text shipped with
fomo. The same flags always give the same file. The weights are random, so the
generated text is gibberish, but every code path of loading, tokenizing and
generating is real. Presets: ` + presets + `. On a terminal it shows its
progress on stderr; piped, it prints nothing.`,
		Example: "  fomo model synth --preset tiny -o tiny.gguf\n  fomo model synth --arch qwen2 --preset small --type q8_0 --seed 7 -o small-q8.gguf",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := synth.ParseType(typ)
			if err != nil {
				return fmt.Errorf("--type %w", err)
			}
			opts.Type = t
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			var written atomic.Int64
			stop := startProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()), progressEvery,
				func(d time.Duration) string {
					return fmt.Sprintf("writing %s: %s, %s", out, mib(written.Load()), d.Round(time.Second))
				},
				func(d time.Duration) string {
					return fmt.Sprintf("wrote %s: %s in %s", out, mib(written.Load()), d.Round(100*time.Millisecond))
				})
			err = synth.WriteFileCounting(opts, out, &written)
			stop()
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Arch, "arch", "llama", "architecture: llama or qwen2")
	cmd.Flags().StringVar(&opts.Preset, "preset", "tiny", "shape: "+presets)
	cmd.Flags().StringVar(&typ, "type", "f32", "file type: f32, f16, bf16, q8_0, q4_0, q4_k (Q4_K_M), q6_k; quantized types get llama.cpp's per-tensor mix")
	cmd.Flags().Int64Var(&opts.Seed, "seed", 1, "random seed of the weights")
	cmd.Flags().StringVar(&opts.Name, "name", "", "general.name (default synth-<arch>-<preset>)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file")
	return cmd
}
