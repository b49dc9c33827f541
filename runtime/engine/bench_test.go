package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/fomonet/fomo/internal/cputime"
	"github.com/fomonet/fomo/runtime/engine/gguf"
	"github.com/fomonet/fomo/runtime/engine/synth"
)

// benchModel writes a synthetic model once per process.
func benchModel(b *testing.B, preset string, typ gguf.Type) string {
	b.Helper()
	path := filepath.Join(testDir, fmt.Sprintf("%s-%s.gguf", preset, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := synth.Generate(synth.Options{Preset: preset, Type: typ, Seed: 1}, f); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// loadBench loads the synthetic model of preset and typ with threads
// workers; it is closed when b ends.
func loadBench(b *testing.B, preset string, typ gguf.Type, threads int) *Model {
	b.Helper()
	m, err := LoadFile(benchModel(b, preset, typ), threads)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// reportCPU reports the process's CPU time per token since start (all
// threads; 0 where it cannot be read): on a shared machine it varies less
// than the elapsed time, which includes the time other processes held the
// cores.
func reportCPU(b *testing.B, start time.Duration, tokens int) {
	b.Helper()
	if start == 0 || tokens == 0 {
		return
	}
	b.ReportMetric(float64(cputime.Process()-start)/1e3/float64(tokens), "cpu-µs/tok")
}

// benchDecode decodes one token per op, at a context depth of at most 256,
// reports tokens/s, CPU time per token and the weight bytes read per token,
// and returns tokens/s.
func benchDecode(b *testing.B, m *Model) float64 {
	b.Helper()
	seq := m.NewSequence(0)
	tok := []int32{1}
	if _, err := seq.Forward(tok); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cputime.Process()
	for b.Loop() {
		if seq.Len() >= 256 { // decode at a moderate context depth
			seq.Truncate(1)
		}
		logits, err := seq.Forward(tok)
		if err != nil {
			b.Fatal(err)
		}
		tok[0] = argmax(logits)
	}
	reportCPU(b, cpu, b.N)
	tps := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(tps, "tok/s")
	b.ReportMetric(float64(m.WeightBytesPerToken())/1e6, "MB/tok")
	return tps
}

// benchPrefill evaluates a prompt of n tokens per op and reports tokens/s
// and CPU time per token.
func benchPrefill(b *testing.B, m *Model, n int) {
	b.Helper()
	prompt := make([]int32, n)
	for i := range prompt {
		prompt[i] = int32(i*37%2000 + 3)
	}
	seq := m.NewSequence(0)
	cpu := cputime.Process()
	for b.Loop() {
		seq.Truncate(0)
		if _, err := seq.Forward(prompt); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu, b.N*len(prompt))
	b.ReportMetric(float64(b.N*len(prompt))/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkDecode measures single-sequence decode speed: one op is one
// token through the whole network, logits included. It reports tokens/s,
// the weight bytes read per token and the bandwidth that implies; compare
// the latter with BenchmarkMemBandwidth. Set -cpu to choose the thread count.
//
//	go test -run XXX -bench 'Decode|MemBandwidth' ./runtime/engine/
func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		preset string
		typ    gguf.Type
	}{
		{"small", gguf.F32},
		{"small", gguf.Q8_0},
		{"small", gguf.Q4_K},
		{"smollm-135m", gguf.Q8_0},
		{"smollm-135m", gguf.Q4_K},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/%s", c.preset, c.typ), func(b *testing.B) {
			if c.preset == "smollm-135m" && testing.Short() {
				b.Skip("large model skipped in -short mode")
			}
			m := loadBench(b, c.preset, c.typ, runtime.GOMAXPROCS(0))
			tps := benchDecode(b, m)
			b.ReportMetric(tps*float64(m.WeightBytesPerToken())/1e9, "GB/s")
		})
	}
}

// BenchmarkPrefill measures prompt evaluation in batches of MaxBatch: 128
// tokens on the small preset, 64 on the smollm-135m shape. Set -cpu to
// choose the thread count.
func BenchmarkPrefill(b *testing.B) {
	cases := []struct {
		preset string
		typ    gguf.Type
		tokens int
	}{
		{"small", gguf.Q8_0, 128},
		{"small", gguf.Q4_K, 128},
		{"smollm-135m", gguf.Q8_0, 64},
		{"smollm-135m", gguf.Q4_K, 64},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/%s", c.preset, c.typ), func(b *testing.B) {
			if c.preset == "smollm-135m" && testing.Short() {
				b.Skip("large model skipped in -short mode")
			}
			benchPrefill(b, loadBench(b, c.preset, c.typ, runtime.GOMAXPROCS(0)), c.tokens)
		})
	}
}

