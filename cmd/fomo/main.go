// Command fomo is the fomo daemon and its command-line tools: `fomo node`
// runs a node, `fomo init` prepares a home directory, `fomo devnet` runs a
// local network, and the other commands inspect and manage keys, config and GPUs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/fomonet/fomo/cmd/fomo/internal/cli"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if code := exitStatus(err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// exitStatus is the process's exit status after err, what the root
// command returned: 0 for nil, the status an exitError carries, else 1
// after printing err to stderr as one line, "fomo: " and the message.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "fomo:", cli.ErrorMessage(err))
	return 1
}

// exitError carries a specific exit status without printing again.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// signalContext returns a context cancelled by the first SIGINT or SIGTERM;
// a second signal exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(os.Stderr, "received %s, shutting down (send again to exit at once)\n", sig)
			cancel()
		case <-ctx.Done():
			return
		}
		sig := <-ch
		fmt.Fprintf(os.Stderr, "received %s again, exiting now\n", sig)
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
