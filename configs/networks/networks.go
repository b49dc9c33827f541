// Package networks defines fomo networks: the genesis file that names a
// network and fixes its parameters, the network_id derived from it, and the
// protocol IDs, gossip topics and DHT prefix that carry that id so nodes of
// different networks never exchange application messages.
//
// A genesis is a TOML file decoded strictly: an unknown key is an error that
// names it. The devnet genesis is embedded ([Devnet]); any other is read with
// [Load].
//
// # Canonical form and network_id
//
// network_id is the first 8 bytes, hex encoded, of the SHA-256 of the
// genesis's canonical encoding. The canonical encoding is built from the
// parsed [Genesis], not from the file bytes, so comments, whitespace, key
// order and number spelling (1_000 or 1000) do not change the id:
//
//   - every struct becomes a JSON object whose keys are the TOML key names,
//     written in byte order of the key;
//   - fields holding their type's zero value (0, "", false, empty list,
//     zero time) are omitted, so adding an optional parameter in a later
//     release does not change the id of a genesis that does not set it;
//   - the exception is the [economics] section: it is written resolved
//     ([Economics.Resolved]), every parameter with its value or its
//     default, zero included, so the id commits to every economic
//     parameter whether the file spells it out or not;
//   - integers are written in decimal, strings as JSON strings without HTML
//     escaping, times as RFC 3339 in UTC with nanoseconds only when present,
//     durations in Go syntax ("1h0m0s");
//   - lists keep their order; there is no insignificant whitespace.
package networks

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	_ "embed"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/fomonet/fomo/configs"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

//go:embed devnet.toml
var devnetTOML []byte

// DevnetTOML returns the embedded devnet genesis file.
func DevnetTOML() []byte { return slices.Clone(devnetTOML) }

// Devnet returns the embedded devnet genesis.
func Devnet() *Genesis {
	g, err := Parse(devnetTOML)
	if err != nil {
		panic("networks: embedded devnet genesis: " + err.Error())
	}
	return g
}

// DevnetProtocolKey returns the devnet's protocol key, derived from a public
// seed so that anyone running a devnet can sign protocol transactions. It
// must never be used on another network.
func DevnetProtocolKey() crypto.PrivKey {
	seed := sha256.Sum256([]byte("fomo/devnet/protocol-key"))
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	return sk
}

// Duration is a time.Duration written in TOML as a Go duration string
// ("1h", "90s").
type Duration = configs.Duration

// Genesis is a network's genesis file.
type Genesis struct {
	// Name is the network's human name, [a-z0-9-]{1,32}.
	Name string `toml:"name"`
	// Development marks a network for development only: nodes accept
	// settings that are unsafe where credit has value, such as
	// auth.open_access_key. Like every value, it is part of the network id.
	Development bool `toml:"development"`
	// GenesisTime is the start of epoch 0.
	GenesisTime time.Time `toml:"genesis_time"`
	// ProtocolKey is the protocol account's peer ID.
	ProtocolKey string `toml:"protocol_key"`
	// EpochLength is the length of a settlement epoch in block time.
	EpochLength Duration `toml:"epoch_length"`
	// Bootstrap lists bootstrap peers as multiaddrs ending in /p2p/<id>.
	Bootstrap []string `toml:"bootstrap"`
	// Chain holds the settlement chain's parameters.
	Chain Chain `toml:"chain"`
	// Economics holds every economic parameter, each defaulted when absent.
	Economics Economics `toml:"economics"`
	// Tiers is the genesis tier catalogue (DESIGN §9.1).
	Tiers []Tier `toml:"tiers"`
	// Balances are the initial account balances.
	Balances []Balance `toml:"balances"`
	// Validators are the initial validators. Each is also a registered
	// node whose bond is its power × chain.power_unit.
	Validators []Validator `toml:"validators"`
	// SessionKeys are session keys authorized at genesis.
	SessionKeys []SessionKey `toml:"session_keys"`
	// Models are models registered at genesis.
	Models []Model `toml:"models"`
}

// SessionKey is a session key an account authorized at genesis.
type SessionKey struct {
	Account    string    `toml:"account"`
	Key        string    `toml:"key"`
	SpendLimit uint64    `toml:"spend_limit"`
	ExpiresAt  time.Time `toml:"expires_at"`
}

