package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTemplateIsDefault(t *testing.T) {
	got, err := Decode([]byte(Template))
	if err != nil {
		t.Fatalf("template does not decode: %v", err)
	}
	gb, _ := Encode(got)
	wb, _ := Encode(Default())
	if string(gb) != string(wb) {
		t.Fatalf("template differs from defaults:\n got %s\nwant %s", gb, wb)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	cfg := Default()
	cfg.Runtime = []Runtime{{Name: "up", Kind: KindOpenAI, URL: "http://127.0.0.1:1", IdleTimeout: Duration(time.Minute)}}
	b, err := Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("decode of encoded config: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("round trip differs:\n%s", b)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fomo.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := map[string]struct {
		file string
		env  []string
		set  []string
		want []string
	}{
		"unknown top-level key": {file: "version = 1\nbogus = 1\n", want: []string{"bogus: unknown key"}},
		"unknown nested key with suggestion": {file: "[api]\nlisten_addr = \"127.0.0.1:1\"\n",
			want: []string{"api.listen_addr: unknown key"}},
		"typo suggestion": {file: "[api]\nlistn = \"x:1\"\n", want: []string{`api.listn: unknown key (did you mean "api.listen"?)`}},
		"unknown runtime key": {file: "[[runtime]]\nname = \"a\"\nkind = \"openai\"\nurl = \"http://x\"\ncomand = []\n",
			want: []string{"runtime.comand: unknown key"}},
		"bad duration":   {file: "[node]\nshutdown_timeout = \"soon\"\n", want: []string{"shutdown_timeout", "not a duration"}},
		"bad log level":  {file: "[node]\nlog_level = \"loud\"\n", want: []string{"node.log_level: must be one of"}},
		"bad listen":     {file: "[api]\nlisten = \"nope\"\n", want: []string{"api.listen: must be host:port"}},
		"bad multiaddr":  {file: "[p2p]\nlisten = [\"tcp/1\"]\n", want: []string{"p2p.listen[0]: not a multiaddr"}},
		"bootstrap id":   {file: "[p2p]\nbootstrap = [\"/ip4/1.2.3.4/tcp/1\"]\n", want: []string{"p2p.bootstrap[0]: must end in /p2p/"}},
		"bad version":    {file: "version = 2\n", want: []string{"version: must be 1, got 2"}},
		"read timeout":   {file: "[api]\nread_timeout = \"0s\"\n", want: []string{"api.read_timeout: must be positive"}},
		"idle timeout":   {file: "[api]\nidle_timeout = \"-1s\"\n", want: []string{"api.idle_timeout: must be positive"}},
		"max conns":      {file: "[api]\nmax_conns = 0\n", want: []string{"api.max_conns: must be at least 1"}},
		"syntax error":   {file: "[api\n", want: []string{"line 2: expected"}},
		"bad byte size":  {file: "[api]\nmax_body_bytes = \"lots\"\n", want: []string{"max_body_bytes", "not a byte size"}},
		"runtime kind":   {file: "[[runtime]]\nname = \"a\"\nkind = \"magic\"\n", want: []string{"runtime[0].kind: must be one of"}},
		"runtime url":    {file: "[[runtime]]\nname = \"a\"\nkind = \"openai\"\n", want: []string{"runtime[0].url: must be an http"}},
		"foreign key":    {file: "[[runtime]]\nname = \"a\"\nkind = \"openai\"\nurl = \"http://x\"\ngpus = [0]\n", want: []string{"runtime[0].gpus: only applies to kind supervise"}},
		"supervise argv": {file: "[[runtime]]\nname = \"a\"\nkind = \"supervise\"\nurl = \"http://x\"\n", want: []string{"runtime[0].command: required", "runtime[0].health_url: required"}},
		"dup runtime": {file: "[[runtime]]\nname = \"a\"\nkind = \"openai\"\nurl = \"http://x\"\n[[runtime]]\nname = \"a\"\nkind = \"openai\"\nurl = \"http://y\"\n",
			want: []string{"runtime[1].name: \"a\" is also the name of runtime[0]"}},
		"unknown env":  {env: []string{"FOMO_API_LISTN=x"}, want: []string{"environment FOMO_API_LISTN: unknown config key"}},
		"bad env":      {env: []string{"FOMO_GPU_ENABLED=maybe"}, want: []string{"FOMO_GPU_ENABLED", "gpu.enabled: must be true or false"}},
		"unknown flag": {set: []string{"api.lisen=x:1"}, want: []string{"api.lisen: unknown key"}},
		"flag syntax":  {set: []string{"api.listen"}, want: []string{"want key=value"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := Sources{Env: tc.env, Set: tc.set}
			if tc.file != "" {
				src.File = writeFile(t, tc.file)
			}
			_, err := Load(src)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLayering(t *testing.T) {
	file := writeFile(t, "[api]\nlisten = \"127.0.0.1:1000\"\nmax_body_bytes = 2048\n[node]\nlog_level = \"warn\"\n")
	cfg, err := Load(Sources{
		File: file,
		Env:  []string{"FOMO_API_LISTEN=127.0.0.1:2000", "FOMO_HOME=/ignored", "FOMO_API=http://127.0.0.1:9", "PATH=/bin", "FOMO_P2P_BOOTSTRAP="},
		Set:  []string{"api.listen=127.0.0.1:3000", "gpu.sample_interval=2s", "p2p.listen=/ip4/127.0.0.1/tcp/0, /ip4/127.0.0.1/udp/0/quic-v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Listen != "127.0.0.1:3000" {
		t.Errorf("flag must win: api.listen = %q", cfg.API.Listen)
	}
	if cfg.API.MaxBodyBytes != 2048 || cfg.Node.LogLevel != "warn" {
		t.Errorf("file values lost: %+v %+v", cfg.API, cfg.Node)
	}
	if cfg.GPU.SampleInterval.D() != 2*time.Second {
		t.Errorf("gpu.sample_interval = %v", cfg.GPU.SampleInterval.D())
	}
	if len(cfg.P2P.Listen) != 2 || cfg.P2P.Listen[1] != "/ip4/127.0.0.1/udp/0/quic-v1" {
		t.Errorf("p2p.listen = %q", cfg.P2P.Listen)
	}
	if cfg.Store.Backend != "pebble" {
		t.Errorf("default lost: store.backend = %q", cfg.Store.Backend)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"512": 512, "4MiB": 4 << 20, "20GiB": 20 << 30, "1GB": 1e9, "3 KiB": 3072, "7B": 7} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5GiB", "GiB", "99999999999999999999TiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
}

func TestEnvNames(t *testing.T) {
	if got := EnvName("api.max_body_bytes"); got != "FOMO_API_MAX_BODY_BYTES" {
		t.Fatal(got)
	}
	for _, k := range Keys() {
		if strings.Contains(k, "..") || strings.HasSuffix(k, ".") {
			t.Errorf("bad key %q", k)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(Template))
	f.Add([]byte("[[runtime]]\nname = \"a\"\nkind = \"openai\"\nurl = \"http://x\"\n"))
	f.Add([]byte("[api]\nmax_body_bytes = -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Decode(b)
		if err != nil {
			return
		}
		_ = cfg.Validate() // must not panic
		if _, err := Encode(cfg); err != nil {
			t.Fatalf("decoded config does not encode: %v", err)
		}
	})
}
