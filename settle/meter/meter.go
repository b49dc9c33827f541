package meter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Defaults of Config.
const (
	DefaultAuthorizationTTL = 5 * time.Minute
	DefaultMaxTokens        = 4096
)

// Pool is the part of the receipt pool the meter uses: credit
// reservations, replay checks and storing receipts; *pool.Pool is one.
type Pool interface {
	// Reserve holds maxCharge against the account's balance and the
	// session keys' limits until release is called.
	Reserve(account peer.ID, balance, maxCharge uint64, limits ...pool.KeyLimit) (release func(), err error)
	// Has reports whether the pool holds a receipt with this id.
	Has(ctx context.Context, id pool.ID) (bool, error)
	// AddVerified stores and publishes a receipt this node signed or has
	// verified.
	AddVerified(ctx context.Context, sr *receipt.SignedReceipt) (pool.Entry, error)
}

// Config configures a Meter.
type Config struct {
	// NetworkID is the network's id, named in every authorization.
	NetworkID string
	// Key is the node's key: it signs receipts, and its peer ID is the
	// node. Required.
	Key crypto.PrivKey
	// Pool holds reservations and receipts. Required.
	Pool Pool
	// Payers knows who may pay; nil when nobody's credit is known here
	// (a gateway, whose user pays wherever the request is served).
	Payers Payers
	// LocalPrices gives the prices of the models this node serves; ok is
	// false for a model not served here. Required.
	LocalPrices PriceFunc
	// RegistryPrices, when set, is the settlement chain's model registry,
	// consulted for models not served here before their manifests.
	RegistryPrices PriceFunc
	// ManifestPrices looks up the prices of a model's signed manifest.
	ManifestPrices ManifestPrices
	// Discounts, when set, gives the staking discounts (DESIGN §9.2):
	// authorizations signed here quote the paying account's effective
	// prices, and those served here must. Nil (a gateway, a network
	// without a chain) means list prices for everyone.
	Discounts Discounts
	// OpenKey, when set, pays for requests that carry no API key (a
	// development network's open access).
	OpenKey crypto.PrivKey
	// UserKey, when set, signs every authorization: a gateway signs as
	// its user.
	UserKey crypto.PrivKey
	// Accounts, when set and Payers is nil, says which account a session
	// key signs for (a gateway, which knows nobody's credit: the session
	// keys of the network's genesis). A key it does not know signs for
	// itself, as an account's own key does.
	Accounts Accounts
	// EntryNode names this node as the entry node of the authorizations
	// it signs (not for a gateway, which earns no routing fee).
	EntryNode bool
	// AuthorizationTTL is how long an authorization the node signs is
	// valid (default DefaultAuthorizationTTL).
	AuthorizationTTL time.Duration
	// MaxTokens caps the output tokens of a request, and is its output
	// budget when it names none (default DefaultMaxTokens).
	MaxTokens uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the meter's warnings (default: discarded).
	Logger *slog.Logger
}

// Accounts says which account a key signs for.
type Accounts interface {
	// AccountOf returns the account that signer (an account's own key or
	// one of its session keys) signs for.
	AccountOf(ctx context.Context, signer peer.ID) (peer.ID, bool)
}

// Discounts gives the staking discounts of DESIGN §9.2; settle/chain's
// Discounts is one.
type Discounts interface {
	// Discount returns the input and output prices account (an account,
	// not a session key) pays for model in an authorization issued at atMs,
	// usd base units per 1M tokens, and its discount off the list prices
	// in bps; ok is false when the model is not registered (the list
	// prices apply).
	Discount(ctx context.Context, account peer.ID, model string, atMs uint64) (in, out uint64, bps uint32, ok bool, err error)
}

// Meter pays for the requests a node takes and serves.
type Meter struct {
	log     *slog.Logger
	netID   string
	self    peer.ID
	key     crypto.PrivKey
	pool    Pool
	payers  Payers
	local   PriceFunc
	quotes  *quotes
	disc    Discounts
	openKey crypto.PrivKey
	userKey crypto.PrivKey
	accts   Accounts
	entry   bool
	ttl     time.Duration
	maxTok  uint64
	now     func() time.Time

	mu       sync.Mutex
	inFlight map[[32]byte]bool // authorizations being served here
}

