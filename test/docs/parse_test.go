package docs

import (
	"strings"
	"testing"
)

func TestParseMarkdown(t *testing.T) {
	md := "# t\n" +
		"<!-- docs-test: bg=\"fomo devnet\" ready=\"^epoch \\d+ closed\" var=\"API:node0 api=(\\S+)\" sub=PORT:P skip=\"make test\" timeout=2m -->\n" +
		"```sh\n" +
		"fomo devnet --dir d   # runs\n" +
		"make test\n" +
		"\n" +
		"# a comment\n" +
		"curl -s http://127.0.0.1:PORT/v1/models \\\n" +
		"  -H 'x: y'\n" +
		"cat > m.toml <<'EOF'\n" +
		"name = \"x\"\n" +
		"EOF\n" +
		"```\n" +
		"```console\n" +
		"shown only\n" +
		"```\n"
	blocks, err := parseMarkdown("x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].info != "sh" || blocks[1].info != "console" {
		t.Fatalf("blocks: %+v", blocks)
	}
	d := blocks[0].dir
	if d.ready == nil || !d.ready.MatchString("epoch 12 closed at height 3") || len(d.vars) != 1 || d.vars[0].name != "API" || d.subs["PORT"] != "P" || d.timeout.String() != "2m0s" {
		t.Fatalf("directive: %+v", d)
	}
	cmds, err := blocks[0].commands()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.text)
	}
	if len(cmds) != 3 || !cmds[0].bg || cmds[1].bg || cmds[1].line != 8 || cmds[2].line != 10 || !strings.HasSuffix(cmds[2].text, "\nEOF") || !strings.Contains(cmds[1].text, "-H 'x: y'") {
		t.Fatalf("commands: %q", got)
	}
	if _, err := parseMarkdown("x.md", []byte("<!-- docs-test: bg=x -->\n```sh\nx\n```\n")); err == nil {
		t.Error("bg without ready: no error")
	}
	if _, err := parseMarkdown("x.md", []byte("<!-- docs-test: skip -->\ntext\n```sh\nx\n```\n")); err == nil {
		t.Error("a directive away from its block: no error")
	}
}
