package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"slices"
	"sort"

	ds "github.com/ipfs/go-datastore"

	"github.com/fomonet/fomo/settle/econ"
)

type head struct {
	Height    int64  `json:"height"`
	TimeMs    int64  `json:"time_ms"`
	NextEpoch uint64 `json:"next_epoch"`
}

// Ledger applies blocks to the state held in a datastore. It is not safe
// for concurrent use: the consensus engine drives it from one goroutine.
type Ledger struct {
	d   ds.Datastore
	log *slog.Logger
	s   kv
	gen Genesis
	hd  head
	app [32]byte
	// txIndex is the index in its block of the tx being applied.
	txIndex int
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(x *Ledger) { x.log = l } }

// ErrNoGenesis is returned by [Open] on a datastore without ledger state.
var ErrNoGenesis = errors.New("ledger: no genesis in datastore")

// New returns a ledger over d, initialised from g. It fails if d already
// holds ledger state.
func New(ctx context.Context, d ds.Datastore, g Genesis, opts ...Option) (*Ledger, error) {
	l := newLedger(d, opts)
	if _, ok, err := l.s.get(kGenesis); err != nil {
		return nil, err
	} else if ok {
		return nil, errors.New("ledger: datastore already initialised")
	}
	if err := l.initChain(ctx, g); err != nil {
		return nil, err
	}
	return l, nil
}

// Open returns a ledger over a datastore that already holds ledger state.
func Open(ctx context.Context, d ds.Datastore, opts ...Option) (*Ledger, error) {
	l := newLedger(d, opts)
	l.s.ctx = ctx
	if err := l.s.getJSON(kGenesis, &l.gen); errors.Is(err, errNotFound) {
		return nil, ErrNoGenesis
	} else if err != nil {
		return nil, err
	}
	if err := l.s.getJSON(kHead, &l.hd); err != nil {
		return nil, fmt.Errorf("ledger: read head: %w", err)
	}
	b, ok, err := l.s.get(kAppHash)
	if err != nil || !ok || len(b) != 32 {
		return nil, fmt.Errorf("ledger: read app hash: %v", err)
	}
	copy(l.app[:], b)
	return l, nil
}

func newLedger(d ds.Datastore, opts []Option) *Ledger {
	l := &Ledger{d: d, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(l)
	}
	l.s = kv{ctx: context.Background(), d: d, block: map[string][]byte{}, tx: map[string][]byte{}}
	return l
}

