// Package identity loads, creates and stores the Ed25519 keys that identify
// nodes and accounts. A key file holds the libp2p protobuf encoding of the
// private key (crypto.MarshalPrivateKey); it is written with mode 0600 and
// refused when group or others can read it, as ssh does.
package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNoKey is returned by Load when the key file does not exist.
var ErrNoKey = errors.New("identity: no key file")

// Generate returns a new Ed25519 key.
func Generate() (crypto.PrivKey, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	return sk, err
}

// Load reads the key at path.
func Load(path string) (crypto.PrivKey, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: key file %s has mode %04o; it must not be readable by group or others (chmod 600 %s)",
			path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	sk, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity: key file %s is not a libp2p private key: %w", path, err)
	}
	if sk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity: key file %s holds a %s key; fomo keys are Ed25519", path, sk.Type())
	}
	return sk, nil
}

// Save writes sk to path with mode 0600, creating parent directories with
// mode 0700. It refuses to overwrite an existing file.
func Save(path string, sk crypto.PrivKey) error {
	b, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("identity: %s already exists; refusing to overwrite a key", path)
		}
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("identity: %w", err)
	}
	return f.Close()
}

// LoadOrCreate loads the key at path, creating and saving a new one if the
// file does not exist. created reports which happened.
func LoadOrCreate(path string) (sk crypto.PrivKey, created bool, err error) {
	sk, err = Load(path)
	if !errors.Is(err, ErrNoKey) {
		return sk, false, err
	}
	if sk, err = Generate(); err != nil {
		return nil, false, err
	}
	if err := Save(path, sk); err != nil {
		return nil, false, err
	}
	return sk, true, nil
}

// PeerID returns the peer ID (the account address) of sk.
func PeerID(sk crypto.PrivKey) peer.ID {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		// Ed25519 keys always have an ID; anything else is a programming error.
		panic(fmt.Sprintf("identity: peer id of %s key: %v", sk.Type(), err))
	}
	return id
}
