package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
	"github.com/spf13/cobra"
)

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Work with models",
	}
	cmd.AddCommand(newModelSynthCmd())
	return cmd
}

var synthTypes = []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeQ6_K}

func parseGGUFType(s string) (gguf.Type, error) {
	var names []string
	for _, t := range synthTypes {
		if strings.EqualFold(t.String(), s) {
			return t, nil
		}
		names = append(names, strings.ToLower(t.String()))
	}
	return 0, fmt.Errorf("--type %q: want one of %s", s, strings.Join(names, ", "))
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
generating is real. Presets: ` + presets + `.`,
		Example: "  fomo model synth --preset tiny -o tiny.gguf\n  fomo model synth --arch qwen2 --preset small --type q8_0 --seed 7 -o small-q8.gguf",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseGGUFType(typ)
			if err != nil {
				return err
			}
			opts.Type = t
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			return writeSynth(opts, out)
		},
	}
	cmd.Flags().StringVar(&opts.Arch, "arch", "llama", "architecture: llama or qwen2")
	cmd.Flags().StringVar(&opts.Preset, "preset", "tiny", "shape: "+presets)
	cmd.Flags().StringVar(&typ, "type", "f32", "weight type: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k")
	cmd.Flags().Int64Var(&opts.Seed, "seed", 1, "random seed of the weights")
	cmd.Flags().StringVar(&opts.Name, "name", "", "general.name (default synth-<arch>-<preset>)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file")
	return cmd
}

// writeSynth generates the model into a temporary file and renames it into
// place, so a reader never sees a half-written model.
func writeSynth(opts synth.Options, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".synth-*.gguf")
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
	return os.Rename(tmp.Name(), out)
}
