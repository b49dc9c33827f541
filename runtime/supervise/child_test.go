//go:build linux

package supervise

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests supervise the test binary itself: with FOMO_SUPERVISE_CHILD set,
// TestMain runs one of the modes below instead of the tests.
//
//	serve: an HTTP server on 127.0.0.1:$FOMO_SUPERVISE_PORT with
//	  /health          200, or 503 as set by /control
//	  /control?health= ok | fail | flap (alternate 503 and 200)
//	  /probes          how many times /health was asked
//	  /env             the child's CUDA_* and FOMO_TEST_VAR variables (JSON)
//	  /pid             the child's pid
//	  /spawn           starts a "sleep" grandchild (?ignore_term=1) and returns its pid
//	  /exit?code=N     exits with status N
//	sleep: sleeps 5 minutes (a grandchild).
//
// Further variables of the serve mode:
//
//	FOMO_SUPERVISE_EXIT=N         write to stderr and exit N at once
//	FOMO_SUPERVISE_FAIL_FILE=path exit 4 at once if path exists
//	FOMO_SUPERVISE_MARKER=path    create path at startup
//	FOMO_SUPERVISE_IGNORE_TERM=1  ignore SIGTERM
//	FOMO_SUPERVISE_READY_DELAY=d  answer /health 503 for d after startup
const childEnvVar = "FOMO_SUPERVISE_CHILD"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnvVar); mode {
	case "":
	case "serve":
		os.Exit(childServe())
	case "sleep":
		if os.Getenv("FOMO_SUPERVISE_IGNORE_TERM") == "1" {
			signal.Ignore(syscall.SIGTERM)
		}
		fmt.Println("sleeping")
		time.Sleep(5 * time.Minute)
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s mode %q\n", childEnvVar, mode)
		os.Exit(2)
	}
	// Orphaned grandchildren are re-parented to the test process, so tests
	// can reap them and see them gone.
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER): %v\n", errno)
	}
	os.Exit(m.Run())
}

func childServe() int {
	if code := os.Getenv("FOMO_SUPERVISE_EXIT"); code != "" {
		fmt.Fprintln(os.Stdout, "loading model")
		fmt.Fprintln(os.Stderr, "fatal: model file not found")
		n, _ := strconv.Atoi(code)
		return n
	}
	if f := os.Getenv("FOMO_SUPERVISE_FAIL_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintln(os.Stderr, "fatal: fail file present")
			return 4
		}
	}
	if f := os.Getenv("FOMO_SUPERVISE_MARKER"); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	if os.Getenv("FOMO_SUPERVISE_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	var readyAt time.Time
	if d, err := time.ParseDuration(os.Getenv("FOMO_SUPERVISE_READY_DELAY")); err == nil {
		readyAt = time.Now().Add(d)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("FOMO_SUPERVISE_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 1
	}
	fmt.Fprintln(os.Stdout, "serving on", ln.Addr())
	fmt.Fprintln(os.Stderr, "stderr is alive")

	var (
		mode   atomic.Value // "ok", "fail", "flap"
		probes atomic.Int64
		mu     sync.Mutex
		kids   []*exec.Cmd
	)
	mode.Store("ok")
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		n := probes.Add(1)
		switch m := mode.Load().(string); {
		case time.Now().Before(readyAt), m == "fail", m == "flap" && n%2 == 0:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	mux.HandleFunc("/control", func(w http.ResponseWriter, r *http.Request) {
		mode.Store(r.FormValue("health"))
	})
	mux.HandleFunc("/probes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, probes.Load())
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]*string{}
		for _, k := range []string{"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "FOMO_TEST_VAR"} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = &v
			} else {
				env[k] = nil
			}
		}
		json.NewEncoder(w).Encode(env)
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getpid())
	})
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), childEnvVar+"=sleep", "FOMO_SUPERVISE_IGNORE_TERM="+r.FormValue("ignore_term"))
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		// Answer once the grandchild has set up its signal handling.
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		mu.Lock()
		kids = append(kids, cmd)
		mu.Unlock()
		go cmd.Wait()
		fmt.Fprint(w, cmd.Process.Pid)
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.FormValue("code"))
		os.Exit(n)
	})
	http.Serve(ln, mux)
	return 1
}
