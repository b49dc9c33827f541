package synth

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/fomonet/fomo/runtime/engine/gguf"
)

// Types are the weight types a synthetic model can have.
var Types = []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeQ6_K}

// ParseType parses the name of one of [Types] (f32, f16, bf16, q8_0, q4_0,
// q4_k, q6_k), in any case. Its error starts with the quoted name, so that
// a caller can put the flag it came from in front.
func ParseType(s string) (gguf.Type, error) {
	var names []string
	for _, t := range Types {
		if strings.EqualFold(t.String(), s) {
			return t, nil
		}
		names = append(names, strings.ToLower(t.String()))
	}
	return 0, fmt.Errorf("%q: want one of %s", s, strings.Join(names, ", "))
}

// WriteFile generates a synthetic model into a temporary file in path's
// directory and renames it to path, so a reader never sees a half-written
// model: path is whole or absent.
func WriteFile(opts Options, path string) error { return WriteFileCounting(opts, path, nil) }

// WriteFileCounting is WriteFile that adds the bytes it writes to written
// (if not nil) as it goes, for a caller to report progress from.
func WriteFileCounting(opts Options, path string, written *atomic.Int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".synth-*.gguf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	if written != nil {
		w = countingWriter{tmp, written}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := Generate(opts, bw); err != nil {
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

// countingWriter adds what it writes to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
