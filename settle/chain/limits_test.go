package chain_test

import (
	"testing"

	"github.com/fomonet/fomo/settle/chain/consensus"
	"github.com/fomonet/fomo/settle/chain/tx"
)

// TestConsensusLimitsHoldLargestTx: the mempool takes every tx the app
// may admit, and a block has room for the largest one.
func TestConsensusLimitsHoldLargestTx(t *testing.T) {
	if consensus.MaxTxBytes < tx.MaxTxSize {
		t.Fatalf("the mempool takes txs up to %d bytes, the app up to %d", consensus.MaxTxBytes, tx.MaxTxSize)
	}
	if consensus.MaxBlockBytes < tx.MaxTxSize+1<<20 {
		t.Fatalf("blocks of %d bytes leave too little room for a tx of %d", consensus.MaxBlockBytes, tx.MaxTxSize)
	}
}
