package synth_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fomonet/fomo/runtime/engine"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// nodeLlamaCpp is the npm package whose prebuilt llama.cpp TestLlamaCpp
// loads the synthetic models with.
const nodeLlamaCpp = "node-llama-cpp@3.22.1"

// TestLlamaCpp loads synthetic models in llama.cpp and compares its
// tokenization and greedy generation with the built-in engine's. It runs
// only with FOMO_LLAMACPP=1 (make test-llamacpp): it needs node and npm,
// and installs node-llama-cpp from the npm registry, once, into
// $FOMO_LLAMACPP_DIR (default the user cache directory's
// fomo/node-llama-cpp-3.22.1).
func TestLlamaCpp(t *testing.T) {
	if os.Getenv("FOMO_LLAMACPP") != "1" {
		t.Skip("set FOMO_LLAMACPP=1 to compare with llama.cpp (installs " + nodeLlamaCpp + " from npm; make test-llamacpp)")
	}
	dir := llamaCppDir(t)

	const prompt = "The quick brown fox jumps over the lazy dog. Ünïcode → ok, 12345 tokens!"
	const n = 16
	cases := []struct {
		Name   string `json:"name"`
		Path   string `json:"path"`
		Prompt string `json:"prompt"`
		Tokens int    `json:"tokens"`
		opts   synth.Options
	}{
		{Name: "F32", opts: synth.Options{Preset: "small", Type: gguf.TypeF32, Seed: 1}},
		{Name: "Q8_0", opts: synth.Options{Preset: "small", Type: gguf.TypeQ8_0, Seed: 1}},
		{Name: "Q4_K", opts: synth.Options{Preset: "small", Type: gguf.TypeQ4_K, Seed: 1}},
		{Name: "qwen2 Q8_0", opts: synth.Options{Arch: "qwen2", Preset: "small", Type: gguf.TypeQ8_0, Seed: 1}},
		// Rows of 576: Q4_K falls back to Q5_0 and Q6_K to Q8_0.
		{Name: "Q4_K dim 576", opts: synth.Options{Preset: "smollm-135m", Type: gguf.TypeQ4_K, Seed: 1, Layers: 4, Vocab: 2048, Context: 256, Untied: true}},
	}
	tmp := t.TempDir()
	for i := range cases {
		c := &cases[i]
		c.Path = filepath.Join(tmp, fmt.Sprintf("model%d.gguf", i))
		c.Prompt, c.Tokens = prompt, n
		if err := synth.WriteFile(c.opts, c.Path); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join("testdata", "llamacpp.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr := runNodeScript(t, script, dir, tmp, cases)
	type result struct {
		Name      string  `json:"name"`
		PromptIDs []int32 `json:"prompt_ids"`
		Generated []int32 `json:"generated"`
		Error     string  `json:"error"`
	}
	results := map[string]result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("llama.cpp script output %q: %v", sc.Text(), err)
		}
		results[r.Name] = r
	}

	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := results[c.Name]
			switch {
			case !ok:
				t.Fatalf("llama.cpp gave no result\n%s", stderr)
			case r.Error != "":
				t.Fatalf("llama.cpp: %s", r.Error)
			}
			m, err := engine.LoadFile(c.Path, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ids, err := m.Tokenizer.Encode(prompt, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(ids, r.PromptIDs) {
				t.Fatalf("prompt tokens differ:\n engine    %v\n llama.cpp %v", ids, r.PromptIDs)
			}
			ours := greedy(t, m, ids, n)
			common := 0
			for common < min(len(ours), len(r.Generated)) && ours[common] == r.Generated[common] {
				common++
			}
			t.Logf("%d prompt tokens equal; greedy tokens agree for %d of %d\n engine    %v\n llama.cpp %v", len(ids), common, n, ours, r.Generated)
			if c.opts.Type == gguf.TypeF32 && common < n {
				t.Errorf("F32 greedy tokens differ after %d", common)
			}
		})
	}
}

// llamaCppDir returns the directory node-llama-cpp is installed in,
// installing it first when it is missing; it skips t when node or npm is
// not installed.
func llamaCppDir(t *testing.T) string {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	dir := os.Getenv("FOMO_LLAMACPP_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache directory for node-llama-cpp (set FOMO_LLAMACPP_DIR): %v", err)
		}
		dir = filepath.Join(cache, "fomo", "node-llama-cpp-3.22.1")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte("{\"private\": true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("installing %s into %s", nodeLlamaCpp, dir)
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", nodeLlamaCpp)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s in %s: %v\n%s", nodeLlamaCpp, dir, err, out)
	}
	return dir
}

// greedy generates n tokens after prompt, each the most likely (the
// lowest id among equals).
func greedy(t *testing.T, m *engine.Model, prompt []int32, n int) []int32 {
	t.Helper()
	seq := m.NewSequence(len(prompt) + n)
	logits, err := seq.Forward(prompt)
	var out []int32
	for err == nil && len(out) < n {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		out = append(out, int32(best))
		if len(out) < n {
			logits, err = seq.Forward([]int32{int32(best)})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
