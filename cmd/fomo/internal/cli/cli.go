// Package cli holds the fomo commands that talk to a running node or work
// on local files only: keys, GPUs, receipts, chat, model manifests and
// synthetic models, and the settlement chain's accounts, epochs and
// transactions. They reach a node through node/api/client and parse their
// flags; none of them runs a node, so this package links neither the node
// nor the consensus engine. The fomo command composes them with the
// commands that run one.
package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/ledger"
	"github.com/spf13/cobra"
)

// DefaultAPI is the node a command asks unless --api says otherwise.
const DefaultAPI = "http://127.0.0.1:8080"

// Flags are the root command's persistent flags, which every command
// reads.
type Flags struct {
	// Home is the home directory: config.toml, keys and data.
	Home string
}

// Commands returns the top-level client commands: key, gpu, model, chat,
// receipts, deposit, withdraw, transfer, treasury-spend, epoch and account.
func Commands(f *Flags) []*cobra.Command {
	return []*cobra.Command{
		newKeyCmd(f),
		newGPUCmd(f),
		newModelCmd(f),
		newChatCmd(f),
		newReceiptsCmd(f),
		newDepositCmd(f),
		newWithdrawCmd(f),
		newTransferCmd(f),
		newTreasurySpendCmd(f),
		newEpochCmd(),
		newAccountCmd(f),
	}
}

// NodeCommands returns the subcommands of `fomo node` that send the
// node's transactions: register and unbond.
func NodeCommands(f *Flags) []*cobra.Command { return newNodeChainCmds(f) }

// connect returns a client of the node at api.
func connect(api string) (*client.Client, error) { return client.New(api) }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteSettlement writes one epoch's settlement as a table, one row per
// model and a total.
func WriteSettlement(out io.Writer, e ledger.EpochSettlement) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "epoch %d closed at height %d: %d receipts (%d unpaid), root %s\n",
		e.Epoch, e.ClosedHeight, e.Receipts, e.Unpaid, shortHex(e.ReceiptsRoot))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\trequests\ttokens\tgross\tnode pay\trouting\tMT buyback\tFLOCK buyback\ttreasury\tissuer\t")
	for _, m := range e.Models {
		s := m.Split
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.Model, s.Receipts, s.Tokens, econ.FormatAmount(s.Gross),
			econ.FormatAmount(s.Cost), econ.FormatAmount(s.RoutingFee), econ.FormatAmount(s.MTBuyback), econ.FormatAmount(s.FlockBuyback), econ.FormatAmount(s.Treasury), econ.FormatAmount(s.Issuer))
	}
	if len(e.Models) != 1 {
		fmt.Fprintf(tw, "total\t%d\t\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.Paid, econ.FormatAmount(e.Gross), econ.FormatAmount(e.Cost),
			econ.FormatAmount(e.RoutingFee), econ.FormatAmount(e.MTBuyback), econ.FormatAmount(e.FlockBuyback), econ.FormatAmount(e.Treasury), econ.FormatAmount(e.Issuer))
	}
	tw.Flush()
	_, _ = out.Write(b.Bytes())
}

func shortHex(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
