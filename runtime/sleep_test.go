package runtime

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if err := Sleep(t.Context(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
	if err := Sleep(ctx, 0); err != context.Canceled {
		t.Fatalf("cancelled, no wait: %v", err)
	}
}
