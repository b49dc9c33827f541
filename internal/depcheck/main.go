// Command depcheck keeps the module's imports to the package table of
// docs/architecture.md ("## Packages": package | owns | may import). It
// lists the module's packages with `go list -deps -json ./...` and fails,
// naming each one, on
//
//   - an import between two of the module's packages that the importer's
//     row does not allow (imports of test files are not checked);
//   - a package of the module that no row covers;
//   - a broken rule: the leaves gpu, settle/receipt and settle/econ import
//     nothing of the module outside themselves; no p2p package depends,
//     even indirectly, on settle/econ or settle/ledger; settle/ledger and
//     settle/econ import no network package (net, net/http, go-libp2p);
//     cmd/fomo/internal/cli does not depend on github.com/cometbft/cometbft.
//
// Run it from the module root: go run ./internal/depcheck (make check-deps).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	table := flag.String("table", "docs/architecture.md", "the Markdown file holding the package table")
	dir := flag.String("C", ".", "the module's root directory")
	flag.Parse()
	problems, summary, err := run(*dir, *table)
	if err != nil {
		fmt.Fprintln(os.Stderr, "depcheck:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "depcheck: %d problem(s); fix the imports or, where the design changed, %s\n", len(problems), *table)
		os.Exit(1)
	}
	fmt.Println("depcheck:", summary)
}

// run checks the module in dir against the table in dir/tablePath.
func run(dir, tablePath string) (problems []string, summary string, err error) {
	path := tablePath
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	t, err := ParseTable(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", tablePath, err)
	}
	module, err := goList(dir, "list", "-m")
	if err != nil {
		return nil, "", err
	}
	out, err := goList(dir, "list", "-deps", "-json=ImportPath,Imports,Standard,DepOnly", "./...")
	if err != nil {
		return nil, "", err
	}
	pkgs, err := decode(strings.NewReader(out))
	if err != nil {
		return nil, "", err
	}
	c := &Checker{Module: strings.TrimSpace(module), TableName: tablePath, Table: t}
	n, edges := c.Edges(pkgs)
	return c.Check(pkgs), fmt.Sprintf("%d packages, %d imports between them, all allowed by %s", n, edges, tablePath), nil
}

func goList(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func decode(r io.Reader) ([]Package, error) {
	var pkgs []Package
	dec := json.NewDecoder(r)
	for {
		var p Package
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding go list: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}
