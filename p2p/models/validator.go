package models

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Key returns the DHT key of the manifest named name: /fomo-model/<name>.
func Key(name string) string { return "/" + Namespace + "/" + name }

// CID returns the content ID that nodes serving the model named name
// provide: CIDv1(raw, sha256("fomo/model/"+name)).
func CID(name string) cid.Cid {
	h, err := mh.Sum([]byte("fomo/model/"+name), mh.SHA2_256, -1)
	if err != nil {
		panic(err) // sha2-256 is always available
	}
	return cid.NewCidV1(cid.Raw, h)
}

// Validator is the DHT record validator of the fomo-model namespace.
// Register it with p2p.Config.Validators[models.Namespace].
type Validator struct {
	// IssuerOf, when set, names the issuer the chain's model registry binds
	// to a model name; a manifest from another issuer is rejected. ok false
	// means the name is not registered (any issuer is accepted).
	IssuerOf func(name string) (issuer peer.ID, ok bool)
}

var _ record.Validator = Validator{}

// Validate accepts value for key when it is a valid signed manifest (see
// Open) whose name is the key's, from the registered issuer if known.
func (v Validator) Validate(key string, value []byte) error {
	_, err := v.open(key, value)
	return err
}

func (v Validator) open(key string, value []byte) (*Signed, error) {
	ns, name, err := record.SplitKey(key)
	if err != nil {
		return nil, fmt.Errorf("manifest key %q: %w", key, err)
	}
	if ns != Namespace {
		return nil, fmt.Errorf("manifest key %q: namespace %q, want %q", key, ns, Namespace)
	}
	s, err := Open(value)
	if err != nil {
		return nil, err
	}
	if s.Manifest.Name != name {
		return nil, fmt.Errorf("%w: manifest %q stored under key %q", ErrInvalid, s.Manifest.Name, key)
	}
	if v.IssuerOf != nil {
		if want, ok := v.IssuerOf(name); ok && want != s.Manifest.Issuer {
			return nil, fmt.Errorf("%w: model %q is registered to %s, the manifest is from %s",
				ErrInvalid, name, want, s.Manifest.Issuer)
		}
	}
	return s, nil
}

// Select returns the index of the best value: the valid manifest with the
// highest seq; among equal seqs, the bytewise smallest envelope, so every
// node picks the same one. Invalid values are never selected.
func (v Validator) Select(key string, vals [][]byte) (int, error) {
	best := -1
	var bestSeq uint64
	for i, val := range vals {
		s, err := v.open(key, val)
		if err != nil {
			continue
		}
		seq := s.Manifest.Seq
		if best < 0 || seq > bestSeq || (seq == bestSeq && bytes.Compare(val, vals[best]) < 0) {
			best, bestSeq = i, seq
		}
	}
	if best < 0 {
		return 0, errors.New("no valid manifest among the values")
	}
	return best, nil
}
