package main

import (
	"fmt"
	"slices"
	"strings"
)

// Package is what the checker needs of one entry of `go list -deps -json`.
type Package struct {
	ImportPath string
	Imports    []string // of the non-test files
	Standard   bool
	DepOnly    bool // a dependency, not a package of the patterns listed
}

// Checker compares a module's packages with its table.
type Checker struct {
	Module    string // module path, e.g. github.com/fomonet/fomo
	TableName string // where the table lives, for the messages
	Table     *Table
}

// leaves import nothing of the module outside their own tree.
var leaves = []string{"gpu", "settle/receipt", "settle/econ"}

// deterministic packages import no network package (directly).
var deterministic = []string{"settle/ledger", "settle/econ"}

// networkImports are the network packages deterministic packages may not import.
var networkImports = []string{"net/...", "github.com/libp2p/go-libp2p/...", "github.com/libp2p/go-libp2p-kad-dht/...", "github.com/libp2p/go-libp2p-pubsub/..."}

// economics is what p2p never learns, not even through another package.
var economics = []string{"settle/econ/...", "settle/ledger/..."}

// lightClient is the command-line client, which must not link the chain's
// engine.
const lightClient = "cmd/fomo/internal/cli"

var chainEngine = []string{"github.com/cometbft/cometbft/..."}

// Check returns one message per forbidden import, package missing from the
// table and broken rule, sorted; none means the module keeps to its table.
// pkgs is the output of `go list -deps` over the module's packages.
func (c *Checker) Check(pkgs []Package) []string {
	graph := map[string][]string{}
	for _, p := range pkgs {
		graph[p.ImportPath] = p.Imports
	}
	var out []string
	for _, p := range pkgs {
		rel, ok := c.rel(p.ImportPath)
		if !ok || p.DepOnly {
			continue
		}
		row, ok := c.Table.Lookup(rel)
		if !ok {
			out = append(out, fmt.Sprintf("package %s is not in %s's table", rel, c.TableName))
		}
		for _, imp := range p.Imports {
			irel, internal := c.rel(imp)
			if !internal {
				if under(rel, deterministic) && matchAny(networkImports, imp) {
					out = append(out, fmt.Sprintf("rule broken: %s is deterministic and imports no network package: %s → %s", rel, rel, imp))
				}
				continue
			}
			if ok && !row.Allows(irel) {
				out = append(out, fmt.Sprintf("forbidden import: %s → %s (%s may import: %s)", rel, irel, rel, row.AllowedList()))
			}
			for _, leaf := range leaves {
				if match(leaf+"/...", rel) && !match(leaf+"/...", irel) {
					out = append(out, fmt.Sprintf("rule broken: %s is a leaf and imports nothing of the module outside it: %s → %s", leaf, rel, irel))
				}
			}
		}
		if match("p2p/...", rel) {
			if path := c.pathTo(graph, p.ImportPath, func(dep string) bool {
				drel, ok := c.rel(dep)
				return ok && matchAny(economics, drel)
			}); path != nil {
				out = append(out, fmt.Sprintf("rule broken: p2p never learns economics: %s depends on %s (%s)", rel, c.show(path[len(path)-1]), c.chain(path)))
			}
		}
		if match(lightClient+"/...", rel) {
			if path := c.pathTo(graph, p.ImportPath, func(dep string) bool {
				return matchAny(chainEngine, dep)
			}); path != nil {
				out = append(out, fmt.Sprintf("rule broken: %s does not link the chain's engine: it depends on %s (%s)", rel, path[len(path)-1], c.chain(path)))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Edges counts the imports between the module's own packages.
func (c *Checker) Edges(pkgs []Package) (packages, edges int) {
	for _, p := range pkgs {
		if _, ok := c.rel(p.ImportPath); !ok || p.DepOnly {
			continue
		}
		packages++
		for _, imp := range p.Imports {
			if _, ok := c.rel(imp); ok {
				edges++
			}
		}
	}
	return packages, edges
}

// rel returns the module-relative path of an import path of the module.
func (c *Checker) rel(path string) (string, bool) {
	if path == c.Module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, c.Module+"/")
	return r, ok
}

func (c *Checker) show(path string) string {
	if r, ok := c.rel(path); ok {
		return r
	}
	return path
}

func (c *Checker) chain(path []string) string {
	s := make([]string, len(path))
	for i, p := range path {
		s[i] = c.show(p)
	}
	return strings.Join(s, " → ")
}

// pathTo returns the shortest import chain from start to a package that
// satisfies target (start excluded as a target), or nil.
func (c *Checker) pathTo(graph map[string][]string, start string, target func(string) bool) []string {
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, next := range graph[cur] {
			if _, seen := prev[next]; seen {
				continue
			}
			prev[next] = cur
			if target(next) {
				var path []string
				for p := next; p != ""; p = prev[p] {
					path = append(path, p)
				}
				slices.Reverse(path)
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}

func under(rel string, roots []string) bool {
	for _, r := range roots {
		if match(r+"/...", rel) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}
