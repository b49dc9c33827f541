package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/node/api"
)

// report is a Doctor that answers fixed checks.
type report []api.Check

func (r report) Diagnose(context.Context) api.DoctorReport {
	return api.DoctorReport{PeerID: "12D3KooWtest", Checks: r}
}

func doctorNode(t *testing.T, checks ...api.Check) string {
	t.Helper()
	srv := httptest.NewServer(api.New(noModels{}, api.WithDoctor(report(checks))))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDoctorCommand(t *testing.T) {
	ok := api.Check{Name: "peers", Status: api.CheckOK, Detail: "3 connected"}
	warn := api.Check{Name: "reachability", Status: api.CheckWarn, Detail: "private", Remedy: "forward the port"}
	fail := api.Check{Name: "manifest m", Status: api.CheckFail, Detail: "no manifest", Remedy: "fomo model announce"}

	url := doctorNode(t, ok, warn)
	out, err := run(t, "doctor", "--api", url)
	if err != nil {
		t.Fatalf("doctor with a warning only: %v\n%s", err, out)
	}
	for _, want := range []string{"node 12D3KooWtest at " + url, "OK    peers         3 connected", "WARN  reachability  private", "→ forward the port", "no failure, 1 warning(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	url = doctorNode(t, ok, fail)
	out, err = run(t, "doctor", "--api", url)
	if err == nil || !strings.Contains(err.Error(), "1 check(s) failed") {
		t.Fatalf("doctor with a failure: error %v, want one naming the failure\n%s", err, out)
	}
	if !strings.Contains(out, "FAIL  manifest m  no manifest") || !strings.Contains(out, "→ fomo model announce") {
		t.Errorf("output lacks the failure and its remedy:\n%s", out)
	}

	out, err = run(t, "doctor", "--api", url, "--json")
	var rep api.DoctorReport
	if err == nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Checks) != 2 || rep.Checks[1] != fail {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}

	// Without --api, the node running over --home.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, apiAddrFile), []byte(strings.TrimPrefix(url, "http://")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runHome(t, home, "doctor")
	if err == nil || !strings.Contains(out, "FAIL  manifest m") {
		t.Fatalf("doctor over a home with api.addr: %v\n%s", err, out)
	}

	// A node without the endpoint, and no node at all.
	_, err = run(t, "doctor", "--api", node(t))
	if err == nil || !strings.Contains(err.Error(), "has no doctor endpoint") {
		t.Errorf("doctor against a node without the endpoint: %v", err)
	}
	_, err = run(t, "doctor", "--api", "ftp://x")
	if err == nil || !strings.Contains(err.Error(), "--api") {
		t.Errorf("doctor with a bad --api: %v", err)
	}
}