// New returns a Meter.
func New(cfg Config) (*Meter, error) {
	if cfg.Key == nil {
		return nil, errors.New("meter: no node key")
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("meter: node key: %w", err)
	}
	if cfg.Pool == nil {
		return nil, errors.New("meter: no receipt pool")
	}
	if cfg.LocalPrices == nil {
		return nil, errors.New("meter: no local prices")
	}
	if cfg.AuthorizationTTL <= 0 {
		cfg.AuthorizationTTL = DefaultAuthorizationTTL
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Meter{
		log: cfg.Logger, netID: cfg.NetworkID, self: self, key: cfg.Key, pool: cfg.Pool, payers: cfg.Payers,
		local: cfg.LocalPrices, disc: cfg.Discounts, openKey: cfg.OpenKey, userKey: cfg.UserKey, accts: cfg.Accounts, entry: cfg.EntryNode,
		ttl: cfg.AuthorizationTTL, maxTok: cfg.MaxTokens, now: cfg.Now, inFlight: map[[32]byte]bool{},
		quotes: &quotes{local: cfg.LocalPrices, registry: cfg.RegistryPrices, manifest: cfg.ManifestPrices,
			now: cfg.Now, known: map[string]quoted{}},
	}, nil
}

// Signers returns what the node knows of which keys sign for which
// accounts, for receipt.Checker; nil when it knows nobody's.
func (m *Meter) Signers() receipt.Signers {
	if m.payers == nil {
		return nil
	}
	return m.payers
}

// Quote returns the prices an authorization for model names (usd base
// units per 1M input and output tokens), or the error a client is sent.
func (m *Meter) Quote(ctx context.Context, model string) (in, out uint64, err error) {
	return m.quotes.quote(ctx, model)
}

// Price is what an account pays for a model: the list prices, the
// effective prices (the list prices less its staking discount, never
// below the tier floor) and the discount, prices in usd base units per
// 1M tokens.
type Price struct {
	ListInput, ListOutput uint64
	Input, Output         uint64
	DiscountBps           uint32
}

// PriceFor returns what account pays for model in an authorization
// issued at: the quoted (list) prices less the account's staking discount
// where the meter knows discounts.
func (m *Meter) PriceFor(ctx context.Context, account peer.ID, model string, at time.Time) (Price, error) {
	in, out, err := m.Quote(ctx, model)
	if err != nil {
		return Price{}, err
	}
	p := Price{ListInput: in, ListOutput: out, Input: in, Output: out}
	if m.disc == nil {
		return p, nil
	}
	din, dout, bps, ok, err := m.disc.Discount(ctx, account, model, uint64(at.UnixMilli()))
	if err != nil {
		return Price{}, runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
			"reading the staking discount of %s on %q failed: %v", account, model, err)
	}
	if ok {
		p.Input, p.Output, p.DiscountBps = din, dout, bps
	}
	return p, nil
}

// checkPrice refuses, before anything is served, an authorization whose
// prices are not what its account pays for the model here: this node's
// list prices less the account's discount in the epoch the authorization
// was issued in. Without discounts the list prices must be quoted.
func (m *Meter) checkPrice(ctx context.Context, a *receipt.Authorization) *runtime.Error {
	lin, lout, ok := m.local(a.Model)
	if !ok {
		return nil // not served here: the serving node checks
	}
	in, out, bps := lin, lout, uint32(0)
	if m.disc != nil {
		din, dout, dbps, ok, err := m.disc.Discount(ctx, a.Account, a.Model, a.IssuedAtMs)
		if err != nil {
			return runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
				"reading the staking discount of %s on %q failed: %v", a.Account, a.Model, err)
		}
		if ok {
			in, out, bps = din, dout, dbps
		}
	}
	if a.InputPrice == in && a.OutputPrice == out {
		return nil
	}
	return runtime.Errorf(http.StatusUnauthorized, runtime.ErrTypeInvalidRequest, "",
		"the authorization quotes %d/%d per 1M tokens for %s; account %s pays %d/%d here "+
			"(list price %d/%d, staking discount %d bps in the authorization's epoch)",
		a.InputPrice, a.OutputPrice, a.Model, a.Account, in, out, lin, lout, bps).WithCode("price_mismatch")
}

// Begin checks an HTTP request's credentials and makes its payment, with
// its maximum charge held against the account: req.Payment is set (and
// req.Payee when the client named it). The error, a 401 or 402, is sent to
// the client as is. The ticket's Close releases the reservation.
func (m *Meter) Begin(r *http.Request, req *runtime.Request) (*Ticket, *runtime.Error) {
	ctx := r.Context()
	var g *grant
	var rerr *runtime.Error
	if h := r.Header.Get(receipt.AuthorizationHeader); h != "" {
		g, rerr = m.clientSigned(ctx, h, req)
	} else {
		g, rerr = m.signFor(ctx, r.Header.Get("Authorization"), req)
	}
	if rerr != nil {
		return nil, rerr
	}
	req.Payment = g
	return &Ticket{m: m, g: g}, nil
}

