// Package cli holds the fomo commands that talk to a running node or work
// on local files only: keys, GPUs, receipts, chat, model manifests and
// synthetic models, and the settlement chain's accounts, epochs,
// transactions, offerings, pools, stakes, rewards, emissions, supply and
// treasury. They reach a node
// through node/api/client and parse their flags; none of them runs a node,
// so this package links neither the node nor the consensus engine. The
// fomo command composes them with the commands that run one.
package cli

import (
	"encoding/json"
	"io"
	"os"
	"strings"

	"github.com/fomonet/fomo/node/api/client"
	"github.com/spf13/cobra"
)

// DefaultAPI is the node a command asks unless --api or FOMO_API says
// otherwise.
const DefaultAPI = "http://127.0.0.1:8080"

// APIEnv is the environment variable that names the node a command asks
// when --api is not given, such as the API of a devnet's first node
// (source DIR/env).
const APIEnv = "FOMO_API"

// defaultAPI is the --api flags' default: FOMO_API, else DefaultAPI.
func defaultAPI() string {
	if v := strings.TrimSpace(os.Getenv(APIEnv)); v != "" {
		return v
	}
	return DefaultAPI
}

// Flags are the root command's persistent flags, which every command
// reads.
type Flags struct {
	// Home is the home directory: config.toml, keys and data.
	Home string
}

// Commands returns the top-level client commands: key, gpu, model, chat,
// receipts, deposit, withdraw, transfer, treasury-spend, epoch, account,
// rmo, swap, vesting, stake, unstake, rewards, emissions, supply, pool,
// treasury and doctor.
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
		newRMOCmd(f),
		newSwapCmd(f),
		newVestingCmd(f),
		newStakeCmd(f),
		newUnstakeCmd(f),
		newRewardsCmd(f),
		newEmissionsCmd(),
		newSupplyCmd(),
		newPoolCmd(),
		newTreasuryCmd(),
		newDoctorCmd(f),
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
