package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	recpb "github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

func testManifest(name string, seq uint64, issuer peer.ID) Manifest {
	sum := sha256.Sum256([]byte("weights of " + name))
	return Manifest{
		Name: name, Seq: seq, Issuer: issuer,
		Architecture: "llama", Quantization: "q4_k_m", ContextLength: 4096,
		Weights:      Weights{SHA256: hex.EncodeToString(sum[:]), Size: 1234, URIs: []string{"https://example.org/m.gguf"}},
		ChatTemplate: "llama3", Tier: "small", InputPrice: 100, OutputPrice: 200,
		Description: "test model",
	}
}

func mustSign(t testing.TB, m Manifest, sk crypto.PrivKey) []byte {
	t.Helper()
	b, err := Sign(m, sk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sealRaw signs an arbitrary payload as a manifest envelope, bypassing Sign's
// checks, the way a malicious issuer could.
func sealRaw(t testing.TB, payload []byte, sk crypto.PrivKey) []byte {
	t.Helper()
	return testkeys.Seal(t, &manifestRecord{payload: payload}, sk)
}

// editEnvelope decodes an envelope, lets f change it and re-encodes it
// (keeping the old signature unless f replaces it).
func editEnvelope(t testing.TB, b []byte, f func(*recpb.Envelope)) []byte {
	t.Helper()
	var e recpb.Envelope
	if err := proto.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	f(&e)
	out, err := proto.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type otherDomain struct{ manifestRecord }

func (*otherDomain) Domain() string { return "fomo/capacity/v1" }

func TestSignOpenRoundTrip(t *testing.T) {
	sk, id := testkeys.New(t)
	m := testManifest("llama", 3, id)
	env := mustSign(t, m, sk)
	s, err := Open(env)
	if err != nil {
		t.Fatal(err)
	}
	if !equalManifest(s.Manifest, m) {
		t.Fatalf("opened %+v, want %+v", s.Manifest, m)
	}
	if !bytes.Equal(s.Envelope, env) {
		t.Fatal("Envelope is not the signed bytes")
	}
	// Deterministic: the same manifest signs to the same bytes (Ed25519 is
	// deterministic and the payload encoding is canonical).
	if !bytes.Equal(mustSign(t, m, sk), env) {
		t.Fatal("signing twice gave different envelopes")
	}
	if s.Hash() != sha256.Sum256(s.Payload) {
		t.Fatal("Hash is not sha256 of the payload")
	}
	// Empty issuer is filled from the key; another issuer is refused.
	m.Issuer = ""
	if s, err := Open(mustSign(t, m, sk)); err != nil || s.Manifest.Issuer != id {
		t.Fatalf("empty issuer: %v %v", s, err)
	}
	_, other := testkeys.New(t)
	m.Issuer = other
	if _, err := Sign(m, sk); err == nil {
		t.Fatal("Sign accepted an issuer that is not the key")
	}
}

func equalManifest(a, b Manifest) bool {
	ja, jb := a, b
	return ja.Name == jb.Name && ja.Seq == jb.Seq && ja.Issuer == jb.Issuer && ja.Architecture == jb.Architecture &&
		ja.Quantization == jb.Quantization && ja.ContextLength == jb.ContextLength &&
		ja.Weights.SHA256 == jb.Weights.SHA256 && ja.Weights.Size == jb.Weights.Size &&
		strings.Join(ja.Weights.URIs, ",") == strings.Join(jb.Weights.URIs, ",") &&
		ja.ChatTemplate == jb.ChatTemplate && ja.Tier == jb.Tier && ja.InputPrice == jb.InputPrice &&
		ja.OutputPrice == jb.OutputPrice && ja.Description == jb.Description
}

// TestValidate covers the validator's Validate: forged signatures, signer ≠
// issuer, name mismatch, bad fields, non-canonical encodings, registry
// binding.
func TestValidate(t *testing.T) {
	sk, id := testkeys.New(t)
	sk2, id2 := testkeys.New(t)
	good := mustSign(t, testManifest("llama", 1, id), sk)
	goodPayload := func() []byte {
		s, err := Open(good)
		if err != nil {
			t.Fatal(err)
		}
		return s.Payload
	}()
	payloadOf := func(m Manifest) []byte {
		b, err := deterministic.Marshal(m.toPB())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	badName := testManifest("llama", 1, id)
	badName.Name = "Llama!"
	badSum := testManifest("llama", 1, id)
	badSum.Weights.SHA256 = "abc"
	wrongDomain, err := record.Seal(&otherDomain{manifestRecord{payload: goodPayload}}, sk)
	if err != nil {
		t.Fatal(err)
	}
	wrongDomainB, _ := wrongDomain.Marshal()
	registered := Validator{IssuerOf: func(name string) (peer.ID, bool) { return id2, name == "llama" }}

	for _, tc := range []struct {
		name  string
		v     Validator
		key   string
		value []byte
		ok    bool
	}{
		{"valid", Validator{}, Key("llama"), good, true},
		{"forged signature", Validator{}, Key("llama"), editEnvelope(t, good, func(e *recpb.Envelope) { e.Signature[3] ^= 1 }), false},
		{"tampered payload", Validator{}, Key("llama"), editEnvelope(t, good, func(e *recpb.Envelope) {
			m := testManifest("llama", 1, id)
			m.OutputPrice = 1
			e.Payload = payloadOf(m)
		}), false},
		{"signer is not issuer", Validator{}, Key("llama"), sealRaw(t, payloadOf(testManifest("llama", 1, id)), sk2), false},
		{"signer key swapped", Validator{}, Key("llama"), editEnvelope(t, good, func(e *recpb.Envelope) {
			pk, _ := crypto.PublicKeyToProto(sk2.GetPublic())
			e.PublicKey = pk
		}), false},
		{"name mismatch", Validator{}, Key("mistral"), good, false},
		{"wrong namespace", Validator{}, "/pk/llama", good, false},
		{"bad key", Validator{}, "llama", good, false},
		{"wrong domain", Validator{}, Key("llama"), wrongDomainB, false},
		{"wrong payload type", Validator{}, Key("llama"), editEnvelope(t, good, func(e *recpb.Envelope) { e.PayloadType = []byte("x") }), false},
		{"invalid name signed", Validator{}, Key("Llama!"), sealRaw(t, payloadOf(badName), sk), false},
		{"invalid sha256 signed", Validator{}, Key("llama"), sealRaw(t, payloadOf(badSum), sk), false},
		{"unknown payload field", Validator{}, Key("llama"), sealRaw(t, append(bytes.Clone(goodPayload), 0xf8, 0x01, 0x01), sk), false},
		{"unknown envelope field", Validator{}, Key("llama"), append(bytes.Clone(good), 0xf8, 0x01, 0x01), false},
		{"garbage", Validator{}, Key("llama"), []byte("not an envelope"), false},
		{"empty", Validator{}, Key("llama"), nil, false},
		{"oversize", Validator{}, Key("llama"), make([]byte, MaxEnvelopeSize+1), false},
		{"registered to another issuer", registered, Key("llama"), good, false},
		{"registered issuer", registered, Key("llama"), mustSign(t, testManifest("llama", 1, id2), sk2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate(tc.key, tc.value)
			if tc.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSelect(t *testing.T) {
	sk, id := testkeys.New(t)
	sk2, id2 := testkeys.New(t)
	s1 := mustSign(t, testManifest("llama", 1, id), sk)
	s2 := mustSign(t, testManifest("llama", 2, id), sk)
	s2b := mustSign(t, testManifest("llama", 2, id2), sk2)
	lo, hi := s2, s2b
	if bytes.Compare(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	forged := editEnvelope(t, mustSign(t, testManifest("llama", 9, id), sk), func(e *recpb.Envelope) { e.Signature[0] ^= 1 })
	other := mustSign(t, testManifest("other", 5, id), sk)
	for _, tc := range []struct {
		name string
		vals [][]byte
		want int
		err  bool
	}{
		{"higher seq", [][]byte{s1, s2}, 1, false},
		{"higher seq first", [][]byte{s2, s1}, 0, false},
		{"tie: smaller bytes", [][]byte{hi, lo}, 1, false},
		{"tie: smaller bytes first", [][]byte{lo, hi}, 0, false},
		{"forged higher seq skipped", [][]byte{s1, forged}, 0, false},
		{"other name skipped", [][]byte{other, s1}, 1, false},
		{"none valid", [][]byte{forged, other}, 0, true},
		{"empty", nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (Validator{}).Select(Key("llama"), tc.vals)
			if tc.err {
				if err == nil {
					t.Fatalf("selected %d, want error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseTOML(t *testing.T) {
	m, err := LoadTOML("testdata/manifest.toml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "llama-3.1-8b-instruct.q4" || m.Weights.Size != 4920739232 || m.OutputPrice != 200000 || m.Issuer != "" {
		t.Fatalf("parsed %+v", m)
	}
	sk, id := testkeys.New(t)
	s, err := Open(mustSign(t, m, sk))
	if err != nil || s.Manifest.Issuer != id {
		t.Fatalf("sign example: %v", err)
	}
	example, _ := os.ReadFile("testdata/manifest.toml")
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", string(example) + "\nlicense = \"mit\"\n", "license"},
		{"unknown nested key", strings.Replace(string(example), "[weights]", "[weights]\nmd5 = \"x\"", 1), "weights.md5"},
		{"bad name", strings.Replace(string(example), `name = "llama-3.1-8b-instruct.q4"`, `name = "Llama 3"`, 1), "name"},
		{"bad sha", strings.Replace(string(example), `sha256 = "0b7f`, `sha256 = "zz7f`, 1), "weights.sha256"},
		{"bad issuer", string(example) + "\nissuer = \"nope\"\n", "issuer"},
		{"wrong type", strings.Replace(string(example), "seq = 1", `seq = "one"`, 1), "seq"},
		{"no context", strings.Replace(string(example), "context_length = 8192", "", 1), "context_length"},
		{"bad uri", strings.Replace(string(example), `uris = ["https`, `uris = ["no scheme", "https`, 1), "weights.uris[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTOML([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
	if _, err := LoadTOML(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestVerifyWeights(t *testing.T) {
	dir := t.TempDir()
	data := []byte("gguf weights, or close enough")
	p := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := Manifest{Name: "m", Weights: Weights{SHA256: hex.EncodeToString(sum[:]), Size: uint64(len(data))}}
	if err := VerifyWeights(p, m); err != nil {
		t.Fatal(err)
	}
	bad := m
	bad.Weights.SHA256 = strings.Repeat("0", 64)
	if err := VerifyWeights(p, bad); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("wrong hash: %v", err)
	}
	bad = m
	bad.Weights.Size++
	if err := VerifyWeights(p, bad); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("wrong size: %v", err)
	}
	if err := VerifyWeights(filepath.Join(dir, "none"), m); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestCID(t *testing.T) {
	c := CID("llama")
	if c.Version() != 1 || c.Type() != 0x55 {
		t.Fatalf("cid %s: version %d codec %x", c, c.Version(), c.Type())
	}
	want := sha256.Sum256([]byte("fomo/model/llama"))
	if !bytes.Equal(c.Hash()[2:], want[:]) {
		t.Fatal("cid digest is not sha256(fomo/model/<name>)")
	}
	if CID("llama") != c || CID("mistral") == c {
		t.Fatal("cid not a function of the name")
	}
}

func FuzzOpenManifest(f *testing.F) {
	sk, id := testkeys.New(f)
	good := mustSign(f, testManifest("llama", 1, id), sk)
	f.Add(good)
	f.Add(editEnvelope(f, good, func(e *recpb.Envelope) { e.Signature[0] ^= 1 }))
	f.Add(sealRaw(f, []byte{0x0a, 0x01, 'x'}, sk))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Open(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// Whatever opens is valid under its own name and selected alone.
		key := Key(s.Manifest.Name)
		if err := (Validator{}).Validate(key, b); err != nil {
			t.Fatalf("Open accepted, Validate rejected: %v", err)
		}
		if i, err := (Validator{}).Select(key, [][]byte{b}); err != nil || i != 0 {
			t.Fatalf("Select = %d, %v", i, err)
		}
		if !bytes.Equal(s.Envelope, b) {
			t.Fatal("Envelope differs from input")
		}
	})
}

func FuzzManifestTOML(f *testing.F) {
	example, err := os.ReadFile("testdata/manifest.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("name = \"x\"\n[weights]\nsize = 1"))
	f.Add([]byte("seq = -1"))
	sk, _ := testkeys.New(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseTOML(b)
		if err != nil {
			return
		}
		// A manifest that parses signs and opens to itself (unless it names
		// another issuer).
		env, err := Sign(m, sk)
		if err != nil {
			if m.Issuer != "" {
				return
			}
			if strings.Contains(err.Error(), "more than") {
				return
			}
			t.Fatalf("parsed manifest does not sign: %v", err)
		}
		s, err := Open(env)
		if err != nil {
			t.Fatalf("signed manifest does not open: %v", err)
		}
		m.Issuer = s.Manifest.Issuer
		if !equalManifest(s.Manifest, m) {
			t.Fatalf("round trip: %+v != %+v", s.Manifest, m)
		}
	})
}
