package receipt

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/libp2p/go-libp2p/core/crypto"
	cryptopb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

func TestSessionKeyRoundTrip(t *testing.T) {
	for seed := range byte(8) {
		sk, id := testkeys.Seeded(t, seed)
		s, err := EncodeSessionKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, SessionKeyPrefix) || len(s) > maxSessionKey {
			t.Fatalf("encoded %q", s)
		}
		if strings.ContainsAny(s[len(SessionKeyPrefix):], "+/=") {
			t.Fatalf("%q is not unpadded base64url", s)
		}
		got, err := DecodeSessionKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equals(sk) {
			t.Fatal("decoded another key")
		}
		if gid, _ := peer.IDFromPrivateKey(got); gid != id {
			t.Fatalf("decoded key is %s, want %s", gid, id)
		}
	}
}

// TestSessionKeySigns checks that a decoded session key signs
// authorizations that verify.
func TestSessionKeySigns(t *testing.T) {
	w := newWorld(t)
	s, err := EncodeSessionKey(w.session)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := DecodeSessionKey(s)
	if err != nil {
		t.Fatal(err)
	}
	a := w.auth()
	a.Signer = ""
	env := signAuth(t, a, sk)
	sa, err := OpenAuthorization(env)
	if err != nil || sa.Authorization.Signer != w.sessionID || sa.Authorization.Account != w.clientID {
		t.Fatalf("%+v, %v", sa, err)
	}
}

func TestSessionKeyErrors(t *testing.T) {
	sk, _ := testkeys.Seeded(t, 9)
	good, err := EncodeSessionKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(SessionKeyPrefix):]
	enc := func(b []byte) string { return SessionKeyPrefix + base64.RawURLEncoding.EncodeToString(b) }
	marshal := func(typ cryptopb.KeyType, data []byte) []byte {
		b, err := proto.Marshal(&cryptopb.PrivateKey{Type: typ.Enum(), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw, _ := sk.Raw()
	mismatched := bytes.Clone(raw)
	mismatched[40] ^= 1
	secp, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	secpBytes, _ := crypto.MarshalPrivateKey(secp)
	canon, _ := crypto.MarshalPrivateKey(sk)

	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "does not start with"},
		{"no prefix", body, "does not start with"},
		{"other prefix", "sk-" + body, "does not start with"},
		{"upper case prefix", "FOMO_SK_" + body, "does not start with"},
		{"prefix only", SessionKeyPrefix, "not a private key"},
		{"padded", good + "==", "base64url"},
		{"standard base64", SessionKeyPrefix + base64.RawStdEncoding.EncodeToString(append(canon, 0xfb, 0xff)), "base64url"},
		{"non-canonical trailing bits", good[:len(good)-1] + string(rune(good[len(good)-1]+1)), "base64url"},
		{"trailing newline", good + "\n", "base64url"},
		{"newline inside", good[:20] + "\r\n" + good[20:], "base64url"},
		{"too long", good + strings.Repeat("A", maxSessionKey), "more than"},
		{"not a key", enc([]byte("hello, world")), "not a private key"},
		{"short ed25519 key", enc(marshal(cryptopb.KeyType_Ed25519, raw[:32])), "not a private key"},
		{"secp256k1 key", enc(secpBytes), "want Ed25519"},
		{"public half does not match", enc(marshal(cryptopb.KeyType_Ed25519, mismatched)), "does not match"},
		{"legacy 96-byte form", enc(marshal(cryptopb.KeyType_Ed25519, append(bytes.Clone(raw), raw[32:]...))), "canonical"},
		{"unknown field", enc(append(bytes.Clone(canon), 0x18, 0x01)), "canonical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeSessionKey(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "session key: ") {
				t.Fatalf("error %q does not say what it is about", err)
			}
			if len(body) > 8 && strings.Contains(err.Error(), body[:16]) {
				t.Fatalf("error %q quotes the key", err)
			}
		})
	}
}

func TestEncodeSessionKeyErrors(t *testing.T) {
	if _, err := EncodeSessionKey(nil); err == nil {
		t.Fatal("nil key encoded")
	}
	secp, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EncodeSessionKey(secp); err == nil || !strings.Contains(err.Error(), "want Ed25519") {
		t.Fatalf("secp256k1 key: %v", err)
	}
}