// Validate checks a genesis.
func (g *Genesis) Validate() error {
	if g.LateReceiptMs < 0 {
		return errors.New("ledger: genesis: late_receipt_ms < 0")
	}
	if g.EpochMs <= 0 || g.GraceMs < 0 {
		return errors.New("ledger: genesis: epoch_ms must be > 0 and grace_ms ≥ 0")
	}
	if r := g.ReceiptRetentionEpochs; r > 0 && r < g.MinRetentionEpochs() {
		return fmt.Errorf("ledger: genesis: receipt_retention_epochs %d is below %d, the epochs a receipt can still be charged in (late_receipt_ms %d + clock skew %d ms + epoch_ms %d)",
			r, g.MinRetentionEpochs(), g.LateWindowMs(), ClockSkewMs, g.EpochMs)
	}
	if g.ProtocolKey == "" || g.ProtocolKey == TreasuryAccount {
		return errors.New("ledger: genesis: protocol_key is empty or the treasury")
	}
	if err := g.Params.Validate(); err != nil {
		return fmt.Errorf("ledger: genesis: %w", err)
	}
	if e := g.Economics; e.EmissionFirstEpochFlock > e.EmissionReserveFlock {
		return errors.New("ledger: genesis: emission_first_epoch_flock above emission_reserve_flock")
	}
	if g.emissionsOn() {
		if _, err := g.EmissionParams(); err != nil {
			return fmt.Errorf("ledger: genesis: emissions: %w", err)
		}
	}
	if err := g.Economics.Validate(); err != nil {
		return fmt.Errorf("ledger: genesis: %w", err)
	}
	seen := map[string]bool{}
	for _, t := range g.Tiers {
		if !validName(t.Name) || seen[t.Name] {
			return fmt.Errorf("ledger: genesis: bad or duplicate tier %q", t.Name)
		}
		seen[t.Name] = true
		if t.MinInputPrice < t.CostPerMTok || t.MinOutputPrice < t.CostPerMTok {
			return fmt.Errorf("ledger: genesis: tier %q floors below cost", t.Name)
		}
		if t.RaiseMin > t.RaiseMax {
			return fmt.Errorf("ledger: genesis: tier %q raise_min above raise_max", t.Name)
		}
	}
	seen = map[string]bool{}
	for _, a := range g.Accounts {
		if !validName(a.ID) || seen[a.ID] {
			return fmt.Errorf("ledger: genesis: bad or duplicate account %q", a.ID)
		}
		seen[a.ID] = true
		for d := range a.Balances {
			if !validDenom(d) {
				return fmt.Errorf("ledger: genesis: account %q: bad denom %q", a.ID, d)
			}
		}
	}
	if g.MaxReceiptsPerTx < 0 {
		return errors.New("ledger: genesis: max_receipts_per_tx < 0")
	}
	nodes := map[string]bool{}
	for i, n := range g.Nodes {
		if !validName(n.ID) || nodes[n.ID] || n.Bond == 0 || n.ID == TreasuryAccount {
			return fmt.Errorf("ledger: genesis: nodes[%d]: bad or duplicate id %q, or zero bond", i, n.ID)
		}
		nodes[n.ID] = true
	}
	models := map[string]bool{}
	for i, m := range g.Models {
		if !validName(m.Name) || models[m.Name] || !validName(m.Issuer) || !isSHA256Hex(m.ManifestSHA256) {
			return fmt.Errorf("ledger: genesis: models[%d] %q: bad or duplicate name, bad issuer or manifest_sha256", i, m.Name)
		}
		models[m.Name] = true
		var t *Tier
		for j := range g.Tiers {
			if g.Tiers[j].Name == m.Tier {
				t = &g.Tiers[j]
			}
		}
		if t == nil {
			return fmt.Errorf("ledger: genesis: models[%d] %q: unknown tier %q", i, m.Name, m.Tier)
		}
		if m.InputPrice < t.MinInputPrice || m.OutputPrice < t.MinOutputPrice {
			return fmt.Errorf("ledger: genesis: models[%d] %q: prices below the floors of tier %q", i, m.Name, m.Tier)
		}
	}
	for i, n := range g.Nodes {
		for _, m := range n.Serves {
			if !models[m] {
				return fmt.Errorf("ledger: genesis: nodes[%d] serves %q, which is not a genesis model", i, m)
			}
		}
	}
	owners := map[string]string{}
	for i, k := range g.SessionKeys {
		if !validName(k.Account) || !validName(k.Key) || k.Key == k.Account || k.Account == TreasuryAccount || k.Key == TreasuryAccount {
			return fmt.Errorf("ledger: genesis: session_keys[%d]: bad account or key", i)
		}
		if o, ok := owners[k.Key]; ok && o != k.Account {
			return fmt.Errorf("ledger: genesis: session_keys[%d]: key %s belongs to two accounts", i, k.Key)
		}
		owners[k.Key] = k.Account
	}
	return nil
}

