package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ParseGenesis decodes a genesis from JSON, rejecting unknown fields and
// trailing data, and validates it.
func ParseGenesis(b []byte) (Genesis, error) {
	var g Genesis
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return Genesis{}, fmt.Errorf("ledger: genesis: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Genesis{}, errors.New("ledger: genesis: trailing data")
	}
	if err := g.Validate(); err != nil {
		return Genesis{}, err
	}
	return g, nil
}