func unauthorized(format string, args ...any) *runtime.Error {
	return runtime.Errorf(http.StatusUnauthorized, runtime.ErrTypeInvalidRequest, "", format, args...).WithCode("invalid_api_key")
}

// signFor makes the payment of a request signed with the key the client
// presented (Authorization: Bearer fomo_sk_…), the open-access key, or
// the gateway user's key.
func (m *Meter) signFor(ctx context.Context, header string, req *runtime.Request) (*grant, *runtime.Error) {
	sk, rerr := m.signingKey(header)
	if rerr != nil {
		return nil, rerr
	}
	signer, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, unauthorized("invalid API key: %v", err)
	}
	account := signer
	if m.payers == nil && m.accts != nil {
		if a, ok := m.accts.AccountOf(ctx, signer); ok {
			account = a
		}
	}
	if m.payers != nil {
		a, ok := m.payers.AccountOf(ctx, signer)
		if !ok {
			return nil, unauthorized("API key %s is not a session key of any account this node knows", signer)
		}
		account = a
		// A session key must still sign for its account (not expired, not
		// revoked) when the node serves the request itself: no provider
		// checks it after this node.
		if signer != account {
			if err := m.payers.Authorized(account, signer, uint64(m.now().UnixMilli())); err != nil {
				return nil, unauthorized("API key %s: %v", signer, err)
			}
		}
	}
	// The authorization quotes the account's prices at its issue time:
	// its discount is that of the epoch it is issued in.
	now := m.now()
	price, err := m.PriceFor(ctx, account, req.Model, now)
	if err != nil {
		return nil, runtime.AsError(err)
	}
	in, out := price.Input, price.Output
	maxOut := requestMaxTokens(req.Body, m.maxTok)
	maxCharge, err := receipt.MaxCharge(req.Body, maxOut, in, out)
	if err != nil {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "max_tokens", "the request's maximum charge overflows")
	}
	g := &grant{m: m, sk: sk, price: price}
	if rerr := m.reserve(ctx, g, account, signer, maxCharge); rerr != nil {
		return nil, rerr
	}
	a := receipt.NewAuthorization(m.netID, account, req.Model, now, m.ttl)
	a.Signer = signer
	if m.entry {
		a.EntryNode = m.self
	}
	a.MaxOutputTokens, a.MaxCharge = maxOut, maxCharge
	a.InputPrice, a.OutputPrice = in, out
	a.RequestSHA256 = sha256.Sum256(req.Body)
	g.base = a
	return g, nil
}

// signingKey returns the key that signs a request's authorization: the
// session key of the Authorization header, else the gateway user's key,
// else the open-access key. OpenAI SDKs always send an API key: where a
// key of this node pays for requests without one, a bearer token that is
// not a session key (a placeholder such as "sk-anything") is taken as no
// key. A token that claims to be a session key and is not one is refused.
func (m *Meter) signingKey(header string) (crypto.PrivKey, *runtime.Error) {
	fallback := m.userKey
	if fallback == nil {
		fallback = m.openKey
	}
	if header == "" {
		if fallback == nil {
			return nil, unauthorized("you didn't provide an API key: send \"Authorization: Bearer %s…\" with a session key of your account", receipt.SessionKeyPrefix)
		}
		return fallback, nil
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, unauthorized("the Authorization header must be \"Bearer %s…\"", receipt.SessionKeyPrefix)
	}
	tok = strings.TrimSpace(tok)
	if strings.HasPrefix(tok, receipt.SessionKeyPrefix) {
		k, err := receipt.DecodeSessionKey(tok)
		if err != nil {
			return nil, unauthorized("invalid API key: %v", err)
		}
		return k, nil
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, unauthorized("invalid API key: this node takes session keys (\"Authorization: Bearer %s…\", "+
		"made by `fomo key authorize`); the key sent is not one", receipt.SessionKeyPrefix)
}

// clientSigned makes the payment of a request with an authorization the
// client signed itself.
func (m *Meter) clientSigned(ctx context.Context, h string, req *runtime.Request) (*grant, *runtime.Error) {
	env, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return nil, unauthorized("%s is not base64: %v", receipt.AuthorizationHeader, err)
	}
	sa, err := receipt.VerifyAuthorization(ctx, env, receipt.Checker{NetworkID: m.netID, Signers: m.Signers()})
	if err != nil {
		return nil, unauthorized("%s: %v", receipt.AuthorizationHeader, err)
	}
	if rerr := m.matches(sa, req); rerr != nil {
		return nil, rerr
	}
	// One authorization, one serving node: sent to several nodes at once,
	// only its payee serves it (the others forward it there).
	if sa.Authorization.Node == "" {
		return nil, unauthorized("%s names no node: a client-signed authorization must name the node that serves it "+
			"(its payee; GET /api/v1/prices/%s answers with one)", receipt.AuthorizationHeader, req.Model)
	}
	req.Payee = sa.Authorization.Node.String()
	g := &grant{m: m, env: env, auth: sa, id: receipt.ID(env)}
	// For the fomo object: the list prices and the account's discount
	// (the quoted prices themselves are checked where it is served).
	if p, err := m.PriceFor(ctx, sa.Authorization.Account, req.Model, time.UnixMilli(int64(sa.Authorization.IssuedAtMs))); err == nil {
		g.price = p
	}
	if rerr := m.reserve(ctx, g, sa.Authorization.Account, sa.Authorization.Signer, sa.Authorization.MaxCharge); rerr != nil {
		return nil, rerr
	}
	return g, nil
}