func (l *Ledger) initChain(ctx context.Context, g Genesis) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if g.MaxReceiptsPerTx == 0 {
		g.MaxReceiptsPerTx = 1000
	}
	sort.Slice(g.Tiers, func(i, j int) bool { return g.Tiers[i].Name < g.Tiers[j].Name })
	l.s.ctx = ctx
	l.gen = g
	sup := map[string]Supply{}
	mint := func(d string, v uint64) error {
		s := sup[d]
		var ok bool
		if s.Minted, ok = addOK(s.Minted, v); !ok {
			return fmt.Errorf("ledger: genesis: %s supply overflows", d)
		}
		sup[d] = s
		return nil
	}
	for _, a := range g.Accounts {
		acct := Account{Balances: map[string]uint64{}}
		for d, v := range a.Balances {
			if v == 0 {
				continue
			}
			acct.Balances[d] = v
			if err := mint(d, v); err != nil {
				return err
			}
		}
		l.s.putJSON(pAcct+a.ID, acct)
	}
	for _, n := range g.Nodes {
		if err := mint(DenomFlock, n.Bond); err != nil {
			return err
		}
		l.s.putJSON(pNode+n.ID, Node{ID: n.ID, Bond: n.Bond})
	}
	if e := g.Economics; e.FlockPoolFlock > 0 {
		pl, err := econ.SeedPool(e.FlockPoolFlock, e.FlockPoolUSD, e.SwapFeeBps)
		if err != nil {
			return fmt.Errorf("ledger: genesis: FLOCK/usd pool: %w", err)
		}
		if err := mint(DenomFlock, e.FlockPoolFlock); err != nil {
			return err
		}
		if err := mint(DenomUSD, e.FlockPoolUSD); err != nil {
			return err
		}
		l.putPool(PoolState{ID: PoolFlockUSD, DenomA: DenomFlock, DenomB: DenomUSD, Pool: pl})
	}
	if v := g.Economics.EmissionReserveFlock; v > 0 {
		if err := mint(DenomFlock, v); err != nil {
			return err
		}
		l.s.putU64(kEmReserve, v)
	}
	for _, m := range g.Models {
		var nodes []string
		for _, n := range g.Nodes {
			if slices.Contains(n.Serves, m.Name) {
				nodes = append(nodes, n.ID)
			}
		}
		sort.Strings(nodes)
		l.s.putJSON(pModel+m.Name, Model{Name: m.Name, Issuer: m.Issuer, ManifestSHA256: m.ManifestSHA256, Tier: m.Tier,
			InputPrice: m.InputPrice, OutputPrice: m.OutputPrice, Nodes: nodes})
	}
	for _, k := range g.SessionKeys {
		l.s.putJSON(pKey+k.Account+"/"+k.Key, SessionKey{Key: k.Key, SpendLimit: k.SpendLimit, ExpiresAtMs: k.ExpiresAtMs})
		l.s.put(pKeyOwner+k.Key, []byte(k.Account))
	}
	l.s.putJSON(kGenesis, g)
	l.s.putJSON(kSupply, sup)
	l.hd = head{}
	l.s.putJSON(kHead, l.hd)
	return l.s.flush(func(d [32]byte) [32]byte {
		l.app = chainHash([32]byte{}, 0, d)
		return l.app
	})
}

// Genesis returns the genesis the ledger was created with.
func (l *Ledger) Genesis() Genesis { return l.gen }

// Height returns the height of the last applied block (0 before any).
func (l *Ledger) Height() int64 { return l.hd.Height }

// NextEpoch returns the first epoch not yet closed.
func (l *Ledger) NextEpoch() uint64 { return l.hd.NextEpoch }

// EpochOf returns the epoch containing time t (ms), and false for times
// before genesis.
func (l *Ledger) EpochOf(t int64) (uint64, bool) {
	if t < l.gen.GenesisTimeMs {
		return 0, false
	}
	return uint64((t - l.gen.GenesisTimeMs) / l.gen.EpochMs), true
}

// EpochEnd returns the end (exclusive, ms) of epoch e.
func (l *Ledger) EpochEnd(e uint64) int64 { return l.gen.EpochEnd(e) }

// EpochEnd returns the end (exclusive, ms) of epoch e.
func (g *Genesis) EpochEnd(e uint64) int64 { return g.GenesisTimeMs + int64(e+1)*g.EpochMs }

