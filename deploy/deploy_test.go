package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
)

// unit reads fomo.service as key → values (a key may repeat).
func unit(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("fomo.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("fomo.service: line %q is not key=value", line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// TestUnitVerifies runs systemd-analyze verify on the unit, its ExecStart
// pointed at an executable that exists (verify checks it), and fails on
// anything it says about the unit.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	b, err := os.ReadFile("fomo.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("ExecStart=/usr/local/bin/fomo ")) {
		t.Fatal("fomo.service: ExecStart does not run /usr/local/bin/fomo")
	}
	b = bytes.ReplaceAll(b, []byte("/usr/local/bin/fomo"), []byte(self))
	path := filepath.Join(t.TempDir(), "fomo.service")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	var about []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(l, "fomo.service") {
			about = append(about, l)
		}
	}
	if err != nil || len(about) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitRunsTheNode(t *testing.T) {
	u := unit(t)
	want := map[string]string{
		"ExecStart":               "/usr/local/bin/fomo node --home /var/lib/fomo",
		"StateDirectory":          "fomo",
		"DynamicUser":             "yes",
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	}
	for k, v := range want {
		if got := u[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// NVML opens /dev/nvidia*: nothing may hide or deny devices.
	for _, k := range []string{"PrivateDevices", "DevicePolicy", "DeviceAllow"} {
		if v, ok := u[k]; ok {
			t.Errorf("%s = %q would keep NVML from /dev/nvidia*", k, v)
		}
	}
}

// TestUnitWaitsForShutdown: systemd must not kill the node before its own
// shutdown bound (fomo node's stop budget with the default config) ends.
func TestUnitWaitsForShutdown(t *testing.T) {
	u := unit(t)
	v := u["TimeoutStopSec"]
	if len(v) != 1 {
		t.Fatalf("TimeoutStopSec = %q, want one value", v)
	}
	d, err := time.ParseDuration(v[0])
	if err != nil {
		t.Fatalf("TimeoutStopSec = %q: %v", v[0], err)
	}
	node := configs.Default().Node
	bound := node.StreamGrace.D() + 8*node.ShutdownTimeout.D()
	if d < bound {
		t.Fatalf("TimeoutStopSec = %s, shorter than the node's shutdown bound %s", d, bound)
	}
}