// Model is a model registered at genesis, with the nodes serving it.
type Model struct {
	Name           string   `toml:"name"`
	Issuer         string   `toml:"issuer"`
	ManifestSHA256 string   `toml:"manifest_sha256"`
	Tier           string   `toml:"tier"`
	InputPrice     uint64   `toml:"input_price"`
	OutputPrice    uint64   `toml:"output_price"`
	Nodes          []string `toml:"nodes"`
}

// Chain holds settlement chain parameters.
type Chain struct {
	// MaxValidators bounds the validator set.
	MaxValidators uint32 `toml:"max_validators"`
	// PowerUnit is the bond (flock base units) per unit of voting power.
	PowerUnit uint64 `toml:"power_unit"`
	// EpochGrace is how long after an epoch's end it closes.
	EpochGrace Duration `toml:"epoch_grace"`
}

// Tier is one entry of the tier catalogue.
type Tier struct {
	Name           string `toml:"name"`
	CostPerMtok    uint64 `toml:"cost_per_mtok"`
	MinInputPrice  uint64 `toml:"min_input_price"`
	MinOutputPrice uint64 `toml:"min_output_price"`
	RaiseMin       uint64 `toml:"raise_min"`
	RaiseMax       uint64 `toml:"raise_max"`
}

// Balance is an initial account balance, in base units.
type Balance struct {
	Account string `toml:"account"`
	USD     uint64 `toml:"usd"`
	Flock   uint64 `toml:"flock"`
}

// Validator is an initial validator.
type Validator struct {
	PeerID string `toml:"peer_id"`
	Power  uint64 `toml:"power"`
}

// FieldError is a genesis error about one key.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Load reads and validates the genesis file at path.
func Load(path string) (*Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	g, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("genesis %s: %w", path, err)
	}
	return g, nil
}

// Parse decodes a genesis document strictly and validates it.
func Parse(b []byte) (*Genesis, error) {
	var g Genesis
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&g)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return nil, fmt.Errorf("line %d: %s: %s", perr.Position.Line, perr.LastKey, perr.Message)
			}
			return nil, fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
		}
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for _, k := range und {
			errs = append(errs, &FieldError{Key: k.String(), Msg: "unknown key"})
		}
		return nil, errors.Join(errs...)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// Validate checks every value and returns all problems, each naming its key.
func (g *Genesis) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(g.Name) {
		add("name", "must be 1-32 of [a-z0-9-], got %q", g.Name)
	}
	if g.GenesisTime.IsZero() {
		add("genesis_time", "required (a TOML date-time such as 2026-01-01T00:00:00Z)")
	}
	if _, err := peer.Decode(g.ProtocolKey); err != nil {
		add("protocol_key", "must be a peer ID: %v", err)
	}
	if g.EpochLength.D() < time.Second {
		add("epoch_length", "must be at least 1s, got %s", g.EpochLength.D())
	}
	for i, a := range g.Bootstrap {
		key := fmt.Sprintf("bootstrap[%d]", i)
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			add(key, "not a multiaddr: %v", err)
			continue
		}
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			add(key, "must end in /p2p/<peer id>: %q", a)
		}
	}
	if g.Chain.EpochGrace < 0 {
		add("chain.epoch_grace", "must not be negative")
	}
	for i, b := range g.Balances {
		if _, err := peer.Decode(b.Account); err != nil {
			add(fmt.Sprintf("balances[%d].account", i), "must be a peer ID: %v", err)
		}
	}
	for i, v := range g.Validators {
		if _, err := peer.Decode(v.PeerID); err != nil {
			add(fmt.Sprintf("validators[%d].peer_id", i), "must be a peer ID: %v", err)
		}
		if v.Power == 0 {
			add(fmt.Sprintf("validators[%d].power", i), "must be positive")
		}
	}
	for i, k := range g.SessionKeys {
		if _, err := peer.Decode(k.Account); err != nil {
			add(fmt.Sprintf("session_keys[%d].account", i), "must be a peer ID: %v", err)
		}
		if _, err := peer.Decode(k.Key); err != nil {
			add(fmt.Sprintf("session_keys[%d].key", i), "must be a peer ID: %v", err)
		}
	}
	for i, m := range g.Models {
		if m.Name == "" {
			add(fmt.Sprintf("models[%d].name", i), "required")
		}
		if _, err := peer.Decode(m.Issuer); err != nil {
			add(fmt.Sprintf("models[%d].issuer", i), "must be a peer ID: %v", err)
		}
		for j, n := range m.Nodes {
			if _, err := peer.Decode(n); err != nil {
				add(fmt.Sprintf("models[%d].nodes[%d]", i, j), "must be a peer ID: %v", err)
			}
		}
	}
	g.Economics.validate(add)
	seen := map[string]bool{}
	for i, t := range g.Tiers {
		if t.Name == "" {
			add(fmt.Sprintf("tiers[%d].name", i), "required")
		} else if seen[t.Name] {
			add(fmt.Sprintf("tiers[%d].name", i), "duplicate tier %q", t.Name)
		}
		seen[t.Name] = true
		if t.MinInputPrice < t.CostPerMtok {
			add(fmt.Sprintf("tiers[%d].min_input_price", i), "must be ≥ cost_per_mtok (%d), got %d", t.CostPerMtok, t.MinInputPrice)
		}
		if t.MinOutputPrice < t.CostPerMtok {
			add(fmt.Sprintf("tiers[%d].min_output_price", i), "must be ≥ cost_per_mtok (%d), got %d", t.CostPerMtok, t.MinOutputPrice)
		}
		if t.RaiseMin > t.RaiseMax {
			add(fmt.Sprintf("tiers[%d].raise_min", i), "must be ≤ raise_max (%d), got %d", t.RaiseMax, t.RaiseMin)
		}
	}
	for i, m := range g.Models {
		j := slices.IndexFunc(g.Tiers, func(t Tier) bool { return t.Name == m.Tier })
		if j < 0 {
			add(fmt.Sprintf("models[%d].tier", i), "unknown tier %q", m.Tier)
			continue
		}
		if t := g.Tiers[j]; m.InputPrice < t.MinInputPrice {
			add(fmt.Sprintf("models[%d].input_price", i), "must be ≥ the min_input_price of tier %q (%d), got %d", t.Name, t.MinInputPrice, m.InputPrice)
		}
		if t := g.Tiers[j]; m.OutputPrice < t.MinOutputPrice {
			add(fmt.Sprintf("models[%d].output_price", i), "must be ≥ the min_output_price of tier %q (%d), got %d", t.Name, t.MinOutputPrice, m.OutputPrice)
		}
	}
	return errors.Join(errs...)
}