// ApplyBlock applies a block: it first closes every epoch e with
// end(e) + grace ≤ block time, then applies the transactions in order, then
// commits the state. An error means the block could not be applied (bad
// height or time, or a storage failure); transaction failures are reported
// in the result.
func (l *Ledger) ApplyBlock(ctx context.Context, b Block) (BlockResult, error) {
	l.s.ctx = ctx
	if b.Height != l.hd.Height+1 {
		return BlockResult{}, fmt.Errorf("ledger: block height %d, want %d", b.Height, l.hd.Height+1)
	}
	if b.TimeMs < l.hd.TimeMs {
		return BlockResult{}, fmt.Errorf("ledger: block time %d before %d", b.TimeMs, l.hd.TimeMs)
	}
	var res BlockResult
	hd := l.hd
	hd.Height, hd.TimeMs = b.Height, b.TimeMs
	l.hd = hd
	fail := func(err error) (BlockResult, error) {
		clear(l.s.block)
		l.s.discardTx()
		_ = l.s.getJSON(kHead, &l.hd)
		return BlockResult{}, err
	}
	for b.TimeMs >= l.EpochEnd(l.hd.NextEpoch)+l.gen.GraceMs {
		if err := l.closeEpoch(l.hd.NextEpoch, b); err != nil {
			return fail(err)
		}
		l.s.commitTx()
		res.ClosedEpochs = append(res.ClosedEpochs, l.hd.NextEpoch)
		l.hd.NextEpoch++
	}
	if err := l.pruneStep(); err != nil {
		return fail(err)
	}
	l.s.commitTx()
	for i := range b.Txs {
		l.txIndex = i
		r, err := l.deliver(&b.Txs[i], b)
		if err != nil {
			return fail(err)
		}
		if r.Code == OK {
			l.s.commitTx()
		} else {
			l.s.discardTx()
		}
		res.Txs = append(res.Txs, r)
	}
	l.s.putJSON(kHead, l.hd)
	prev := l.app
	if err := l.s.flush(func(d [32]byte) [32]byte {
		l.app = chainHash(prev, b.Height, d)
		return l.app
	}); err != nil {
		l.app = prev
		return fail(err)
	}
	res.AppHash = l.app
	return res, nil
}

// appHashDomain separates ledger app hashes from any other sha256 use.
const appHashDomain = "fomo/ledger/apphash/v1"

// chainHash returns sha256(domain ‖ prev ‖ height ‖ digest), height as 8-byte
// big-endian.
func chainHash(prev [32]byte, height int64, digest [32]byte) [32]byte {
	var buf []byte
	buf = append(buf, appHashDomain...)
	buf = append(buf, prev[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(height))
	buf = append(buf, digest[:]...)
	return sha256.Sum256(buf)
}

// AppHash returns the app hash after the last block. It is incremental:
//
//	AppHash(0) = H(domain ‖ 0³² ‖ 0 ‖ W(genesis writes))
//	AppHash(h) = H(domain ‖ AppHash(h−1) ‖ h ‖ W(writes of block h))
//
// where W is the digest of a block's write set in key order (see
// writeSetDigest). Since the state after block h is a function of the
// genesis writes and every block's write set, equal app hashes mean equal
// states, and the cost per block is proportional to what the block wrote,
// not to the size of the state. [Ledger.StateHash] hashes the full state
// for audits.
func (l *Ledger) AppHash(ctx context.Context) ([32]byte, error) { return l.app, nil }

// StateHash returns sha256 over the whole committed state: every key under
// the namespace in ascending order (except /meta/apphash), each as
// len(key) ‖ key ‖ len(value) ‖ value with 8-byte big-endian lengths. It
// reads the whole state.
func (l *Ledger) StateHash(ctx context.Context) ([32]byte, error) { return hashState(ctx, l.d) }

func addOK(a, b uint64) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c == 0
}

// txErr is a transaction failure with its reason code.
type txErr struct {
	code Code
	msg  string
}

func (e *txErr) Error() string { return string(e.code) + ": " + e.msg }

func fail(c Code, format string, args ...any) *txErr {
	return &txErr{code: c, msg: fmt.Sprintf(format, args...)}
}

// deliver applies one tx to the tx layer. A returned error is a storage
// failure; a failed tx is reported in the TxResult.
func (l *Ledger) deliver(tx *Tx, b Block) (TxResult, error) {
	r, err := l.apply(tx, b)
	var te *txErr
	if errors.As(err, &te) {
		return TxResult{Code: te.code, Log: te.msg}, nil
	}
	if err != nil {
		return TxResult{}, err
	}
	return r, nil
}

