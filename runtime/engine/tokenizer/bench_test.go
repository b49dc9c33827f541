package tokenizer

import (
	"testing"
)

// BenchmarkEncode encodes a few KB of English prose with a byte-level
// vocabulary and reports tokens per second. The per-word cache is warm
// after the first iteration; BenchmarkEncodeCold clears it every time.
func BenchmarkEncode(b *testing.B) {
	for _, pre := range []string{"gpt2", "llama3", "qwen2"} {
		b.Run(pre, func(b *testing.B) { benchEncode(b, mustNew(b, trainedConfig(b, pre, 2000)), false) })
	}
	b.Run("spm", func(b *testing.B) { benchEncode(b, mustNew(b, spmConfig(b)), false) })
}

// BenchmarkEncodeCold measures encoding without the per-word cache.
func BenchmarkEncodeCold(b *testing.B) {
	benchEncode(b, mustNew(b, trainedConfig(b, "llama3", 2000)), true)
}

func benchEncode(b *testing.B, tk *Tokenizer, cold bool) {
	text := readCorpus(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if cold {
			tk.cacheMu.Lock()
			clear(tk.cache)
			tk.cacheMu.Unlock()
		}
		ids, err := tk.Encode(text, false, false)
		if err != nil {
			b.Fatal(err)
		}
		n += len(ids)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecode decodes the encoded corpus.
func BenchmarkDecode(b *testing.B) {
	tk := mustNew(b, trainedConfig(b, "llama3", 2000))
	ids, err := tk.Encode(readCorpus(b), false, false)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tk.Decode(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