// Canonical returns the canonical encoding of g described in the package
// documentation.
func (g *Genesis) Canonical() []byte {
	c := *g
	c.Economics = g.Economics.Resolved()
	v := canonical(reflect.ValueOf(c))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("networks: canonical encoding: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ID returns the network_id: the first 8 bytes of sha256(Canonical()), hex.
func (g *Genesis) ID() string {
	sum := sha256.Sum256(g.Canonical())
	return hex.EncodeToString(sum[:8])
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// canonical converts v to plain JSON values (maps, slices, strings,
// numbers, booleans). Struct fields that are empty (see empty) are left out.
func canonical(v reflect.Value) any {
	t := v.Type()
	switch {
	case t == timeType:
		return v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)
	case t.Implements(textMarshalerType):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.Pointer:
		// Present (non-nil) values are written, zero included.
		return canonical(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if !empty(v.Field(i)) {
				m[name] = canonical(v.Field(i))
			}
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = canonical(v.Index(i))
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	default:
		panic("networks: no canonical form for " + t.String())
	}
}

// empty reports whether v is left out of its struct's canonical object: a
// zero value, an empty list, or a struct whose fields are all empty.
func empty(v reflect.Value) bool {
	if v.IsZero() {
		return true
	}
	switch v.Kind() {
	case reflect.Slice:
		return v.Len() == 0
	case reflect.Struct:
		if v.Type() == timeType {
			return false
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !empty(v.Field(i)) {
				return false
			}
		}
		return true
	}
	return false
}

// Prefix returns the DHT protocol prefix of network net: /fomo/<net>. The
// DHT protocol is then /fomo/<net>/kad/1.0.0.
func Prefix(net string) string { return "/fomo/" + net }

// ProtocolID returns the stream protocol ID /fomo/<net>/<name>/<version>.
func ProtocolID(net, name, version string) string {
	return "/fomo/" + net + "/" + name + "/" + version
}

// Topic returns the GossipSub topic fomo/<net>/<name>/1.
func Topic(net, name string) string { return "fomo/" + net + "/" + name + "/1" }

// Encode writes g as a genesis TOML document that Parse reads back to the
// same network id.
func (g *Genesis) Encode() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fomo genesis of network %q (network_id %s).\n\n", g.Name, g.ID())
	if err := toml.NewEncoder(&b).Encode(g); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