func (l *Ledger) apply(tx *Tx, b Block) (TxResult, error) {
	if tx.Body == nil || !validName(tx.Account) {
		return TxResult{}, fail(CodeBadTx, "missing body or bad account")
	}
	if tx.Account == TreasuryAccount {
		return TxResult{}, fail(CodeTreasuryAccount, "the treasury sends no transactions")
	}
	acct, err := l.account(tx.Account)
	if err != nil {
		return TxResult{}, err
	}
	if tx.Nonce != acct.Nonce+1 {
		return TxResult{}, fail(CodeBadNonce, "nonce %d, want %d", tx.Nonce, acct.Nonce+1)
	}
	acct.Nonce++
	l.s.putJSON(pAcct+tx.Account, acct)
	res := TxResult{Code: OK}
	switch body := tx.Body.(type) {
	case Deposit:
		err = l.deposit(tx.Account, body)
	case *Deposit:
		err = l.deposit(tx.Account, *body)
	case Withdraw:
		err = l.withdraw(tx.Account, body)
	case *Withdraw:
		err = l.withdraw(tx.Account, *body)
	case Transfer:
		err = l.transfer(tx.Account, body)
	case *Transfer:
		err = l.transfer(tx.Account, *body)
	case AuthorizeKey:
		err = l.authorizeKey(tx.Account, body, b)
	case *AuthorizeKey:
		err = l.authorizeKey(tx.Account, *body, b)
	case RevokeKey:
		err = l.revokeKey(tx.Account, body)
	case *RevokeKey:
		err = l.revokeKey(tx.Account, *body)
	case RegisterNode:
		err = l.registerNode(tx.Account, body)
	case *RegisterNode:
		err = l.registerNode(tx.Account, *body)
	case UnbondNode, *UnbondNode:
		err = l.unbondNode(tx.Account)
	case RegisterModel:
		err = l.registerModel(tx.Account, body, b)
	case *RegisterModel:
		err = l.registerModel(tx.Account, *body, b)
	case ServeModel:
		err = l.serveModel(tx.Account, body)
	case *ServeModel:
		err = l.serveModel(tx.Account, *body)
	case TreasurySpend:
		err = l.treasurySpend(tx.Account, body)
	case *TreasurySpend:
		err = l.treasurySpend(tx.Account, *body)
	case SubmitReceipts:
		res.Receipts, err = l.submitReceipts(body, b)
	case *SubmitReceipts:
		res.Receipts, err = l.submitReceipts(*body, b)
	case Swap:
		err = l.swap(tx.Account, body)
	case *Swap:
		err = l.swap(tx.Account, *body)
	case LaunchRMO:
		err = l.launchRMO(tx.Account, body, b)
	case *LaunchRMO:
		err = l.launchRMO(tx.Account, *body, b)
	case Commit:
		err = l.commit(tx.Account, body, b)
	case *Commit:
		err = l.commit(tx.Account, *body, b)
	case Graduate:
		err = l.graduateTx(body, b)
	case *Graduate:
		err = l.graduateTx(*body, b)
	case Redeem:
		err = l.redeem(tx.Account, body, b)
	case *Redeem:
		err = l.redeem(tx.Account, *body, b)
	case ClaimVested:
		err = l.claimVested(tx.Account, body, b)
	case *ClaimVested:
		err = l.claimVested(tx.Account, *body, b)
	case Stake:
		err = l.stake(tx.Account, body, b)
	case *Stake:
		err = l.stake(tx.Account, *body, b)
	case Unstake:
		err = l.unstake(tx.Account, body, b)
	case *Unstake:
		err = l.unstake(tx.Account, *body, b)
	case ClaimUnbonded:
		err = l.claimUnbonded(tx.Account, body, b)
	case *ClaimUnbonded:
		err = l.claimUnbonded(tx.Account, *body, b)
	default:
		err = fail(CodeBadTx, "unknown body %T", tx.Body)
	}
	if err != nil {
		return TxResult{}, err
	}
	return res, nil
}

// account returns the account's state; an absent account is empty.
func (l *Ledger) account(id string) (Account, error) {
	a, _, err := lookupJSON[Account](&l.s, pAcct+id)
	return a, err
}