// BenchmarkModel is the benchmark of record: for the smollm-135m shape in
// F32, Q8_0 and Q4_K, with 1 thread and with one per CPU, it measures prefill of
// a 512-token prompt and decode, and relates decode to the bound set by
// the machine's memory read bandwidth, measured in the same process with
// as many threads (bound = bandwidth ÷ weight bytes per token). The thread
// count is part of the name; -cpu does not change it.
//
//	go test -run '^$' -bench Model ./runtime/engine/
func BenchmarkModel(b *testing.B) {
	threadCounts := []int{1}
	if n := runtime.NumCPU(); n > 1 {
		threadCounts = append(threadCounts, n)
	}
	for _, typ := range []gguf.Type{gguf.F32, gguf.Q8_0, gguf.Q4_K} {
		for _, threads := range threadCounts {
			name := fmt.Sprintf("smollm-135m/%s/threads=%d", typ, threads)
			b.Run(name+"/prefill512", func(b *testing.B) {
				benchPrefill(b, loadBench(b, "smollm-135m", typ, threads), 512)
			})
			b.Run(name+"/decode", func(b *testing.B) {
				m := loadBench(b, "smollm-135m", typ, threads)
				bw := readBandwidth(threads)
				tps := benchDecode(b, m)
				bound := bw / float64(m.WeightBytesPerToken())
				b.ReportMetric(bw/1e9, "bw_GB/s")
				b.ReportMetric(bound, "bound_tok/s")
				b.ReportMetric(100*tps/bound, "%bound")
			})
		}
	}
}

var (
	bwMu    sync.Mutex
	bwCache = map[int]float64{}
)

// readBandwidth returns the best of a few timed parallel reads of a buffer
// much larger than the caches with threads goroutines, in bytes per second.
// It is measured once per thread count and process.
func readBandwidth(threads int) float64 {
	bwMu.Lock()
	defer bwMu.Unlock()
	if v, ok := bwCache[threads]; ok {
		return v
	}
	src := bwBuf()
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&src[0])), bwSize/8)
	sums := make([]uint64, threads*8)
	best := 0.0
	for range 10 {
		start := time.Now()
		readWords(words, threads, sums)
		if v := bwSize / time.Since(start).Seconds(); v > best {
			best = v
		}
	}
	bwCache[threads] = best
	return best
}

// readWords sums words split over threads goroutines.
func readWords(words []uint64, threads int, sums []uint64) {
	var wg sync.WaitGroup
	per := len(words) / threads
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s0, s1, s2, s3 uint64
			part := words[t*per : (t+1)*per]
			for i := 0; i+4 <= len(part); i += 4 {
				s0 += part[i]
				s1 += part[i+1]
				s2 += part[i+2]
				s3 += part[i+3]
			}
			sums[t*8] = s0 + s1 + s2 + s3
		}()
	}
	wg.Wait()
}

const bwSize = 256 << 20

var bwBuf = sync.OnceValue(func() []byte {
	buf := make([]byte, bwSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	return buf
})

// BenchmarkMemBandwidth measures the machine's memory bandwidth on a
// buffer much larger than the caches: "copy" copies it (bytes counted once
// per byte copied) and "read" sums it with GOMAXPROCS goroutines, which is
// the access pattern of decoding. Decode speed is bounded by
// read GB/s ÷ (MB/tok of BenchmarkDecode).
func BenchmarkMemBandwidth(b *testing.B) {
	src := bwBuf()
	b.Run("copy", func(b *testing.B) {
		dst := make([]byte, bwSize)
		b.SetBytes(bwSize)
		for b.Loop() {
			copy(dst, src)
		}
	})
	b.Run("read", func(b *testing.B) {
		threads := runtime.GOMAXPROCS(0)
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&src[0])), bwSize/8)
		sums := make([]uint64, threads*8)
		b.SetBytes(bwSize)
		for b.Loop() {
			readWords(words, threads, sums)
		}
	})
}

// BenchmarkPoolRun measures the fixed cost of one parallel loop: the
// hand-off to the workers and the wait for them, on near-empty work.
func BenchmarkPoolRun(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			p := newPool(threads)
			defer p.close()
			var sink [64]atomic.Int64
			for b.Loop() {
				p.run(16, 1, func(_, lo, hi int) { sink[lo%8*8].Add(1) })
			}
		})
	}
}
