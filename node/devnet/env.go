package devnet

import (
	"os"
	"path/filepath"
	"strings"
)

// EnvFile is the file in the devnet's directory that points the fomo
// commands at the network: `source DIR/env` sets FOMO_HOME to the
// directory (its keys: user, issuer, protocol…) and FOMO_API to node0's
// API.
const EnvFile = "env"

// writeEnv writes DIR/env for a network whose first node's API is api and
// returns its path.
func writeEnv(dir, api string) (string, error) {
	path := filepath.Join(dir, EnvFile)
	b := "# source this file to point the fomo commands at the devnet\n" +
		"export FOMO_HOME=" + shellQuote(dir) + "\n" +
		"export FOMO_API=" + shellQuote(api) + "\n"
	return path, os.WriteFile(path, []byte(b), 0o644)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