func (l *Ledger) putAccount(id string, a Account) {
	for d, v := range a.Balances {
		if v == 0 {
			delete(a.Balances, d)
		}
	}
	l.s.putJSON(pAcct+id, a)
}

// credit adds amount of denom to an account and clears its overdrawn mark
// when it is credited usd.
func (l *Ledger) credit(id, denom string, amount uint64) error {
	if amount == 0 {
		return nil
	}
	a, err := l.account(id)
	if err != nil {
		return err
	}
	if a.Balances == nil {
		a.Balances = map[string]uint64{}
	}
	v, ok := addOK(a.Balances[denom], amount)
	if !ok {
		return fail(CodeOverflow, "balance of %s overflows", id)
	}
	a.Balances[denom] = v
	if denom == DenomUSD {
		a.Overdrawn = false
	}
	l.putAccount(id, a)
	return nil
}

func (l *Ledger) debit(id, denom string, amount uint64) error {
	a, err := l.account(id)
	if err != nil {
		return err
	}
	if a.Balances[denom] < amount {
		return fail(CodeInsufficient, "%s has %d %s, needs %d", id, a.Balances[denom], denom, amount)
	}
	a.Balances[denom] -= amount
	l.putAccount(id, a)
	return nil
}

// supply returns the supply record of every denom.
func (l *Ledger) supply() (map[string]Supply, error) {
	m := map[string]Supply{}
	err := l.s.getJSON(kSupply, &m)
	return m, err
}

// Supply changes, recorded by every tx and step that mints, burns or
// withdraws.
const (
	supplyMint = iota
	supplyBurn
	supplyWithdraw
)

// recordSupply adds v to one counter of denom d's supply record.
func (l *Ledger) recordSupply(d string, kind int, v uint64) error {
	return l.recordSupplies(supplyChange{d, kind, v})
}

// supplyChange is an amount of a denom minted, burned or withdrawn.
type supplyChange struct {
	denom string
	kind  int // supplyMint, supplyBurn or supplyWithdraw
	v     uint64
}

// recordSupplies applies changes to the supply record, read and written
// once whatever their number.
func (l *Ledger) recordSupplies(changes ...supplyChange) error {
	var m map[string]Supply
	for _, ch := range changes {
		if ch.v == 0 {
			continue
		}
		if m == nil {
			var err error
			if m, err = l.supply(); err != nil {
				return err
			}
		}
		s := m[ch.denom]
		c := &s.Minted
		switch ch.kind {
		case supplyBurn:
			c = &s.Burned
		case supplyWithdraw:
			c = &s.Withdrawn
		}
		n, ok := addOK(*c, ch.v)
		if !ok {
			return fail(CodeOverflow, "%s supply overflows", ch.denom)
		}
		*c = n
		m[ch.denom] = s
	}
	if m != nil {
		l.s.putJSON(kSupply, m)
	}
	return nil
}

func checkAmount(denom string, amount uint64) error {
	if !validDenom(denom) {
		return fail(CodeBadDenom, "bad denom %q", denom)
	}
	if amount == 0 {
		return fail(CodeBadAmount, "amount is zero")
	}
	return nil
}

// deposit mints usd into an account. Only usd is deposited (DESIGN §8):
// FLOCK and MT are never minted by a deposit.
func (l *Ledger) deposit(from string, d Deposit) error {
	if from != l.gen.ProtocolKey {
		return fail(CodeNotProtocol, "deposit from %s", from)
	}
	if !validName(d.To) {
		return fail(CodeBadName, "bad recipient %q", d.To)
	}
	if err := checkAmount(d.Denom, d.Amount); err != nil {
		return err
	}
	if d.Denom != DenomUSD {
		return fail(CodeDepositNotUSD, "deposit of %s: only usd is deposited", d.Denom)
	}
	if err := l.recordSupply(d.Denom, supplyMint, d.Amount); err != nil {
		return err
	}
	return l.credit(d.To, d.Denom, d.Amount)
}

