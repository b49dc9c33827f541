package docs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// command is one command of a runnable block.
type command struct {
	file string
	line int
	text string
	// bg, ready: run in the background until ready matches its output.
	bg      bool
	ready   *regexp.Regexp
	newLine bool
}

// block is a fenced block of a markdown file with its directive.
type block struct {
	file  string
	line  int // the fence's line
	info  string
	lines []string // the block's lines, without the fences
	dir   directive
}

// directive is the parsed <!-- docs-test: … --> comment before a block.
type directive struct {
	skip     bool
	skipCmds []string
	bg       []string
	ready    *regexp.Regexp
	newLine  bool
	stop     []string
	vars     []varSpec
	subs     map[string]string // placeholder word → variable name
	timeout  time.Duration
}

type varSpec struct {
	name string
	re   *regexp.Regexp
}

const defaultTimeout = 3 * time.Minute

var directiveRE = regexp.MustCompile(`^\s*<!--\s*docs-test:(.*?)-->\s*$`)

// parseMarkdown returns the fenced blocks of a markdown file.
func parseMarkdown(file string, data []byte) ([]block, error) {
	var (
		blocks  []block
		cur     *block
		pending *directive
		fence   string
	)
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		n := i + 1
		if cur != nil {
			if strings.TrimSpace(l) == fence {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, l)
			continue
		}
		if m := directiveRE.FindStringSubmatch(l); m != nil {
			d, err := parseDirective(m[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, n, err)
			}
			pending = &d
			continue
		}
		t := strings.TrimLeft(l, " ")
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = strings.Repeat(t[:1], 3)
			cur = &block{file: file, line: n, info: strings.TrimSpace(t[3:])}
			if pending != nil {
				cur.dir = *pending
			}
			pending = nil
			continue
		}
		if pending != nil && strings.TrimSpace(l) != "" {
			return nil, fmt.Errorf("%s:%d: a docs-test directive must come right before a fenced block", file, n-1)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unclosed fenced block", file, cur.line)
	}
	return blocks, nil
}

// parseDirective parses the key[=value] fields of a directive.
func parseDirective(s string) (directive, error) {
	d := directive{subs: map[string]string{}}
	s = strings.TrimSpace(s)
	for s != "" {
		key, rest, _ := strings.Cut(s, "=")
		var val string
		if i := strings.IndexAny(key, " \t"); i >= 0 {
			// a bare key
			key, rest = key[:i], s[i:]
		} else if key == s {
			rest = ""
		} else {
			var err error
			val, rest, err = parseValue(rest)
			if err != nil {
				return d, fmt.Errorf("docs-test %s: %v", key, err)
			}
		}
		s = strings.TrimSpace(rest)
		switch key {
		case "skip":
			if val == "" {
				d.skip = true
			} else {
				d.skipCmds = append(d.skipCmds, val)
			}
		case "bg":
			d.bg = append(d.bg, val)
		case "new":
			d.newLine = true
		case "stop":
			d.stop = append(d.stop, val)
		case "ready":
			re, err := regexp.Compile(val)
			if err != nil {
				return d, fmt.Errorf("docs-test ready: %v", err)
			}
			d.ready = re
		case "var":
			name, expr, ok := strings.Cut(val, ":")
			if !ok {
				return d, fmt.Errorf("docs-test var=%q: want NAME:REGEXP", val)
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return d, fmt.Errorf("docs-test var %s: %v", name, err)
			}
			d.vars = append(d.vars, varSpec{name: name, re: re})
		case "sub":
			i := strings.LastIndex(val, ":")
			if i < 0 {
				return d, fmt.Errorf("docs-test sub=%q: want WORD:NAME", val)
			}
			d.subs[val[:i]] = val[i+1:]
		case "timeout":
			t, err := time.ParseDuration(val)
			if err != nil {
				return d, fmt.Errorf("docs-test timeout: %v", err)
			}
			d.timeout = t
		default:
			return d, fmt.Errorf("docs-test: unknown key %q", key)
		}
	}
	if len(d.bg) > 0 && d.ready == nil {
		return d, errors.New("docs-test: bg needs ready=REGEXP")
	}
	return d, nil
}

