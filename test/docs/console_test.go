package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleBlocksSayWhy checks that every `console` block of README.md and
// docs/*.md, a block of commands that make docs-test does not run, has on the
// line before its fence a comment that says why:
//
//	<!-- shown only: needs root and systemd as PID 1 -->
func TestConsoleBlocksSayWhy(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseMarkdown(f, data)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for _, b := range blocks {
			if b.info != "console" {
				continue
			}
			prev := ""
			if b.line >= 2 {
				prev = strings.TrimSpace(lines[b.line-2])
			}
			if !strings.HasPrefix(prev, "<!-- shown only:") || !strings.HasSuffix(prev, "-->") {
				t.Errorf("%s:%d: a console block is not run by make docs-test: say why on the line before it (<!-- shown only: REASON -->), or make it an sh block", f, b.line)
			}
		}
	}
}
