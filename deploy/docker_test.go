package deploy

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fomonet/fomo/configs"
)

// dockerfile reads the repository's Dockerfile.
func dockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileExposesTheNodesPorts: the image exposes the default ports
// of the API, libp2p (TCP and QUIC) and the chain, and its CMD runs a node.
func TestDockerfileExposesTheNodesPorts(t *testing.T) {
	df := dockerfile(t)
	var exposed []string
	for l := range strings.SplitSeq(df, "\n") {
		if rest, ok := strings.CutPrefix(l, "EXPOSE "); ok {
			exposed = append(exposed, strings.Fields(rest)...)
		}
	}
	cfg := configs.Default()
	_, api, err := net.SplitHostPort(cfg.API.Listen)
	if err != nil {
		t.Fatal(err)
	}
	_, chain, err := net.SplitHostPort(strings.TrimPrefix(cfg.Chain.Listen, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{api + "/tcp", chain + "/tcp"}
	port := regexp.MustCompile(`^/ip[46]/[^/]+/(tcp|udp)/(\d+)`)
	for _, ma := range cfg.P2P.Listen {
		m := port.FindStringSubmatch(ma)
		if m == nil {
			t.Fatalf("p2p.listen %q: no port", ma)
		}
		want = append(want, m[2]+"/"+m[1])
	}
	for _, w := range want {
		if !slices.Contains(exposed, w) {
			t.Errorf("Dockerfile EXPOSE %v lacks %s", exposed, w)
		}
	}
	for _, line := range []string{`ENTRYPOINT ["fomo"]`, `CMD ["node", "--home", "/var/lib/fomo"]`, "VOLUME /var/lib/fomo", "USER fomo", "FOMO_API_LISTEN=0.0.0.0:" + api} {
		if !strings.Contains(df, line) {
			t.Errorf("Dockerfile lacks %s", line)
		}
	}
}

// TestDockerImageBuildsAndRuns builds the image and runs its fomo; it
// needs a Docker engine.
func TestDockerImageBuildsAndRuns(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed")
	}
	info := exec.Command(docker, "info")
	var stderr strings.Builder
	info.Stderr = &stderr
	if err := info.Run(); err != nil {
		t.Skipf("no Docker engine answers (docker info: %v): %s", err, strings.TrimSpace(stderr.String()))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	tag := "fomo-deploy-test:" + time.Now().Format("20060102150405")
	build := exec.CommandContext(ctx, docker, "build", "--build-arg", "VERSION=test", "-t", tag, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", "-f", tag).Run() })
	out, err := exec.CommandContext(ctx, docker, "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "fomo test" {
		t.Fatalf("docker run %s version: %v: %q, want \"fomo test\"", tag, err, out)
	}
	out, err = exec.CommandContext(ctx, docker, "run", "--rm", "--entrypoint", "id", tag, "-u").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "0" {
		t.Fatalf("the image runs as root (id -u: %v: %q)", err, out)
	}
}
