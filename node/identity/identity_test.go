package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreatePersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "node.key")
	sk, created, err := LoadOrCreate(p)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %04o, want 0600", st.Mode().Perm())
	}
	sk2, created, err := LoadOrCreate(p)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if PeerID(sk) != PeerID(sk2) {
		t.Fatal("reloaded key has a different peer id")
	}
	if !strings.HasPrefix(PeerID(sk).String(), "12D3KooW") {
		t.Fatalf("peer id %s is not an Ed25519 id", PeerID(sk))
	}
	if err := Save(p, sk); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("Save over an existing key: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	sk, _ := Generate()
	if err := Save(open, sk); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o644)
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	for name, tc := range map[string]struct{ path, want string }{
		"missing":     {filepath.Join(dir, "none.key"), "no key file"},
		"world read":  {open, "chmod 600"},
		"not a key":   {garbage, "not a libp2p private key"},
		"a directory": {dir, "mode"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load(%s) = %v, want error containing %q", tc.path, err, tc.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	sk, _ := Generate()
	p := filepath.Join(f.TempDir(), "k")
	Save(p, sk)
	b, _ := os.ReadFile(p)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "k")
		os.WriteFile(p, data, 0o600)
		Load(p) // must not panic
	})
}
