package capacity

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/internal/testclock"
	"github.com/fomonet/fomo/runtime"
)

func TestSummarizeGPUs(t *testing.T) {
	tests := []struct {
		name string
		in   []gpu.Status
		want GPUSummary
	}{
		{"none", nil, GPUSummary{}},
		{"two sampled", []gpu.Status{
			{Device: gpu.Device{Name: "H100", MemoryTotalBytes: 80}, Sample: &gpu.Sample{UtilizationPercent: 50, MemoryFreeBytes: 30}},
			{Device: gpu.Device{Name: "H100", MemoryTotalBytes: 80}, Sample: &gpu.Sample{UtilizationPercent: 100, MemoryFreeBytes: 80}},
		}, GPUSummary{Count: 2, Name: "H100", MemoryTotalBytes: 160, MemoryFreeBytes: 110, UtilizationPercent: 75}},
		{"unsampled counts as free", []gpu.Status{{Device: gpu.Device{Name: "A", MemoryTotalBytes: 8}}},
			GPUSummary{Count: 1, Name: "A", MemoryTotalBytes: 8, MemoryFreeBytes: 8}},
		{"bad sample clamped", []gpu.Status{{Device: gpu.Device{Name: "A", MemoryTotalBytes: 8}, Sample: &gpu.Sample{UtilizationPercent: 250, MemoryFreeBytes: 99}}},
			GPUSummary{Count: 1, Name: "A", MemoryTotalBytes: 8, MemoryFreeBytes: 8, UtilizationPercent: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SummarizeGPUs(tt.in)
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if err := check(Advert{Time: time.Now(), AdvertContent: AdvertContent{GPU: got}}); err != nil {
				t.Fatalf("summary does not pass advert checks: %v", err)
			}
		})
	}
}

// stepBackend serves n events per request; every Recv moves the clock by
// step.
type stepBackend struct {
	clk  *testclock.Clock
	n    int
	step time.Duration
	err  error
}

func (b *stepBackend) Do(context.Context, *runtime.Request) (runtime.Stream, error) {
	if b.err != nil {
		return nil, b.err
	}
	return &stepStream{b: b}, nil
}

type stepStream struct {
	b    *stepBackend
	sent int
}

func (s *stepStream) Recv() (runtime.Event, error) {
	if s.sent == s.b.n {
		return runtime.Event{}, io.EOF
	}
	s.b.clk.Advance(s.b.step)
	s.sent++
	return runtime.Event{Data: []byte("x")}, nil
}
func (s *stepStream) Usage() runtime.Usage         { return runtime.Usage{CompletionTokens: int64(s.sent)} }
func (s *stepStream) Finish() runtime.FinishReason { return runtime.FinishStop }
func (s *stepStream) Close() error                 { return nil }

func TestMeter(t *testing.T) {
	clk := testclock.New(time.Now())
	m := NewMeter(WithMeterClock(clk.Now))
	be := &stepBackend{clk: clk, n: 10, step: 100 * time.Millisecond} // 10 tokens/s
	wrapped := m.Wrap(be)
	req := &runtime.Request{API: runtime.APIChat, Model: "m"}

	s1, err := wrapped.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := wrapped.Do(context.Background(), req)
	if q, tps := m.Capacity("m"); q != 2 || tps != 0 {
		t.Fatalf("two in flight: queue %d tps %d", q, tps)
	}
	for {
		if _, err := s1.Recv(); err != nil {
			break
		}
	}
	_ = s1.Close()
	if q, tps := m.Capacity("m"); q != 1 || tps != 10_000 {
		t.Fatalf("after one request: queue %d tps %d, want 1 and 10000", q, tps)
	}
	// A cancelled request frees its slot and measures nothing.
	_, _ = s2.Recv()
	_ = s2.Close()
	_ = s2.Close()
	if q, tps := m.Capacity("m"); q != 0 || tps != 10_000 {
		t.Fatalf("after a cancel: queue %d tps %d", q, tps)
	}
	// A faster request moves the mean by a fifth of the difference.
	be.step = 50 * time.Millisecond // 20 tokens/s
	s3, _ := wrapped.Do(context.Background(), req)
	for {
		if _, err := s3.Recv(); err != nil {
			break
		}
	}
	if _, tps := m.Capacity("m"); tps != 12_000 {
		t.Fatalf("tps %d, want 12000", tps)
	}
	be.err = errors.New("down")
	if _, err := wrapped.Do(context.Background(), req); err == nil {
		t.Fatal("error not passed through")
	}
	if q, _ := m.Capacity("m"); q != 0 {
		t.Fatalf("a failed request left queue %d", q)
	}
	if got := m.Models(); len(got) != 1 || got[0] != "m" {
		t.Fatalf("Models() = %v", got)
	}
}
