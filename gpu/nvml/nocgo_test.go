//go:build !cgo

package nvml

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/fomonet/fomo/gpu"
)

func TestOpenWithoutCgo(t *testing.T) {
	var buf bytes.Buffer
	src := Open(slog.New(slog.NewTextHandler(&buf, nil)))
	if got, want := src, (gpu.Null{Reason: "built without cgo"}); got != want {
		t.Errorf("Open = %#v, want %#v", got, want)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "no NVIDIA driver; serving on CPU") {
		t.Errorf("log = %q, want one WARN line", lines)
	}
}