// matches checks that an authorization pays for this request, now.
func (m *Meter) matches(sa *receipt.SignedAuthorization, req *runtime.Request) *runtime.Error {
	a := &sa.Authorization
	if a.Model != req.Model {
		return unauthorized("the authorization is for model %q, the request for %q", a.Model, req.Model)
	}
	if a.RequestSHA256 != sha256.Sum256(req.Body) {
		return unauthorized("the authorization's request_sha256 is not the SHA-256 of the request body")
	}
	now := uint64(m.now().UnixMilli())
	skew := uint64(receipt.ClockSkew.Milliseconds())
	if a.ExpiresAtMs+skew < now {
		return unauthorized("the authorization expired at %s", time.UnixMilli(int64(a.ExpiresAtMs)).UTC().Format(time.RFC3339))
	}
	if a.IssuedAtMs > now+skew {
		return unauthorized("the authorization is issued in the future (%s)", time.UnixMilli(int64(a.IssuedAtMs)).UTC().Format(time.RFC3339))
	}
	return nil
}

// reserve holds maxCharge against the account's credit until the request
// ends (402 insufficient_quota when balance − pending − max_charge < 0),
// and, when a session key signs, against what the key may still spend
// under its spend limit, counting its receipts not yet settled and its
// requests in progress.
func (m *Meter) reserve(ctx context.Context, g *grant, account, signer peer.ID, maxCharge uint64) *runtime.Error {
	g.release = func() {}
	if m.payers == nil {
		return nil
	}
	var limits []pool.KeyLimit
	if signer != "" && signer != account {
		if left, limited := m.payers.SpendLeft(ctx, account, signer); limited {
			limits = append(limits, pool.KeyLimit{Key: signer, Left: left})
		}
	}
	release, err := m.pool.Reserve(account, m.payers.Balance(ctx, account), maxCharge, limits...)
	if err != nil {
		var q *pool.QuotaError
		if errors.As(err, &q) {
			return runtime.Errorf(http.StatusPaymentRequired, runtime.ErrTypeInsufficientQuota, "",
				"account %s cannot cover this request: balance %s usd, pending %s usd, maximum charge %s usd",
				account, econ.FormatAmount(q.Balance), econ.FormatAmount(q.Pending), econ.FormatAmount(q.MaxCharge)).WithCode("insufficient_quota")
		}
		var kl *pool.KeyLimitError
		if errors.As(err, &kl) {
			return runtime.Errorf(http.StatusPaymentRequired, runtime.ErrTypeInsufficientQuota, "",
				"session key %s cannot cover this request: %s usd left of its spend limit, pending %s usd, maximum charge %s usd",
				kl.Key, econ.FormatAmount(kl.Left), econ.FormatAmount(kl.Pending), econ.FormatAmount(kl.MaxCharge)).WithCode("insufficient_quota")
		}
		return runtime.AsError(err)
	}
	g.release = release
	return nil
}

// requestMaxTokens returns the request's max_completion_tokens or
// max_tokens, capped at def, or def when it sets neither.
func requestMaxTokens(body []byte, def uint64) uint64 {
	var r struct {
		MaxTokens           *uint64 `json:"max_tokens"`
		MaxCompletionTokens *uint64 `json:"max_completion_tokens"`
	}
	_ = json.Unmarshal(body, &r)
	for _, v := range []*uint64{r.MaxCompletionTokens, r.MaxTokens} {
		if v != nil && *v > 0 {
			return min(*v, def)
		}
	}
	return def
}

