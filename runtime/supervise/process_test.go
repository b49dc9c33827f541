package supervise

import (
	"log/slog"
	"os"
	"strings"
	"testing"
)

func TestReadLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	s := &Supervisor{log: slog.New(slog.DiscardHandler), name: "x", sink: func(stream, line string) { got = append(got, stream+":"+line) }}
	c := &child{pid: 1, tails: map[string]*tail{"stderr": {}}}
	long := strings.Repeat("a", maxLine+10)
	go func() {
		w.WriteString("first\r\n" + long + "\nno newline at end")
		w.Close()
	}()
	c.readers.Add(1)
	s.readLines(c, "stderr", r)
	r.Close()
	want := []string{"stderr:first", "stderr:" + long[:maxLine], "stderr:" + long[maxLine:], "stderr:no newline at end"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %d, want %d: %.80q", len(got), len(want), got)
	}
	if tl := c.tails["stderr"].get(); len(tl) != 4 || tl[3] != "no newline at end" {
		t.Fatalf("tail %.80q", tl)
	}
	for i := range 2 * tailLines {
		c.tails["stderr"].add(strings.Repeat("b", i))
	}
	if tl := c.tails["stderr"].get(); len(tl) != tailLines || tl[0] != strings.Repeat("b", tailLines) {
		t.Fatalf("tail keeps %d lines, first %q", len(tl), tl[0])
	}
}
