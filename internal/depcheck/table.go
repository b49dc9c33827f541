package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Words of the "may import" column besides package patterns.
const (
	wordStdlib     = "stdlib"     // no package of the module
	wordEverything = "everything" // any package of the module
)

// Row is one line of the package table.
type Row struct {
	Package    string   // module-relative path or pattern ("p2p/...")
	MayImport  []string // module-relative patterns
	Everything bool     // "everything": no restriction
	Line       int      // line in the table's file
}

// Allows reports whether the row lets its package import the
// module-relative package imp.
func (r Row) Allows(imp string) bool {
	if r.Everything {
		return true
	}
	for _, p := range r.MayImport {
		if match(p, imp) {
			return true
		}
	}
	return false
}

// AllowedList is the "may import" column as the error messages print it.
func (r Row) AllowedList() string {
	switch {
	case r.Everything:
		return wordEverything
	case len(r.MayImport) == 0:
		return wordStdlib
	}
	return strings.Join(r.MayImport, ", ")
}

// Table is the package table of docs/architecture.md.
type Table struct {
	Rows []Row
}

// Lookup returns the row of the module-relative package pkg: the row that
// names it exactly, else the "x/..." row with the longest x that covers it.
func (t *Table) Lookup(pkg string) (Row, bool) {
	var best Row
	found := false
	for _, r := range t.Rows {
		if r.Package == pkg {
			return r, true
		}
		if base, ok := strings.CutSuffix(r.Package, "/..."); ok && match(r.Package, pkg) {
			if !found || len(base) > len(strings.TrimSuffix(best.Package, "/...")) {
				best, found = r, true
			}
		}
	}
	return best, found
}

// match reports whether the module-relative package pkg matches pattern:
// the same path, or for "x/..." x itself or any package below it.
func match(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pattern == pkg
}

var patternRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*(/[a-z0-9_.-]+)*(/\.\.\.)?$`)

// ParseTable reads the table under the "## Packages" heading of a Markdown
// file: a header row naming the columns "package" and "may import", a
// separator row, then one row per package. Cells may quote paths in
// backticks; "may import" is a comma-separated list of module-relative
// package patterns, or "stdlib" (nothing of the module), or "everything".
func ParseTable(r io.Reader) (*Table, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		t                 Table
		line              int
		inSection, inRows bool
		pkgCol, importCol = -1, -1
		seen              = map[string]int{}
	)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "## ") {
			if inSection {
				break
			}
			inSection = strings.TrimSpace(strings.TrimPrefix(text, "## ")) == "Packages"
			continue
		}
		if !inSection {
			continue
		}
		if !strings.HasPrefix(text, "|") {
			if inRows {
				break // the table ended
			}
			continue
		}
		cells := splitRow(text)
		if pkgCol < 0 {
			for i, c := range cells {
				switch strings.ToLower(c) {
				case "package":
					pkgCol = i
				case "may import":
					importCol = i
				}
			}
			if pkgCol < 0 || importCol < 0 {
				return nil, fmt.Errorf("line %d: the table's header must name the columns \"package\" and \"may import\"", line)
			}
			continue
		}
		if !inRows {
			inRows = true // the separator row |---|---|
			continue
		}
		if len(cells) <= max(pkgCol, importCol) {
			return nil, fmt.Errorf("line %d: %d cells, want at least %d", line, len(cells), max(pkgCol, importCol)+1)
		}
		row := Row{Package: unquote(cells[pkgCol]), Line: line}
		if !patternRE.MatchString(row.Package) {
			return nil, fmt.Errorf("line %d: %q is not a module-relative package path or pattern", line, row.Package)
		}
		if prev, ok := seen[row.Package]; ok {
			return nil, fmt.Errorf("line %d: package %s is already in the table (line %d)", line, row.Package, prev)
		}
		seen[row.Package] = line
		for item := range strings.SplitSeq(cells[importCol], ",") {
			item = unquote(item)
			switch {
			case item == wordStdlib:
			case item == wordEverything:
				row.Everything = true
			case patternRE.MatchString(item):
				row.MayImport = append(row.MayImport, item)
			default:
				return nil, fmt.Errorf("line %d: %s may import %q: want module-relative package patterns, %q or %q", line, row.Package, item, wordStdlib, wordEverything)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no package table under a \"## Packages\" heading")
	}
	// Every pattern must reach a row, so that a typo does not pass as a
	// package that does not exist yet.
	for _, r := range t.Rows {
		for _, p := range r.MayImport {
			if !t.covers(p) {
				return nil, fmt.Errorf("line %d: %s may import %s, which is no package of the table", r.Line, r.Package, p)
			}
		}
	}
	return &t, nil
}

// covers reports whether pattern p names or overlaps a row's package.
func (t *Table) covers(p string) bool {
	base := strings.TrimSuffix(p, "/...")
	for _, r := range t.Rows {
		rb := strings.TrimSuffix(r.Package, "/...")
		if match(p, rb) || match(r.Package, base) || rb == base {
			return true
		}
	}
	return false
}

func splitRow(text string) []string {
	text = strings.TrimPrefix(strings.TrimSuffix(text, "|"), "|")
	cells := strings.Split(text, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func unquote(s string) string {
	return strings.Trim(strings.TrimSpace(s), "`")
}
