package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/spf13/cobra"
)

// doctorTimeout bounds the diagnosis a node runs (its DHT and chain
// lookups), with room to spare.
const doctorTimeout = time.Minute

// apiAddrFile is the file in a node's data dir where the running node
// writes its API's address (node.APIAddrFile).
const apiAddrFile = "api.addr"

func newDoctorCmd(rf *Flags) *cobra.Command {
	var apiURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Say what stands between a node and earning, with a remedy for each",
		Long: `doctor asks a running node (GET /api/v1/doctor) to check what it needs to be
paid: GPUs and their free memory, its runtimes, each served model's manifest
and weights, the model's and the node's registration on the settlement chain,
reachability and peers, the chain's sync and the clock, and its receipts.
Each check is ok, warn or fail; a warning or a failure comes with a remedy.

Without --api, doctor asks the node FOMO_API names, else the node running
over --home, at the address it wrote to HOME/api.addr (a node writes it to its
data dir, which is its home unless node.data_dir says otherwise), else
` + DefaultAPI + `.

doctor exits 1 when a check fails (something keeps the node from earning) or
the node cannot be reached, and 0 otherwise.`,
		Example: "  fomo doctor\n  fomo doctor --home /srv/fomo\n  fomo doctor --api http://127.0.0.1:8080\n  fomo doctor --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("api") && os.Getenv(APIEnv) == "" {
				if b, err := os.ReadFile(filepath.Join(rf.Home, apiAddrFile)); err == nil && strings.TrimSpace(string(b)) != "" {
					apiURL = strings.TrimSpace(string(b))
				}
			}
			c, err := client.New(apiURL, client.WithTimeout(doctorTimeout))
			if err != nil {
				return fmt.Errorf("--api: %w", err)
			}
			rep, err := c.Doctor(cmd.Context())
			if err != nil {
				if ue, ok := errors.AsType[*client.UnreachableError](err); ok {
					return fmt.Errorf("no node answers at %s (%v): start it with `fomo node`, or point doctor at its API with --api URL, or at its home with --home DIR (a running node writes its API's address to DIR/%s)",
						ue.Base, ue.Err, apiAddrFile)
				}
				if client.IsNotFound(err) {
					return fmt.Errorf("the node at %s has no doctor endpoint (an older version?): %w", c.Base(), err)
				}
				return fmt.Errorf("asking the node at %s: %w", c.Base(), err)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printDoctor(cmd.OutOrStdout(), c.Base(), rep)
			}
			if n := rep.Count(api.CheckFail); n > 0 {
				return fmt.Errorf("%d check(s) failed: the node at %s is not earning until they are fixed", n, c.Base())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "the node to diagnose (env FOMO_API)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// printDoctor prints a report as a list: one line per check, the remedy
// indented below a warning or a failure, and a summary.
func printDoctor(w io.Writer, base string, rep *api.DoctorReport) {
	fmt.Fprintf(w, "node %s at %s\n\n", rep.PeerID, base)
	width := 0
	for _, c := range rep.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", strings.ToUpper(c.Status), width, c.Name, c.Detail)
		if c.Remedy != "" {
			fmt.Fprintf(w, "      %-*s  → %s\n", width, "", c.Remedy)
		}
	}
	fails, warns := rep.Count(api.CheckFail), rep.Count(api.CheckWarn)
	fmt.Fprintln(w)
	switch {
	case fails > 0:
		fmt.Fprintf(w, "%d failed, %d warning(s): fix the failures to earn\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(w, "no failure, %d warning(s)\n", warns)
	default:
		fmt.Fprintln(w, "all checks ok")
	}
}