// withdraw moves usd or flock off chain and records it as withdrawn.
func (l *Ledger) withdraw(from string, w Withdraw) error {
	if err := checkAmount(w.Denom, w.Amount); err != nil {
		return err
	}
	if w.Denom != DenomUSD && w.Denom != DenomFlock {
		return fail(CodeNotWithdrawable, "%s cannot be withdrawn: only usd and flock leave the chain", w.Denom)
	}
	if err := l.debit(from, w.Denom, w.Amount); err != nil {
		return err
	}
	return l.recordSupply(w.Denom, supplyWithdraw, w.Amount)
}

// treasurySpend moves an amount out of the treasury account; only the
// protocol key may send it. It is a transfer: supply is unchanged.
func (l *Ledger) treasurySpend(from string, t TreasurySpend) error {
	if from != l.gen.ProtocolKey {
		return fail(CodeNotProtocol, "treasury spend from %s", from)
	}
	if !validName(t.To) {
		return fail(CodeBadName, "bad recipient %q", t.To)
	}
	if t.To == TreasuryAccount {
		return fail(CodeSelfTransfer, "treasury spend to the treasury")
	}
	if err := checkAmount(t.Denom, t.Amount); err != nil {
		return err
	}
	if err := l.debit(TreasuryAccount, t.Denom, t.Amount); err != nil {
		return err
	}
	return l.credit(t.To, t.Denom, t.Amount)
}

func (l *Ledger) transfer(from string, t Transfer) error {
	if !validName(t.To) {
		return fail(CodeBadName, "bad recipient %q", t.To)
	}
	if t.To == from {
		return fail(CodeSelfTransfer, "transfer to self")
	}
	if err := checkAmount(t.Denom, t.Amount); err != nil {
		return err
	}
	if err := l.debit(from, t.Denom, t.Amount); err != nil {
		return err
	}
	return l.credit(t.To, t.Denom, t.Amount)
}

func (l *Ledger) authorizeKey(from string, k AuthorizeKey, b Block) error {
	if !validName(k.Key) || k.Key == from {
		return fail(CodeBadName, "bad key %q", k.Key)
	}
	if k.ExpiresAtMs <= b.TimeMs {
		return fail(CodeKeyExpired, "key expires at %d, block time %d", k.ExpiresAtMs, b.TimeMs)
	}
	if _, ok, err := l.s.get(pKey + from + "/" + k.Key); err != nil {
		return err
	} else if ok {
		return fail(CodeKeyExists, "key %s already authorized", k.Key)
	}
	if owner, ok, err := l.s.get(pKeyOwner + k.Key); err != nil {
		return err
	} else if ok && string(owner) != from {
		return fail(CodeKeyExists, "key %s is a session key of another account", k.Key)
	}
	l.s.putJSON(pKey+from+"/"+k.Key, SessionKey{Key: k.Key, SpendLimit: k.SpendLimit, ExpiresAtMs: k.ExpiresAtMs})
	l.s.put(pKeyOwner+k.Key, []byte(from))
	return nil
}

func (l *Ledger) revokeKey(from string, k RevokeKey) error {
	if !validName(k.Key) {
		return fail(CodeBadName, "bad key %q", k.Key)
	}
	if _, ok, err := l.s.get(pKey + from + "/" + k.Key); err != nil {
		return err
	} else if !ok {
		return fail(CodeKeyUnknown, "key %s not authorized", k.Key)
	}
	l.s.del(pKey + from + "/" + k.Key)
	l.s.del(pKeyOwner + k.Key)
	return nil
}

func (l *Ledger) node(id string) (Node, bool, error) { return lookupJSON[Node](&l.s, pNode+id) }

func (l *Ledger) registerNode(from string, r RegisterNode) error {
	if r.Bond == 0 {
		return fail(CodeBadAmount, "bond is zero")
	}
	if err := l.debit(from, DenomFlock, r.Bond); err != nil {
		return err
	}
	n, _, err := l.node(from)
	if err != nil {
		return err
	}
	var ok bool
	n.ID = from
	if n.Bond, ok = addOK(n.Bond, r.Bond); !ok {
		return fail(CodeOverflow, "bond overflows")
	}
	l.s.putJSON(pNode+from, n)
	return nil
}