// parseValue reads a value at the start of s: up to the next blank, or
// between double (or single) quotes, taken as they are: "^epoch \d+ closed".
func parseValue(s string) (val, rest string, err error) {
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return "", "", fmt.Errorf("unclosed quote in %s", s)
		}
		return s[1 : 1+end], s[2+end:], nil
	}
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:], nil
	}
	return s, "", nil
}

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// commands splits a runnable block into commands: a line with its
// continuation lines, or with the body of its here-document. Blank lines
// and comment lines are left out.
func (b block) commands() ([]command, error) {
	var cmds []command
	for i := 0; i < len(b.lines); i++ {
		l := b.lines[i]
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := command{file: b.file, line: b.line + 1 + i}
		text := l
		for strings.HasSuffix(strings.TrimRight(text, " "), `\`) && i+1 < len(b.lines) {
			i++
			text += "\n" + b.lines[i]
		}
		if m := heredocRE.FindStringSubmatch(text); m != nil {
			for {
				i++
				if i >= len(b.lines) {
					return nil, fmt.Errorf("%s:%d: here-document without its %s line", b.file, c.line, m[1])
				}
				text += "\n" + b.lines[i]
				if strings.TrimSpace(b.lines[i]) == m[1] {
					break
				}
			}
		}
		t = strings.TrimSpace(text)
		if hasPrefix(t, b.dir.skipCmds) {
			continue
		}
		c.text = text
		if hasPrefix(t, b.dir.bg) {
			c.bg, c.ready, c.newLine = true, b.dir.ready, b.dir.newLine
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func hasPrefix(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// buffer collects a process's output for several goroutines.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// background is a running background command.
type background struct {
	cmd  command
	proc *exec.Cmd
	out  *buffer
	done chan struct{}
	err  error
}

// runner runs the commands of the docs in a fresh copy of the repository.
type runner struct {
	t     *testing.T
	dir   string // the copy's root
	env   []string
	vars  map[string]string
	state string          // the shell's variables and directory between commands
	seen  map[string]bool // the lines that stopped background commands printed
	bgs   []*background
}

func TestDocs(t *testing.T) {
	if os.Getenv("FOMO_DOCS_TEST") != "1" {
		t.Skip("FOMO_DOCS_TEST=1 runs the documented commands (make docs-test)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range docs {
		files = append(files, filepath.Join("docs", filepath.Base(f)))
	}
	if only := os.Getenv("FOMO_DOCS_FILES"); only != "" {
		files = strings.Fields(only)
	}

	r := newRunner(t, root)
	for _, f := range files {
		r.runFile(f)
	}
}

// newRunner copies the repository's files (tracked, and untracked ones git
// does not ignore) into a temporary directory and builds bin/fomo there.
func newRunner(t *testing.T, root string) *runner {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "fomo")
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link or submodule
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	// Keep Go's caches where they are: HOME changes below.
	goenv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	gv := strings.Split(strings.TrimSpace(string(goenv)), "\n")
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "FOMO_DOCS_TEST" || k == "FOMO_DOCS_FILES" || k == "HOME" || k == "PATH" || strings.HasPrefix(k, "FOMO_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOCACHE="+gv[0], "GOMODCACHE="+gv[1], "GOPATH="+gv[2],
	)
	r := &runner{t: t, dir: dir, env: env, vars: map[string]string{}, seen: map[string]bool{}, state: filepath.Join(tmp, "shell.state")}
	start := time.Now()
	if out, err := r.shell(command{file: "(setup)", text: "make build"}, 10*time.Minute); err != nil {
		t.Fatalf("make build in %s: %v\n%s", dir, err, out)
	}
	t.Logf("copied the repository to %s and built bin/fomo in %s", dir, time.Since(start).Round(time.Second))
	return r
}

// runFile runs the runnable blocks of one file, then stops its background
// commands.
func (r *runner) runFile(file string) {
	t := r.t
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseMarkdown(file, data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop(func(command) bool { return true })
	for _, b := range blocks {
		if b.info != "sh" || b.dir.skip {
			continue
		}
		for _, p := range b.dir.stop {
			r.stop(func(c command) bool { return strings.HasPrefix(strings.TrimSpace(c.text), p) })
		}
		cmds, err := b.commands()
		if err != nil {
			t.Fatal(err)
		}
		matched := map[string]bool{}
		for _, c := range cmds {
			c.text = r.substitute(c.text, b.dir.subs)
			timeout := b.dir.timeout
			if timeout == 0 {
				timeout = defaultTimeout
			}
			start := time.Now()
			var out string
			if c.bg {
				out = r.startBackground(c, timeout)
			} else {
				var err error
				out, err = r.shell(c, timeout)
				if err != nil {
					t.Fatalf("%s:%d: %s\n%v after %s; output:\n%s", c.file, c.line, c.text, err, time.Since(start).Round(time.Millisecond), out)
				}
			}
			t.Logf("%s:%d: %s (%s)", c.file, c.line, firstLine(c.text), time.Since(start).Round(time.Millisecond))
			for _, v := range b.dir.vars {
				if m := v.re.FindStringSubmatch(out); len(m) > 1 {
					r.setVar(v.name, m[1])
					matched[v.name] = true
				}
			}
		}
		for _, v := range b.dir.vars {
			if !matched[v.name] {
				t.Fatalf("%s:%d: no output of the block matched var %s (%s)", b.file, b.line, v.name, v.re)
			}
		}
	}
}

func firstLine(s string) string {
	l, _, more := strings.Cut(s, "\n")
	if more {
		l += " …"
	}
	return l
}

// substitute replaces the block's placeholder words by their variables.
func (r *runner) substitute(text string, subs map[string]string) string {
	for word, name := range subs {
		val, ok := r.vars[name]
		if !ok {
			r.t.Fatalf("sub %s: variable %s is not set", word, name)
		}
		expr := regexp.QuoteMeta(word)
		if isWord(word[0]) {
			expr = `\b` + expr
		}
		if isWord(word[len(word)-1]) {
			expr += `\b`
		}
		re := regexp.MustCompile(expr)
		text = re.ReplaceAllLiteralString(text, val)
	}
	return text
}

func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// command returns the process of a command. Commands share what a reader's
// terminal keeps between them: variables (every assignment is exported) and
// the working directory are saved to r.state after each foreground command
// and restored before the next, along with the variables of directives.
func (r *runner) command(c command) *exec.Cmd {
	var script strings.Builder
	fmt.Fprintf(&script, "set -a\nif [ -f %[1]s ]; then . %[1]s; fi\n", shellQuote(r.state))
	script.WriteString(c.text + "\n")
	if !c.bg {
		fmt.Fprintf(&script, "__rc=$?\n{ declare -px | grep -Ev '^declare -[a-zA-Z-]*r|^declare -x (PWD|OLDPWD|SHLVL|_|__rc)='; echo \"cd $(printf %%q \"$PWD\")\"; } > %s\nexit $__rc\n", shellQuote(r.state))
	}
	cmd := exec.Command("bash", "-o", "pipefail", "-c", script.String())
	cmd.Dir = r.dir
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// setVar sets a variable of the later commands: it is appended to the
// shell's saved state, so that a later assignment in the docs overrides it.
func (r *runner) setVar(name, val string) {
	r.vars[name] = val
	f, err := os.OpenFile(r.state, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "export %s=%s\n", name, shellQuote(val))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.t.Fatalf("saving variable %s: %v", name, err)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shell runs a command to its end, or kills its process group at timeout.
func (r *runner) shell(c command, timeout time.Duration) (string, error) {
	cmd := r.command(c)
	var out buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("timed out after %s", timeout)
	}
}

// startBackground starts a background command and waits until a line of its
// output matches its ready expression; it returns the output so far.
func (r *runner) startBackground(c command, timeout time.Duration) string {
	t := r.t
	bg := &background{cmd: c, proc: r.command(c), out: &buffer{}, done: make(chan struct{})}
	bg.proc.Stdout, bg.proc.Stderr = bg.out, bg.out
	if err := bg.proc.Start(); err != nil {
		t.Fatalf("%s:%d: %s: %v", c.file, c.line, c.text, err)
	}
	go func() { bg.err = bg.proc.Wait(); close(bg.done) }()
	r.bgs = append(r.bgs, bg)
	deadline := time.After(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out := bg.out.String()
		if r.matchLine(c.ready, out, c.newLine) {
			return out
		}
		select {
		case <-bg.done:
			t.Fatalf("%s:%d: %s\nexited (%v) before printing a line matching %q; output:\n%s", c.file, c.line, c.text, bg.err, c.ready, bg.out.String())
		case <-deadline:
			t.Fatalf("%s:%d: %s\nno line matching %q within %s; output:\n%s", c.file, c.line, c.text, c.ready, timeout, tail(bg.out.String(), 200))
		case <-tick.C:
		}
	}
}

// matchLine says whether a line of out matches re and, with newLine, was
// not printed by an earlier background command: a devnet started again over
// the same directory first prints the epochs closed before, and only a new
// one shows that the network runs again.
func (r *runner) matchLine(re *regexp.Regexp, out string, newLine bool) bool {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); re.MatchString(l) && !(newLine && r.seen[l]) {
			return true
		}
	}
	return false
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// stop interrupts the background commands that match, as Ctrl-C does, the
// last started first, and waits for each to exit.
func (r *runner) stop(match func(command) bool) {
	var keep []*background
	for i := len(r.bgs) - 1; i >= 0; i-- {
		bg := r.bgs[i]
		if !match(bg.cmd) {
			keep = append([]*background{bg}, keep...)
			continue
		}
		start := time.Now()
		pgid := bg.proc.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGINT)
		// Wait for the whole process group, not only the shell: make's
		// children (fomo devnet and its nodes) shut down after it.
		deadline := time.Now().Add(2 * time.Minute)
		for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if syscall.Kill(-pgid, 0) == nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			r.t.Errorf("%s:%d: %s: still running 2m after SIGINT; killed. Output:\n%s", bg.cmd.file, bg.cmd.line, bg.cmd.text, tail(bg.out.String(), 100))
		}
		<-bg.done
		for _, l := range strings.Split(bg.out.String(), "\n") {
			r.seen[l] = true
		}
		r.t.Logf("%s:%d: stopped %s (%s); its last lines:\n%s", bg.cmd.file, bg.cmd.line, firstLine(bg.cmd.text), time.Since(start).Round(time.Millisecond), tail(strings.TrimRight(bg.out.String(), "\n"), 15))
	}
	r.bgs = keep
}
