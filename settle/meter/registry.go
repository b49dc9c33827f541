package meter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Payers is where a node learns who may pay for requests: which account a
// signing key pays for, the account's credit, and whether a key may sign
// for an account. The local account registry file ([Registry]) is one
// source; the settlement chain's state is the other.
type Payers interface {
	// AccountOf returns the account that signer (an account's own key or
	// one of its session keys) signs for.
	AccountOf(ctx context.Context, signer peer.ID) (peer.ID, bool)
	// Balance returns the account's credit in usd base units.
	Balance(ctx context.Context, account peer.ID) uint64
	// Authorized implements receipt.Signers.
	Authorized(account, signer peer.ID, atMs uint64) error
	// SpendLeft returns what session key signer may still spend for
	// account under its spend limit; limited is false for a key without
	// a limit.
	SpendLeft(ctx context.Context, account, signer peer.ID) (left uint64, limited bool)
}

// AccountsFile is the TOML document of the local account registry
// (auth.accounts): the accounts this node lets pay, their credit and their
// session keys.
type AccountsFile struct {
	Account []RegistryAccount `toml:"account"`
}

// RegistryAccount is one account of the local registry.
type RegistryAccount struct {
	// ID is the account's peer ID.
	ID string `toml:"id"`
	// Credit is the account's credit in usd base units (6 decimals).
	Credit uint64 `toml:"credit"`
	// SessionKeys are the peer IDs of the session keys that may sign for
	// the account.
	SessionKeys []string `toml:"session_keys"`
}

// Encode writes the registry as TOML.
func (f *AccountsFile) Encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# fomo local account registry: accounts, their credit (usd base units,\n# 6 decimals) and the session keys that may sign for them.\n\n")
	if err := toml.NewEncoder(&b).Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type registryState struct {
	accounts map[peer.ID]RegistryAccount
	owner    map[peer.ID]peer.ID // session key → account
}

// Registry is the local account registry file, read again when its
// modification time changes (checked at most once a second). It is the
// Payers of a node without a settlement chain.
type Registry struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	st      registryState
	mtime   time.Time
	checked time.Time
}

// OpenRegistry reads the registry file at path (auth.accounts); now is the
// clock that paces re-reading it (time.Now when nil).
func OpenRegistry(path string, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{path: path, now: now}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth.accounts: %w", err)
	}
	st, err := loadRegistry(path)
	if err != nil {
		return nil, err
	}
	r.st, r.mtime, r.checked = st, fi.ModTime(), now()
	return r, nil
}

func loadRegistry(path string) (registryState, error) {
	var f AccountsFile
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return registryState{}, fmt.Errorf("auth.accounts %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return registryState{}, fmt.Errorf("auth.accounts %s: unknown key %s", path, und[0])
	}
	st := registryState{accounts: map[peer.ID]RegistryAccount{}, owner: map[peer.ID]peer.ID{}}
	var errs []error
	for i, a := range f.Account {
		id, err := peer.Decode(a.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.accounts %s: account[%d].id: %v", path, i, err))
			continue
		}
		st.accounts[id] = a
		for j, k := range a.SessionKeys {
			sk, err := peer.Decode(k)
			if err != nil {
				errs = append(errs, fmt.Errorf("auth.accounts %s: account[%d].session_keys[%d]: %v", path, i, j, err))
				continue
			}
			if prev, ok := st.owner[sk]; ok && prev != id {
				errs = append(errs, fmt.Errorf("auth.accounts %s: session key %s belongs to two accounts", path, k))
			}
			st.owner[sk] = id
		}
	}
	return st, errors.Join(errs...)
}

// state returns the registry, re-reading the file if it changed. A file
// that became unreadable or invalid keeps the last good state.
func (r *Registry) state() registryState {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < time.Second {
		return r.st
	}
	r.checked = now
	if fi, err := os.Stat(r.path); err == nil && !fi.ModTime().Equal(r.mtime) {
		if st, err := loadRegistry(r.path); err == nil {
			r.st, r.mtime = st, fi.ModTime()
		}
	}
	return r.st
}

// AccountOf implements Payers.
func (r *Registry) AccountOf(_ context.Context, signer peer.ID) (peer.ID, bool) {
	st := r.state()
	if _, ok := st.accounts[signer]; ok {
		return signer, true
	}
	a, ok := st.owner[signer]
	return a, ok
}

// Balance implements Payers: the account's credit in the file.
func (r *Registry) Balance(_ context.Context, account peer.ID) uint64 {
	return r.state().accounts[account].Credit
}

// Authorized implements Payers and receipt.Signers.
func (r *Registry) Authorized(account, signer peer.ID, _ uint64) error {
	st := r.state()
	if _, ok := st.accounts[account]; !ok {
		return fmt.Errorf("account %s is not in this node's registry: %w", account, receipt.ErrUnknownSigner)
	}
	if signer == account || st.owner[signer] == account {
		return nil
	}
	return fmt.Errorf("key %s does not sign for %s: %w", signer, account, receipt.ErrUnknownSigner)
}

// SpendLeft implements Payers: the local registry sets no spend limits.
func (r *Registry) SpendLeft(context.Context, peer.ID, peer.ID) (uint64, bool) { return 0, false }
