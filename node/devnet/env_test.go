package devnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestEnvFile: DIR/env, sourced by a shell, sets FOMO_HOME to the devnet's
// directory and FOMO_API to node0's API, whatever the directory's name.
func TestEnvFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a devnet")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path, err := writeEnv(dir, "http://127.0.0.1:4242")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, EnvFile) {
		t.Fatalf("env written to %s", path)
	}
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\n%s\n' "$FOMO_HOME" "$FOMO_API"`, "sh", path).CombinedOutput()
	if err != nil {
		t.Skipf("no POSIX shell: %v\n%s", err, out)
	}
	if got, want := string(out), dir+"\nhttp://127.0.0.1:4242\n"; got != want {
		t.Fatalf("sourcing %s gives %q, want %q", path, got, want)
	}
}
