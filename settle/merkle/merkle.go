// Package merkle computes the receipts root of an epoch and proofs that one
// receipt id is under it.
//
// The tree is built over the ids sorted ascending and deduplicated. Leaves
// are sha256(0x00 ‖ id) and inner nodes sha256(0x01 ‖ left ‖ right); a level
// with an odd count carries its last node up unchanged (never duplicated).
// This is the tree of RFC 6962 §2.1: for n > 1 leaves and k the largest
// power of two below n, the root is H(0x01 ‖ root(first k) ‖ root(rest)),
// which is what lets [RootSorted] hash the halves on separate cores. The
// root of no ids is sha256 of the empty string.
//
// A [Proof] names the leaf's index and the tree's size, so a verifier
// replays the shape of the tree: the same path read at another position or
// against another root fails. (The size is not bound exactly: where a level
// carries its last node up, a larger size can give the same root.)
package merkle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

// Empty is the root of no ids.
var Empty = sha256.Sum256(nil)

// MaxDepth bounds a proof's path: a tree of at most 2^64 leaves.
const MaxDepth = 64

// Leaf returns the leaf hash of id.
func Leaf(id [32]byte) [32]byte {
	var buf [33]byte
	copy(buf[1:], id[:])
	return sha256.Sum256(buf[:])
}

// Node returns the inner node over left and right.
func Node(left, right [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// Root returns the root over ids in any order, duplicates counted once. It
// does not modify ids.
func Root(ids [][32]byte) [32]byte {
	s := slices.Clone(ids)
	SortIDs(s)
	return RootSorted(slices.Compact(s))
}

// SortIDs sorts ids ascending.
func SortIDs(ids [][32]byte) {
	slices.SortFunc(ids, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
}

// parallelMin is the smallest subtree worth hashing on its own goroutine.
const parallelMin = 1 << 14

// RootSorted returns the root over ids, which must be ascending and unique
// (see [Root] otherwise). Large trees are hashed on up to GOMAXPROCS cores;
// the result does not depend on how many.
func RootSorted(ids [][32]byte) [32]byte {
	if len(ids) == 0 {
		return Empty
	}
	return rootPar(ids, runtime.GOMAXPROCS(0))
}

func rootPar(ids [][32]byte, procs int) [32]byte {
	if procs < 2 || len(ids) < 2*parallelMin {
		return rootSeq(ids)
	}
	k := splitPoint(len(ids))
	var left [32]byte
	var wg sync.WaitGroup
	wg.Go(func() { left = rootPar(ids[:k], procs/2) })
	right := rootPar(ids[k:], procs-procs/2)
	wg.Wait()
	return Node(left, right)
}

// splitPoint is the largest power of two strictly below n (n > 1).
func splitPoint(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// rootSeq hashes level by level in one buffer.
func rootSeq(ids [][32]byte) [32]byte {
	level := make([][32]byte, len(ids))
	for i, id := range ids {
		level[i] = Leaf(id)
	}
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, Node(level[i], level[i+1]))
		}
		level = next
	}
	return level[0]
}

// Proof shows that a leaf is at Index of a tree of Count leaves: Path holds
// the sibling of each level where the node has one, from the leaf up.
type Proof struct {
	Index uint64
	Count uint64
	Path  [][32]byte
}

// Errors of [Prove] and [Proof.Verify].
var (
	ErrNotFound = errors.New("merkle: id is not in the tree")
	ErrMismatch = errors.New("merkle: proof does not lead to the root")
	ErrShape    = errors.New("merkle: malformed proof")
)

// Prove returns the proof for id in the tree over sorted (ascending and
// unique), or ErrNotFound.
func Prove(sorted [][32]byte, id [32]byte) (Proof, error) {
	i, ok := slices.BinarySearchFunc(sorted, id, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return Proof{}, ErrNotFound
	}
	p := Proof{Index: uint64(i), Count: uint64(len(sorted))}
	// Walk down from the root through the RFC 6962 split, collecting the
	// sibling subtree roots, then reverse to leaf-first order.
	lo, hi := 0, len(sorted)
	var path [][32]byte
	for hi-lo > 1 {
		k := splitPoint(hi - lo)
		if i < lo+k {
			path = append(path, RootSorted(sorted[lo+k:hi]))
			hi = lo + k
		} else {
			path = append(path, RootSorted(sorted[lo:lo+k]))
			lo += k
		}
	}
	slices.Reverse(path)
	p.Path = path
	return p, nil
}

// Verify reports whether p shows id under root.
func (p Proof) Verify(root, id [32]byte) error {
	got, err := p.root(id)
	if err != nil {
		return err
	}
	if got != root {
		return ErrMismatch
	}
	return nil
}

// root replays the tree's shape level by level: at index i of a level of n
// nodes the sibling is on the left when i is odd, on the right when i+1 < n,
// and absent (the node is carried up) otherwise.
func (p Proof) root(id [32]byte) ([32]byte, error) {
	if p.Count == 0 || p.Index >= p.Count {
		return [32]byte{}, fmt.Errorf("%w: index %d of %d leaves", ErrShape, p.Index, p.Count)
	}
	if len(p.Path) > MaxDepth {
		return [32]byte{}, fmt.Errorf("%w: %d siblings", ErrShape, len(p.Path))
	}
	h := Leaf(id)
	i, n, used := p.Index, p.Count, 0
	for n > 1 {
		switch {
		case i%2 == 1:
			if used == len(p.Path) {
				return [32]byte{}, fmt.Errorf("%w: %d siblings, the tree needs more", ErrShape, len(p.Path))
			}
			h = Node(p.Path[used], h)
			used++
		case i+1 < n:
			if used == len(p.Path) {
				return [32]byte{}, fmt.Errorf("%w: %d siblings, the tree needs more", ErrShape, len(p.Path))
			}
			h = Node(h, p.Path[used])
			used++
		}
		i, n = i/2, (n+1)/2
	}
	if used != len(p.Path) {
		return [32]byte{}, fmt.Errorf("%w: %d siblings, the tree has %d levels with one", ErrShape, len(p.Path), used)
	}
	return h, nil
}

// proofJSON is the wire form of a Proof: hashes in hex.
type proofJSON struct {
	Index uint64   `json:"index"`
	Count uint64   `json:"count"`
	Path  []string `json:"path"`
}

// MarshalJSON writes {"index","count","path":[hex…]}.
func (p Proof) MarshalJSON() ([]byte, error) {
	j := proofJSON{Index: p.Index, Count: p.Count, Path: make([]string, len(p.Path))}
	for i, h := range p.Path {
		j.Path[i] = hex.EncodeToString(h[:])
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes, naming the bad field.
func (p *Proof) UnmarshalJSON(b []byte) error {
	var j proofJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("merkle: proof: %w", err)
	}
	if len(j.Path) > MaxDepth {
		return fmt.Errorf("%w: path has %d hashes, at most %d", ErrShape, len(j.Path), MaxDepth)
	}
	out := Proof{Index: j.Index, Count: j.Count, Path: make([][32]byte, len(j.Path))}
	for i, s := range j.Path {
		h, err := ParseHash(s)
		if err != nil {
			return fmt.Errorf("merkle: proof: path[%d]: %w", i, err)
		}
		out.Path[i] = h
	}
	*p = out
	return nil
}

// ParseHash decodes 64 hex digits.
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("want 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("not hex: %w", err)
	}
	return h, nil
}
