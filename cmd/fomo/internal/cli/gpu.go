package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/fomonet/fomo/gpu"
	gpunvml "github.com/fomonet/fomo/gpu/nvml"
	"github.com/spf13/cobra"
)

func newGPUCmd(rf *Flags) *cobra.Command {
	var apiURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "Show GPUs: inventory and a current sample",
		Long: `gpu reads the GPUs of this host through NVML and prints one line per GPU.
With --api it asks a running node instead (GET /api/v1/gpus). A host without
an NVIDIA driver has no GPUs; that is not an error.`,
		Example: "  fomo gpu\n  fomo gpu --json\n  fomo gpu --api http://127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var statuses []gpu.Status
			driver := ""
			if apiURL != "" {
				c, err := connect(apiURL)
				if err != nil {
					return err
				}
				if statuses, err = c.GPUs(cmd.Context()); err != nil {
					return err
				}
			} else {
				held := &heldLog{}
				src := gpunvml.Open(slog.New(slog.NewTextHandler(held, &slog.HandlerOptions{Level: slog.LevelWarn})))
				defer src.Close()
				driver = src.Driver()
				// Without a driver, the text output's driver line says
				// why; the log's warning would say it twice.
				_, none := src.(gpu.Null)
				held.release(cmd.ErrOrStderr(), asJSON || !none)
				var err error
				if statuses, err = src.Sample(cmd.Context()); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if statuses == nil {
					statuses = []gpu.Status{}
				}
				return enc.Encode(statuses)
			}
			printGPUs(cmd.OutOrStdout(), driver, statuses)
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", "", "ask the node at this URL instead of reading NVML")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// heldLog holds back what NVML logs while it opens, until release.
type heldLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
	out io.Writer // nil until release
}

func (h *heldLog) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out == nil {
		return h.buf.Write(p)
	}
	return h.out.Write(p)
}

// release writes what was held to out when keep is set, drops it
// otherwise, and sends what is logged later to out.
func (h *heldLog) release(out io.Writer, keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if keep {
		_, _ = out.Write(h.buf.Bytes())
	}
	h.buf.Reset()
	h.out = out
}

func printGPUs(w io.Writer, driver string, st []gpu.Status) {
	if driver != "" {
		fmt.Fprintf(w, "driver: %s\n", driver)
	}
	if len(st) == 0 {
		fmt.Fprintln(w, "no GPUs; the node serves on CPU")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tNAME\tUUID\tCC\tMEM USED/TOTAL\tUTIL\tTEMP\tPOWER\tSM CLOCK\tHEALTH")
	for _, s := range st {
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t", s.Index, s.Name, s.UUID, s.ComputeCapability)
		if smp := s.Sample; smp != nil {
			health := "ok"
			if !smp.Healthy {
				health = "UNHEALTHY " + smp.HealthDetail
			}
			if len(smp.ThrottleReasons) > 0 {
				health += " (throttled: " + strings.Join(smp.ThrottleReasons, ",") + ")"
			}
			line += fmt.Sprintf("%s/%s\t%d%%\t%dC\t%.0fW\t%dMHz\t%s",
				gib(smp.MemoryUsedBytes), gib(s.MemoryTotalBytes), smp.UtilizationPercent, smp.TemperatureC,
				smp.PowerWatts, smp.SMClockMHz, health)
		} else {
			line += fmt.Sprintf("-/%s\t-\t-\t-\t-\tno sample yet", gib(s.MemoryTotalBytes))
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func gib(b uint64) string { return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30)) }
