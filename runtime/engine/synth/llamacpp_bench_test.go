package synth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/cputime"
	"github.com/fomonet/fomo/runtime/engine"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// The shape of the side-by-side benchmark: a prompt of benchPrompt tokens,
// then benchDecode tokens decoded one at a time; and the greedy agreement
// check: agreeTokens tokens after each of agreePrompts prompts.
const (
	benchPrompt  = 512
	benchDecode  = 128
	agreePrompts = 5
	agreeTokens  = 64
)

// TestVsLlamaCpp runs the built-in engine and llama.cpp (node-llama-cpp,
// CPU only) side by side on the SmolLM2-135M-shaped synthetic models in
// F32, Q8_0 and Q4_K, and prints two Markdown tables: prefill of a
// 512-token prompt and greedy decode of 128 tokens in tokens/s, medians of
// rounds that alternate the engines, with the medians of each round's
// fomo/llama.cpp ratios (the two runs of a round are close in time, which
// takes out much of the noise of a shared machine), by wall time and by
// the CPU time each process used (which takes out the time a busy machine
// gives to others; on one thread it is the rate on a core of one's own); and the
// greedy agreement of the two on five prompts of 64 tokens, which must be
// complete for F32. Beside decode it puts the bound the memory read
// bandwidth, measured in the same run, sets: bandwidth ÷ weight bytes
// read per token. Neither engine's timing includes loading the model.
//
// It runs only with FOMO_LLAMACPP_BENCH=1 (make bench-llamacpp) and needs
// node and npm; node-llama-cpp is installed as for TestLlamaCpp.
// FOMO_LLAMACPP_ROUNDS sets the rounds (3), FOMO_LLAMACPP_THREADS the
// comma-separated thread counts (1) and FOMO_LLAMACPP_TYPES the types.
func TestVsLlamaCpp(t *testing.T) {
	if os.Getenv("FOMO_LLAMACPP_BENCH") != "1" {
		t.Skip("set FOMO_LLAMACPP_BENCH=1 to benchmark against llama.cpp (installs " + nodeLlamaCpp + " from npm; make bench-llamacpp)")
	}
	rounds := envInts(t, "FOMO_LLAMACPP_ROUNDS", "3")[0]
	threadCounts := envInts(t, "FOMO_LLAMACPP_THREADS", "1")
	types := []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0, gguf.TypeQ4_K}
	if s := os.Getenv("FOMO_LLAMACPP_TYPES"); s != "" {
		types = nil
		for _, name := range strings.Split(s, ",") {
			typ, ok := typeByName(name)
			if !ok {
				t.Fatalf("FOMO_LLAMACPP_TYPES: unknown type %q", name)
			}
			types = append(types, typ)
		}
	}
	dir := llamaCppDir(t)
	script, err := filepath.Abs(filepath.Join("testdata", "llamacpp_bench.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	var speed, agree strings.Builder
	speed.WriteString("| type | threads | prefill tok/s fomo | llama.cpp | ratio | by CPU time | decode tok/s fomo | llama.cpp | ratio | by CPU time | weights MB/token | decode bound tok/s |\n")
	speed.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	bandwidth := map[int]float64{}
	for _, threads := range threadCounts {
		bandwidth[threads] = readBandwidth(threads)
	}
	agree.WriteString("| type | prompt | common prefix | top-2 logit gap at divergence | smallest top-2 gap before it |\n")
	agree.WriteString("|---|---|---|---|---|\n")
	for _, typ := range types {
		path := filepath.Join(tmp, typ.String()+".gguf")
		if err := synth.WriteFile(synth.Options{Preset: "smollm-135m", Type: typ, Seed: 1}, path); err != nil {
			t.Fatal(err)
		}
		m, err := engine.LoadFile(path, 1)
		if err != nil {
			t.Fatal(err)
		}
		prompt, prompts := benchPrompts(t, m)
		m.Close()

		for _, threads := range threadCounts {
			m, err := engine.LoadFile(path, threads)
			if err != nil {
				t.Fatal(err)
			}
			// Per round: tokens/s of fomo and llama.cpp, and the ratios
			// of their rates by wall time and by CPU time.
			var fp, fd, lp, ld, rp, rd, cp, cd []float64
			for r := range rounds {
				// Alternate which engine goes first, so that neither
				// always runs on the caches or the clock the other left.
				var theirs benchTiming
				if r%2 == 0 {
					theirs = runLlamaBench(t, script, dir, tmp, path, threads, prompt)
				}
				ours := fomoBench(t, m, prompt)
				if r%2 == 1 {
					theirs = runLlamaBench(t, script, dir, tmp, path, threads, prompt)
				}
				fp, lp = append(fp, rate(benchPrompt, ours.prefill)), append(lp, rate(benchPrompt, theirs.prefill))
				fd, ld = append(fd, rate(benchDecode, ours.decode)), append(ld, rate(benchDecode, theirs.decode))
				rp, rd = append(rp, fp[r]/lp[r]), append(rd, fd[r]/ld[r])
				cp, cd = append(cp, theirs.prefillCPU.Seconds()/ours.prefillCPU.Seconds()), append(cd, theirs.decodeCPU.Seconds()/ours.decodeCPU.Seconds())
				t.Logf("%s threads=%d round %d: prefill fomo %.1f llama.cpp %.1f tok/s, decode fomo %.2f llama.cpp %.2f tok/s; CPU time ÷ wall time fomo %.2f llama.cpp %.2f",
					typ, threads, r+1, fp[r], lp[r], fd[r], ld[r], ours.cpuShare(), theirs.cpuShare())
			}
			weights := float64(m.WeightBytesPerToken())
			m.Close()
			fmt.Fprintf(&speed, "| %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f |\n",
				typ, threads, median(fp), median(lp), median(rp), median(cp), median(fd), median(ld), median(rd), median(cd),
				weights/1e6, bandwidth[threads]/weights)
		}

		// Greedy agreement, with one thread.
		theirs := runLlamaGreedy(t, script, dir, tmp, path, prompts)
		m, err = engine.LoadFile(path, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range prompts {
			ours, gaps := greedyGaps(t, m, p, agreeTokens)
			common := 0
			for common < min(len(ours), len(theirs[i])) && ours[common] == theirs[i][common] {
				common++
			}
			gap := "-"
			if common < agreeTokens {
				gap = fmt.Sprintf("%.4g", gaps[common])
				t.Logf("%s prompt %d: diverges at %d: engine %d, llama.cpp %d", typ, i+1, common, ours[common], theirs[i][common])
				if typ == gguf.TypeF32 {
					t.Errorf("F32 prompt %d: greedy tokens differ from llama.cpp's after %d of %d\n engine    %v\n llama.cpp %v",
						i+1, common, agreeTokens, ours, theirs[i])
				}
			}
			fmt.Fprintf(&agree, "| %s | %d | %d/%d | %s | %.4g |\n", typ, i+1, common, agreeTokens, gap, slices.Min(gaps[:max(common, 1)]))
		}
		m.Close()
	}
	var bw []string
	for _, threads := range threadCounts {
		bw = append(bw, fmt.Sprintf("%.1f GB/s with %d threads", bandwidth[threads]/1e9, threads))
	}
	t.Logf("prefill of %d tokens and decode of %d, medians of %d rounds (ratio: the median of the rounds' fomo/llama.cpp ratios of tokens/s; by CPU time: of tokens per CPU second), %s, GOMAXPROCS %d, load average %s; memory read bandwidth %s (bound = bandwidth ÷ weights per token)\n\n%s\ngreedy agreement with llama.cpp, %d tokens after each of %d prompts, 1 thread (gap: the engine's top logit minus its second, at the first difference and the smallest over the tokens before it)\n\n%s",
		benchPrompt, benchDecode, rounds, time.Now().UTC().Format(time.DateTime), runtime.GOMAXPROCS(0), loadAverage(), strings.Join(bw, ", "),
		speed.String(), agreeTokens, agreePrompts, agree.String())
}

// benchPrompts returns the benchmark's prompt of benchPrompt tokens and
// the agreement check's prompts, all cut from the corpus.
func benchPrompts(t *testing.T, m *engine.Model) (prompt []int32, prompts [][]int32) {
	t.Helper()
	corpus := synth.Corpus()
	ids, err := m.Tokenizer.Encode(strings.Repeat(corpus, 1+benchPrompt*8/len(corpus)), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < benchPrompt {
		t.Fatalf("the corpus gives %d tokens, fewer than %d", len(ids), benchPrompt)
	}
	prompt = ids[:benchPrompt]
	for i := range agreePrompts {
		// Prompts of different lengths from different places.
		start := i * len(corpus) / agreePrompts
		text := corpus[start : start+40+i*60]
		p, err := m.Tokenizer.Encode(text, false, false)
		if err != nil {
			t.Fatal(err)
		}
		prompts = append(prompts, p)
	}
	return prompt, prompts
}

// benchTiming is the wall and CPU time of a prefill and of the decode
// after it.
type benchTiming struct {
	prefill, decode, prefillCPU, decodeCPU time.Duration
}

// cpuShare returns the CPU time over the wall time of t.
func (t benchTiming) cpuShare() float64 {
	return (t.prefillCPU + t.decodeCPU).Seconds() / (t.prefill + t.decode).Seconds()
}

// rate returns n tokens over d in tokens/s.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// fomoBench times the built-in engine's prefill of prompt and its greedy
// decode of benchDecode tokens after a short warm-up.
func fomoBench(t *testing.T, m *engine.Model, prompt []int32) benchTiming {
	t.Helper()
	seq := m.NewSequence(len(prompt) + benchDecode + 1)
	if _, err := seq.Forward(prompt[:16]); err != nil {
		t.Fatal(err)
	}
	seq.Truncate(0)
	c0, t0 := cputime.Process(), time.Now()
	logits, err := seq.Forward(prompt)
	if err != nil {
		t.Fatal(err)
	}
	tok := []int32{argmax(logits)}
	c1, t1 := cputime.Process(), time.Now()
	for range benchDecode {
		logits, err := seq.Forward(tok)
		if err != nil {
			t.Fatal(err)
		}
		tok[0] = argmax(logits)
	}
	c2, t2 := cputime.Process(), time.Now()
	return benchTiming{prefill: t1.Sub(t0), decode: t2.Sub(t1), prefillCPU: c1 - c0, decodeCPU: c2 - c1}
}

// llamaBench is the output of llamacpp_bench.mjs in mode "bench".
type llamaBench struct {
	PrefillMS    float64 `json:"prefill_ms"`
	DecodeMS     float64 `json:"decode_ms"`
	PrefillCPUMS float64 `json:"prefill_cpu_ms"`
	DecodeCPUMS  float64 `json:"decode_cpu_ms"`
	Generated    []int32 `json:"generated"`
	Error        string  `json:"error"`
}

// runLlamaBench times llama.cpp's prefill and decode of model in a new
// node process.
func runLlamaBench(t *testing.T, script, dir, tmp, model string, threads int, prompt []int32) benchTiming {
	t.Helper()
	var res llamaBench
	runLlamaScript(t, script, dir, tmp, map[string]any{
		"mode": "bench", "path": model, "threads": threads, "prompts": [][]int32{prompt}, "tokens": benchDecode,
	}, &res)
	if res.PrefillMS <= 0 || res.DecodeMS <= 0 {
		t.Fatalf("llama.cpp gave no timing: %+v", res)
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return benchTiming{prefill: ms(res.PrefillMS), decode: ms(res.DecodeMS), prefillCPU: ms(res.PrefillCPUMS), decodeCPU: ms(res.DecodeCPUMS)}
}

// runLlamaGreedy returns the agreeTokens tokens llama.cpp picks greedily
// after each prompt, with one thread.
func runLlamaGreedy(t *testing.T, script, dir, tmp, model string, prompts [][]int32) [][]int32 {
	t.Helper()
	var res struct {
		Generated [][]int32 `json:"generated"`
		Error     string    `json:"error"`
	}
	runLlamaScript(t, script, dir, tmp, map[string]any{
		"mode": "greedy", "path": model, "threads": 1, "prompts": prompts, "tokens": agreeTokens,
	}, &res)
	if len(res.Generated) != len(prompts) {
		t.Fatalf("llama.cpp generated after %d of %d prompts", len(res.Generated), len(prompts))
	}
	return res.Generated
}

// runLlamaScript runs llamacpp_bench.mjs on spec and decodes its output
// into res, failing t on an error.
func runLlamaScript(t *testing.T, script, dir, tmp string, spec map[string]any, res any) {
	t.Helper()
	out, stderr := runNodeScript(t, script, dir, tmp, spec)
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("llama.cpp script output %q: %v\n%s", out, err, stderr)
	}
	if e.Error != "" {
		t.Fatalf("llama.cpp: %s", e.Error)
	}
	if err := json.Unmarshal(out, res); err != nil {
		t.Fatal(err)
	}
}

// runNodeScript writes spec as JSON into tmp and runs the node script on
// node-llama-cpp's directory dir and that file, returning its standard
// output and error; it fails t when the script fails.
func runNodeScript(t *testing.T, script, dir, tmp string, spec any) (out, stderr []byte) {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(tmp, "spec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, dir, specPath)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, errBuf.Bytes())
	}
	return out, errBuf.Bytes()
}

// greedyGaps generates n tokens greedily after prompt, as greedy does,
// and returns them with, for each, the top logit minus the second.
func greedyGaps(t *testing.T, m *engine.Model, prompt []int32, n int) (out []int32, gaps []float32) {
	t.Helper()
	seq := m.NewSequence(len(prompt) + n)
	logits, err := seq.Forward(prompt)
	for err == nil && len(out) < n {
		best, second := 0, -1
		for i, v := range logits {
			switch {
			case v > logits[best]:
				best, second = i, best
			case i != best && (second < 0 || v > logits[second]):
				second = i
			}
		}
		out = append(out, int32(best))
		gaps = append(gaps, logits[best]-logits[second])
		if len(out) < n {
			logits, err = seq.Forward([]int32{int32(best)})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return out, gaps
}

// argmax returns the index of the largest logit (the lowest among equals).
func argmax(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// median returns the median of v.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// envInts parses the comma-separated positive integers of the environment
// variable name, or of def when it is unset.
func envInts(t *testing.T, name, def string) []int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		s = def
	}
	var v []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%s: %q is not a positive integer", name, f)
		}
		v = append(v, n)
	}
	return v
}

// typeByName returns the tensor type named name, such as Q8_0.
func typeByName(name string) (gguf.Type, bool) {
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		if strings.EqualFold(typ.String(), strings.TrimSpace(name)) {
			return typ, true
		}
	}
	return 0, false
}

// readBandwidth returns the best of ten timed reads of 256 MiB, a buffer
// much larger than the caches, split over threads goroutines, in bytes
// per second.
func readBandwidth(threads int) float64 {
	words := make([]uint64, 32<<20)
	for i := range words {
		words[i] = uint64(i)
	}
	sums := make([]uint64, threads*8) // a cache line apart
	best := 0.0
	for range 10 {
		start := time.Now()
		var wg sync.WaitGroup
		per := len(words) / threads
		for t := range threads {
			wg.Go(func() {
				var s0, s1, s2, s3 uint64
				part := words[t*per : (t+1)*per]
				for i := 0; i+4 <= len(part); i += 4 {
					s0 += part[i]
					s1 += part[i+1]
					s2 += part[i+2]
					s3 += part[i+3]
				}
				sums[t*8] = s0 + s1 + s2 + s3
			})
		}
		wg.Wait()
		if v := float64(8*len(words)) / time.Since(start).Seconds(); v > best {
			best = v
		}
	}
	return best
}

// loadAverage returns the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
