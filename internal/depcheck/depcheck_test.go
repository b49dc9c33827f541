package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "example.com/m"

const synthetic = `# Example

## Layers

Text, and a table that is not the one:

| package | may import |
|---|---|
| ` + "`nope`" + ` | everything |

## Packages

| package | owns | may import | note |
|---|---|---|---|
| ` + "`node`" + ` | root | everything | |
| ` + "`p2p/...`" + ` | network | ` + "`p2p/...`, `gpu`" + ` | |
| ` + "`p2p/infer`" + ` | protocol | ` + "`p2p`, `settle/receipt`" + ` | |
| ` + "`gpu`" + ` | devices | stdlib | |
| ` + "`settle/receipt`" + ` | receipts | ` + "`settle/receipt/pb`" + ` | |
| ` + "`settle/receipt/pb`" + ` | generated | stdlib | |
| ` + "`settle/econ`" + ` | math | stdlib | |
| ` + "`settle/ledger`" + ` | state | ` + "`settle/econ`" + ` | |
| ` + "`cmd/fomo/internal/cli`" + ` | client | ` + "`settle/ledger`, `node`" + ` | |

## Request path
`

func pkg(path string, imports ...string) Package {
	full := make([]string, len(imports))
	for i, imp := range imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") || isStd(imp) {
			full[i] = imp
		} else {
			full[i] = mod + "/" + imp
		}
	}
	if !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") && !isStd(path) {
		path = mod + "/" + path
	}
	return Package{ImportPath: path, Imports: full, Standard: isStd(path)}
}

func isStd(p string) bool { return p == "net" || p == "net/http" || p == "fmt" }

func dep(p Package) Package { p.DepOnly = true; return p }

func checker(t *testing.T) *Checker {
	t.Helper()
	tab, err := ParseTable(strings.NewReader(synthetic))
	if err != nil {
		t.Fatal(err)
	}
	return &Checker{Module: mod, TableName: "arch.md", Table: tab}
}

func TestParseTable(t *testing.T) {
	tab := checker(t).Table
	if len(tab.Rows) != 9 {
		t.Fatalf("%d rows, want 9 (the table under ## Packages only)", len(tab.Rows))
	}
	r, ok := tab.Lookup("p2p/capacity")
	if !ok || r.Package != "p2p/..." {
		t.Fatalf("p2p/capacity → row %q %v, want p2p/...", r.Package, ok)
	}
	if r, _ := tab.Lookup("p2p/infer"); r.Package != "p2p/infer" {
		t.Fatalf("p2p/infer → row %q, want its own", r.Package)
	}
	if r, _ := tab.Lookup("p2p"); r.Package != "p2p/..." {
		t.Fatalf("p2p → row %q, want p2p/...", r.Package)
	}
	if _, ok := tab.Lookup("p2pextra"); ok {
		t.Fatal("p2p/... covered p2pextra")
	}
}

func TestParseTableErrors(t *testing.T) {
	head := "## Packages\n\n| package | owns | may import |\n|---|---|---|\n"
	for name, tc := range map[string]struct{ text, want string }{
		"no section":    {"# x\n\n| package | may import |\n|---|---|\n| a | stdlib |\n", "no package table"},
		"no column":     {"## Packages\n\n| package | owns |\n|---|---|\n| a | b |\n", `"may import"`},
		"bad word":      {head + "| `a` | x | the stdlib |\n", `a may import "the stdlib"`},
		"duplicate":     {head + "| `a` | x | stdlib |\n| `a` | y | stdlib |\n", "already in the table"},
		"unknown":       {head + "| `a` | x | `b` |\n", "a may import b, which is no package of the table"},
		"short row":     {head + "| `a` | x |\n", "2 cells"},
		"bad package":   {head + "| `A b` | x | stdlib |\n", "not a module-relative package"},
		"trailing text": {head + "| `a` | x | `b/...` |\n\n| `b` | y | stdlib |\n", "a may import b/..., which is no package"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTable(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkgs []Package
		want []string
	}{
		{"allowed edge", []Package{pkg("settle/ledger", "settle/econ", "fmt", "github.com/ipfs/go-datastore"), pkg("settle/econ")}, nil},
		{"everything", []Package{pkg("node", "p2p", "settle/ledger", "gpu")}, nil},
		{"forbidden edge", []Package{pkg("settle/econ", "settle/ledger")}, []string{
			"forbidden import: settle/econ → settle/ledger (settle/econ may import: stdlib)",
			"rule broken: settle/econ is a leaf and imports nothing of the module outside it: settle/econ → settle/ledger",
		}},
		{"unknown package", []Package{pkg("x/y", "gpu")}, []string{
			"package x/y is not in arch.md's table",
		}},
		{"pattern p2p/...", []Package{pkg("p2p/capacity", "p2p", "p2p/capacity/pb", "gpu"), pkg("p2p/capacity/pb"), pkg("p2p")}, nil},
		{"pattern p2p/... forbids", []Package{pkg("p2p/capacity", "settle/receipt")}, []string{
			"forbidden import: p2p/capacity → settle/receipt (p2p/capacity may import: p2p/..., gpu)",
		}},
		{"exact row wins over pattern", []Package{pkg("p2p/infer", "gpu")}, []string{
			"forbidden import: p2p/infer → gpu (p2p/infer may import: p2p, settle/receipt)",
		}},
		{"leaf's own tree", []Package{pkg("settle/receipt", "settle/receipt/pb")}, nil},
		{"third party and stdlib are free", []Package{pkg("gpu", "github.com/NVIDIA/go-nvml/pkg/nvml", "fmt")}, nil},
		{"deterministic: network", []Package{pkg("settle/ledger", "net/http", "github.com/libp2p/go-libp2p/core/peer")}, []string{
			"rule broken: settle/ledger is deterministic and imports no network package: settle/ledger → github.com/libp2p/go-libp2p/core/peer",
			"rule broken: settle/ledger is deterministic and imports no network package: settle/ledger → net/http",
		}},
		{"p2p learns economics indirectly", []Package{
			pkg("p2p/infer", "settle/receipt"), pkg("settle/receipt", "settle/receipt/pb"), pkg("settle/receipt/pb", "settle/ledger"),
		}, []string{
			"forbidden import: settle/receipt/pb → settle/ledger (settle/receipt/pb may import: stdlib)",
			"rule broken: p2p never learns economics: p2p/infer depends on settle/ledger (p2p/infer → settle/receipt → settle/receipt/pb → settle/ledger)",
			"rule broken: settle/receipt is a leaf and imports nothing of the module outside it: settle/receipt/pb → settle/ledger",
		}},
		{"client links the chain's engine", []Package{
			pkg("cmd/fomo/internal/cli", "node"), pkg("node", "github.com/x/y"),
			dep(pkg("github.com/x/y", "github.com/cometbft/cometbft/types")), dep(pkg("github.com/cometbft/cometbft/types")),
		}, []string{
			"rule broken: cmd/fomo/internal/cli does not link the chain's engine: it depends on github.com/cometbft/cometbft/types (cmd/fomo/internal/cli → node → github.com/x/y → github.com/cometbft/cometbft/types)",
		}},
		{"client without the engine", []Package{
			pkg("cmd/fomo/internal/cli", "settle/ledger"), pkg("settle/ledger", "github.com/cometbft/cometbft-db"),
			dep(pkg("github.com/cometbft/cometbft-db")),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checker(t).Check(tc.pkgs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestModule checks this module against docs/architecture.md, as
// make check-deps does.
func TestModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH; run make check-deps instead")
	}
	problems, summary, err := run("../..", "docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Log(summary)
}