// grant is the payment of a request taken at this node's HTTP API. An
// authorization the node signs for its client (with the client's session
// key, the open-access key or a gateway's user key) names the one node
// that serves it, so it is signed only once that node is known: here or
// the provider the router picked. A client-signed one names its payee
// already.
type grant struct {
	m       *Meter
	release func() // releases the entry node's reservation
	price   Price  // the account's, at the authorization's issue time

	sk   crypto.PrivKey        // the client's key; nil when the client signed
	base receipt.Authorization // what sk signs, without its payee

	mu     sync.Mutex
	env    []byte
	auth   *receipt.SignedAuthorization
	id     [32]byte
	own    *receipt.SignedReceipt // signed here, already in the pool
	remote []byte                 // signed by the provider, not yet checked
}

// For implements runtime.Payment.
func (g *grant) For(node string) ([]byte, error) {
	id, err := peer.Decode(node)
	if err != nil {
		return nil, fmt.Errorf("payee %q: %w", node, err)
	}
	env, _, err := g.forNode(id)
	return env, err
}

// Paid implements runtime.Payment: the provider's receipt, checked by
// Ticket.Finish.
func (g *grant) Paid(env []byte) {
	g.mu.Lock()
	g.remote = env
	g.mu.Unlock()
}

// forNode returns the authorization naming node as its payee: the client's
// own, or one signed now with the client's key.
func (g *grant) forNode(node peer.ID) ([]byte, *receipt.SignedAuthorization, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sk == nil || g.auth != nil && g.auth.Authorization.Node == node {
		return g.env, g.auth, nil
	}
	a := g.base
	a.Node = node
	env, err := receipt.SignAuthorization(a, g.sk)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the authorization: %w", err)
	}
	sa, err := receipt.OpenAuthorization(env)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the authorization: %w", err)
	}
	g.env, g.auth, g.id = env, sa, receipt.ID(env)
	return env, sa, nil
}

// Ticket is one request taken at the HTTP API.
type Ticket struct {
	m    *Meter
	g    *grant
	once sync.Once
}

// ReceiptID is the hex id of the request's receipt: known once the
// backend accepted the request (its authorization names the serving node),
// before the response starts (the X-Fomo-Receipt header).
func (t *Ticket) ReceiptID() string {
	t.g.mu.Lock()
	id := t.g.id
	t.g.mu.Unlock()
	return hex.EncodeToString(id[:])
}

// Pricing returns the model's list prices and the staking discount (bps)
// of the request's account at the authorization's issue time, for the
// fomo object of the response (zeros when they could not be read).
func (t *Ticket) Pricing() (listIn, listOut uint64, discountBps uint32) {
	p := t.g.price
	return p.ListInput, p.ListOutput, p.DiscountBps
}

// Close releases the request's reservation. It is idempotent.
func (t *Ticket) Close() { t.once.Do(t.g.release) }

// Finish returns the request's receipt once its stream s has ended; nil
// when there is none (nothing was delivered). A receipt this node signed
// is in the pool already; one signed by the provider is checked — signed
// by the serving node, for this authorization — and stored.
func (t *Ticket) Finish(ctx context.Context, s runtime.Stream) (*receipt.SignedReceipt, error) {
	g := t.g
	g.mu.Lock()
	sr, env, id := g.own, g.remote, g.id
	g.mu.Unlock()
	if sr == nil {
		if env == nil {
			return nil, nil
		}
		var err error
		sr, err = receipt.Verify(ctx, env, receipt.Checker{NetworkID: t.m.netID})
		if err != nil {
			return nil, fmt.Errorf("the serving node's receipt: %w", err)
		}
		if sr.ID() != id {
			return nil, errors.New("the serving node's receipt is for another authorization")
		}
		if _, err := t.m.pool.AddVerified(ctx, sr); err != nil && !errors.Is(err, pool.ErrDuplicate) {
			return nil, fmt.Errorf("storing the receipt: %w", err)
		}
	}
	if u := s.Usage(); uint64(u.PromptTokens) != sr.Receipt.InputTokens || uint64(u.CompletionTokens) != sr.Receipt.OutputTokens {
		t.m.log.Warn("receipt counts differ from the response's usage", "receipt_id", t.ReceiptID(), "node", sr.Receipt.Node,
			"receipt_input", sr.Receipt.InputTokens, "receipt_output", sr.Receipt.OutputTokens,
			"usage_input", u.PromptTokens, "usage_output", u.CompletionTokens)
	}
	t.Close()
	return sr, nil
}