func (l *Ledger) unbondNode(from string) error {
	n, ok, err := l.node(from)
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodeNodeUnknown, "%s is not a registered node", from)
	}
	l.s.del(pNode + from)
	models, err := l.s.scan(pModel)
	if err != nil {
		return err
	}
	for _, e := range models {
		var m Model
		if err := jsonUnmarshal(e.val, &m); err != nil {
			return err
		}
		i := sort.SearchStrings(m.Nodes, from)
		if i < len(m.Nodes) && m.Nodes[i] == from {
			m.Nodes = append(m.Nodes[:i], m.Nodes[i+1:]...)
			l.s.putJSON(e.key, m)
		}
	}
	return l.credit(from, DenomFlock, n.Bond)
}

func (l *Ledger) tier(name string) (Tier, bool) {
	i := sort.Search(len(l.gen.Tiers), func(i int) bool { return l.gen.Tiers[i].Name >= name })
	if i < len(l.gen.Tiers) && l.gen.Tiers[i].Name == name {
		return l.gen.Tiers[i], true
	}
	return Tier{}, false
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (l *Ledger) registerModel(from string, r RegisterModel, b Block) error {
	if !validName(r.Name) {
		return fail(CodeBadName, "bad model name %q", r.Name)
	}
	if !isSHA256Hex(r.ManifestSHA256) {
		return fail(CodeBadTx, "manifest_sha256 must be 64 lower-case hex digits")
	}
	t, ok := l.tier(r.Tier)
	if !ok {
		return fail(CodeTierUnknown, "unknown tier %q", r.Tier)
	}
	if r.InputPrice < t.MinInputPrice || r.OutputPrice < t.MinOutputPrice {
		return fail(CodePriceBelowTier, "prices %d/%d below tier floors %d/%d", r.InputPrice, r.OutputPrice, t.MinInputPrice, t.MinOutputPrice)
	}
	if _, ok, err := l.s.get(pModel + r.Name); err != nil {
		return err
	} else if ok {
		return fail(CodeModelExists, "model %s exists", r.Name)
	}
	l.s.putJSON(pModel+r.Name, Model{
		Name: r.Name, Issuer: from, ManifestSHA256: r.ManifestSHA256, Tier: r.Tier,
		InputPrice: r.InputPrice, OutputPrice: r.OutputPrice,
	})
	if l.gen.emissionsOn() {
		// The emission age of a model without an offering counts from here.
		l.s.putU64(pEmBorn+r.Name, uint64(b.TimeMs))
	}
	return nil
}

func (l *Ledger) model(name string) (Model, bool, error) { return lookupJSON[Model](&l.s, pModel+name) }

func (l *Ledger) serveModel(from string, s ServeModel) error {
	if _, ok, err := l.node(from); err != nil {
		return err
	} else if !ok {
		return fail(CodeNodeUnknown, "%s is not a registered node", from)
	}
	m, ok, err := l.model(s.Model)
	if err != nil {
		return err
	}
	if !ok {
		return fail(CodeModelUnknown, "unknown model %q", s.Model)
	}
	i := sort.SearchStrings(m.Nodes, from)
	if i < len(m.Nodes) && m.Nodes[i] == from {
		return fail(CodeAlreadyServing, "%s already serves %s", from, s.Model)
	}
	m.Nodes = append(m.Nodes, "")
	copy(m.Nodes[i+1:], m.Nodes[i:])
	m.Nodes[i] = from
	l.s.putJSON(pModel+s.Model, m)
	return nil
}

// CheckTx reports what tx would do if applied now, against the committed
// state at the last block's time, and changes nothing. The chain calls it
// from CheckTx; its outcome can differ at delivery (other txs, epoch close).
func (l *Ledger) CheckTx(ctx context.Context, tx Tx) (TxResult, error) {
	l.s.ctx = ctx
	defer l.s.discardTx()
	return l.deliver(&tx, Block{Height: l.hd.Height + 1, TimeMs: l.hd.TimeMs})
}
