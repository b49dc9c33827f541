package node

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/p2p/infer"
	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// meter is the node's part in metered usage (DESIGN §6–§7). At the HTTP
// API it turns the client's credentials into a signed authorization and
// reserves its maximum charge against the account; where the request is
// served — here or at a provider reached over the inference protocol — the
// authorization is verified, the runtime's stream is counted, and a
// receipt is signed, persisted in the pool and then returned.
type meter struct {
	log     *slog.Logger
	netID   string
	self    peer.ID
	key     crypto.PrivKey
	payers  payers         // nil: nobody's credit is known here (a gateway)
	pool    *pool.Pool     // the node's receipt pool
	openKey crypto.PrivKey // pays for requests without an API key; may be nil
	userKey crypto.PrivKey // a gateway signs as its user; nil on nodes
	entry   bool           // name this node as the entry node
	ttl     time.Duration
	maxTok  uint64
	now     func() time.Time
	// quote gives the prices an entry node puts in an authorization;
	// local gives the prices of a model this node serves.
	quote func(ctx context.Context, model string) (in, out uint64, err error)
	local func(model string) (in, out uint64, ok bool)

	mu       sync.Mutex
	inFlight map[[32]byte]bool // authorizations being served here
}

// grant is a request's authorization as the entry node made or received it.
// An authorization the node signs for its client (with the client's
// session key, the open-access key or a gateway's user key) names the one
// node that serves it, so it is signed only once that node is known: here
// or the provider the router picked. A client-signed one names its payee
// already.
type grant struct {
	release  func() // releases the entry node's reservation
	reserved bool

	sk   crypto.PrivKey        // the client's key; nil when the client signed
	base receipt.Authorization // what sk signs, without its payee

	mu   sync.Mutex
	env  []byte
	auth *receipt.SignedAuthorization
	id   [32]byte
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

// receiptID is the id of the authorization last made for a payee, or zero.
func (g *grant) receiptID() [32]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

type grantKey struct{}

func grantFrom(ctx context.Context) (*grant, bool) {
	g, ok := ctx.Value(grantKey{}).(*grant)
	return g, ok
}

func unauthorized(format string, args ...any) *runtime.Error {
	return runtime.Errorf(http.StatusUnauthorized, runtime.ErrTypeInvalidRequest, "", format, args...).WithCode("invalid_api_key")
}

// Begin implements api.Meter.
func (m *meter) Begin(r *http.Request, req *runtime.Request) (context.Context, api.Ticket, *runtime.Error) {
	ctx := r.Context()
	var g *grant
	var rerr *runtime.Error
	if h := r.Header.Get(api.AuthorizationHeader); h != "" {
		g, rerr = m.clientSigned(ctx, h, req)
	} else {
		g, rerr = m.signFor(ctx, r.Header.Get("Authorization"), req)
	}
	if rerr != nil {
		return ctx, nil, rerr
	}
	return context.WithValue(ctx, grantKey{}, g), &ticket{m: m, g: g}, nil
}

// signFor signs an authorization for the request with the key the client
// presented (Authorization: Bearer fomo_sk_…), the open-access key, or the
// gateway user's key.
func (m *meter) signFor(ctx context.Context, header string, req *runtime.Request) (*grant, *runtime.Error) {
	var sk crypto.PrivKey
	switch {
	case header != "":
		tok, ok := strings.CutPrefix(header, "Bearer ")
		if !ok {
			return nil, unauthorized("the Authorization header must be \"Bearer fomo_sk_…\"")
		}
		k, err := receipt.DecodeSessionKey(strings.TrimSpace(tok))
		if err != nil {
			return nil, unauthorized("invalid API key: %v", err)
		}
		sk = k
	case m.userKey != nil:
		sk = m.userKey
	case m.openKey != nil:
		sk = m.openKey
	default:
		return nil, unauthorized("you didn't provide an API key: send \"Authorization: Bearer fomo_sk_…\" with a session key of your account")
	}
	signer, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, unauthorized("invalid API key: %v", err)
	}
	account := signer
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
	in, out, err := m.quote(ctx, req.Model)
	if err != nil {
		return nil, runtime.AsError(err)
	}
	maxOut := requestMaxTokens(req.Body, m.maxTok)
	maxCharge, err := receipt.MaxCharge(req.Body, maxOut, in, out)
	if err != nil {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "max_tokens", "the request's maximum charge overflows")
	}
	g := &grant{sk: sk}
	if rerr := m.reserve(ctx, g, account, signer, maxCharge); rerr != nil {
		return nil, rerr
	}
	a := receipt.NewAuthorization(m.netID, account, req.Model, m.now(), m.ttl)
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

// clientSigned accepts an authorization the client signed itself.
func (m *meter) clientSigned(ctx context.Context, h string, req *runtime.Request) (*grant, *runtime.Error) {
	env, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return nil, unauthorized("%s is not base64: %v", api.AuthorizationHeader, err)
	}
	sa, err := receipt.VerifyAuthorization(ctx, env, receipt.Checker{NetworkID: m.netID, Signers: m.signers()})
	if err != nil {
		return nil, unauthorized("%s: %v", api.AuthorizationHeader, err)
	}
	if rerr := m.matches(sa, req); rerr != nil {
		return nil, rerr
	}
	// One authorization, one serving node: sent to several nodes at once,
	// only its payee serves it (the others forward it there).
	if sa.Authorization.Node == "" {
		return nil, unauthorized("%s names no node: a client-signed authorization must name the node that serves it "+
			"(its payee; GET /api/v1/prices/%s answers with one)", api.AuthorizationHeader, req.Model)
	}
	req.Payee = sa.Authorization.Node.String()
	g := &grant{env: env, auth: sa, id: receipt.ID(env)}
	if rerr := m.reserve(ctx, g, sa.Authorization.Account, sa.Authorization.Signer, sa.Authorization.MaxCharge); rerr != nil {
		return nil, rerr
	}
	return g, nil
}

func (m *meter) signers() receipt.Signers {
	if m.payers == nil {
		return nil
	}
	return m.payers
}

// matches checks that an authorization pays for this request.
func (m *meter) matches(sa *receipt.SignedAuthorization, req *runtime.Request) *runtime.Error {
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
func (m *meter) reserve(ctx context.Context, g *grant, account, signer peer.ID, maxCharge uint64) *runtime.Error {
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
			return runtime.Errorf(http.StatusPaymentRequired, "insufficient_quota", "",
				"account %s cannot cover this request: balance %s usd, pending %s usd, maximum charge %s usd",
				account, econ.FormatAmount(q.Balance), econ.FormatAmount(q.Pending), econ.FormatAmount(q.MaxCharge)).WithCode("insufficient_quota")
		}
		var kl *pool.KeyLimitError
		if errors.As(err, &kl) {
			return runtime.Errorf(http.StatusPaymentRequired, "insufficient_quota", "",
				"session key %s cannot cover this request: %s usd left of its spend limit, pending %s usd, maximum charge %s usd",
				kl.Key, econ.FormatAmount(kl.Left), econ.FormatAmount(kl.Pending), econ.FormatAmount(kl.MaxCharge)).WithCode("insufficient_quota")
		}
		return runtime.AsError(err)
	}
	g.release, g.reserved = release, true
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

// authorizeForward is the router's authorizer: a forwarded request carries
// the authorization its entry node made, naming the provider as payee.
func (m *meter) authorizeForward(ctx context.Context, _ *runtime.Request, p peer.ID) ([]byte, error) {
	if g, ok := grantFrom(ctx); ok {
		env, _, err := g.forNode(p)
		return env, err
	}
	return nil, nil
}

// ticket is one metered HTTP request.
type ticket struct {
	m    *meter
	g    *grant
	once sync.Once
}

func (t *ticket) ReceiptID() string {
	id := t.g.receiptID()
	return hex.EncodeToString(id[:])
}

func (t *ticket) Close() { t.once.Do(t.g.release) }

// Finish checks the stream's receipt — signed by the serving node, for this
// authorization, counting what the stream reported — stores it in the pool
// and returns the fomo object.
func (t *ticket) Finish(ctx context.Context, s runtime.Stream) (json.RawMessage, error) {
	rc, ok := s.(infer.Receipter)
	if !ok {
		return nil, nil
	}
	env := rc.Receipt()
	if env == nil {
		return nil, nil
	}
	sr, err := receipt.Verify(ctx, env, receipt.Checker{NetworkID: t.m.netID})
	if err != nil {
		return nil, fmt.Errorf("the serving node's receipt: %w", err)
	}
	if sr.ID() != t.g.receiptID() {
		return nil, errors.New("the serving node's receipt is for another authorization")
	}
	u := s.Usage()
	if uint64(u.PromptTokens) != sr.Receipt.InputTokens || uint64(u.CompletionTokens) != sr.Receipt.OutputTokens {
		t.m.log.Warn("receipt counts differ from the response's usage", "receipt_id", t.ReceiptID(), "node", sr.Receipt.Node,
			"receipt_input", sr.Receipt.InputTokens, "receipt_output", sr.Receipt.OutputTokens,
			"usage_input", u.PromptTokens, "usage_output", u.CompletionTokens)
	}
	if _, err := t.m.pool.Add(ctx, env); err != nil && !errors.Is(err, pool.ErrDuplicate) {
		return nil, fmt.Errorf("storing the receipt: %w", err)
	}
	t.Close()
	return fomoObject(sr, env)
}

func fomoObject(sr *receipt.SignedReceipt, env []byte) (json.RawMessage, error) {
	id := sr.ID()
	return json.Marshal(api.Fomo{
		ReceiptID: hex.EncodeToString(id[:]), Node: sr.Receipt.Node.String(), Charge: sr.Receipt.Charge,
		InputTokens: sr.Receipt.InputTokens, OutputTokens: sr.Receipt.OutputTokens,
		Finish: string(sr.Receipt.Finish), Receipt: base64.StdEncoding.EncodeToString(env),
	})
}

// meteredBackend serves requests from the node's runtimes under an
// authorization: the entry node's (HTTP) or the one that came with a
// request over the inference protocol.
type meteredBackend struct {
	m     *meter
	inner runtime.Backend
}

func (b meteredBackend) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	m := b.m
	var env []byte
	var sa *receipt.SignedAuthorization
	release := func() {}
	if g, ok := grantFrom(ctx); ok {
		var err error
		if env, sa, err = g.forNode(m.self); err != nil {
			return nil, runtime.Errorf(http.StatusInternalServerError, runtime.ErrTypeAPI, "", "%v", err)
		}
		if n := sa.Authorization.Node; n != m.self {
			return nil, runtime.Errorf(http.StatusMisdirectedRequest, runtime.ErrTypeInvalidRequest, "",
				"the authorization names node %s as its payee: send the request there", n).WithCode("wrong_payee")
		}
		if in, out, ok := m.local(req.Model); ok && (in != sa.Authorization.InputPrice || out != sa.Authorization.OutputPrice) {
			return nil, unauthorized("the authorization quotes %d/%d per 1M tokens; model %s costs %d/%d here",
				sa.Authorization.InputPrice, sa.Authorization.OutputPrice, req.Model, in, out)
		}
	} else if in, ok := infer.IncomingFromContext(ctx); ok && len(in.Authorization) > 0 {
		// A provider verifies what it is asked to serve, with the prices
		// of its own models, and holds the charge against the account.
		env = in.Authorization
		var err error
		sa, err = receipt.VerifyAuthorization(ctx, env, receipt.Checker{
			NetworkID: m.netID, Signers: m.signers(), Prices: pricesFunc(m.local)})
		if err != nil {
			return nil, unauthorized("authorization refused: %v", err)
		}
		// Only the payee serves an authorization: one sent to several
		// nodes at once is paid for once and served once.
		if n := sa.Authorization.Node; n != m.self {
			if n == "" {
				return nil, unauthorized("the authorization names no payee; this node serves only authorizations naming it")
			}
			return nil, unauthorized("the authorization names node %s as its payee, not this node", n)
		}
		if rerr := m.matches(sa, req); rerr != nil {
			return nil, rerr
		}
		g := &grant{}
		if rerr := m.reserve(ctx, g, sa.Authorization.Account, sa.Authorization.Signer, sa.Authorization.MaxCharge); rerr != nil {
			return nil, rerr
		}
		release = g.release
	} else {
		return nil, unauthorized("the request carries no authorization")
	}
	id := receipt.ID(env)
	a := &sa.Authorization
	// A prompt that alone could cost more than max_charge could not be
	// billed: refuse it before running it. The body's length bounds its
	// tokens.
	if c, err := receipt.MaxCharge(req.Body, 0, a.InputPrice, a.OutputPrice); err != nil || c > a.MaxCharge {
		release()
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "",
			"the authorization's max_charge %d does not cover this request's %d bytes of input at %d per 1M tokens",
			a.MaxCharge, len(req.Body), a.InputPrice).WithCode("max_charge_too_low")
	}
	// The runtime generates no more than the authorization pays for: the
	// request it runs has max_tokens clamped to the output budget left
	// after the largest input the body can hold.
	run, rerr := clampRequest(req, a)
	if rerr != nil {
		release()
		return nil, rerr
	}
	if held, err := m.pool.Has(ctx, pool.ID(id)); err != nil || held {
		release()
		if err != nil {
			return nil, runtime.AsError(err)
		}
		return nil, runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "",
			"authorization %x was already served: one authorization pays for one request", id[:8]).WithCode("authorization_replayed")
	}
	m.mu.Lock()
	if m.inFlight[id] {
		m.mu.Unlock()
		release()
		return nil, runtime.Errorf(http.StatusConflict, runtime.ErrTypeInvalidRequest, "",
			"authorization %x is being served already", id[:8]).WithCode("authorization_replayed")
	}
	m.inFlight[id] = true
	m.mu.Unlock()
	done := func() {
		release()
		m.mu.Lock()
		delete(m.inFlight, id)
		m.mu.Unlock()
	}
	started := m.now()
	s, err := b.inner.Do(ctx, run)
	if err != nil {
		done()
		return nil, err
	}
	return &meteredStream{Stream: s, ctx: ctx, m: m, env: env, auth: sa, started: started, h: sha256.New(), done: done}, nil
}

// clampRequest returns req with its output capped at what a pays for:
// max_tokens (and max_completion_tokens, where the client set it) at most
// a.MaxOutputTokens and the output budget of a.MaxCharge after an input
// as long as the body, shared among the choices asked for. Embeddings
// produce no output and pass unchanged.
func clampRequest(req *runtime.Request, a *receipt.Authorization) (*runtime.Request, *runtime.Error) {
	if req.API == runtime.APIEmbedding {
		return req, nil
	}
	budget, _ := a.OutputBudget(uint64(len(req.Body)))
	if budget == 0 {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "max_tokens",
			"the authorization leaves no output tokens for this request (max_output_tokens %d, max_charge %d)",
			a.MaxOutputTokens, a.MaxCharge).WithCode("max_charge_too_low")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &fields); err != nil {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "", "the request body is not a JSON object: %v", err)
	}
	// Several choices (n, best_of) each generate up to max_tokens: the
	// budget is shared among them.
	for _, k := range []string{"n", "best_of"} {
		var v uint64
		if raw, ok := fields[k]; ok && json.Unmarshal(raw, &v) == nil && v > 1 {
			budget /= v
		}
	}
	if budget == 0 {
		return nil, runtime.Errorf(http.StatusBadRequest, runtime.ErrTypeInvalidRequest, "n",
			"the authorization's output budget cannot give one token to each of the choices asked for").WithCode("max_charge_too_low")
	}
	capped, changed := false, false
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		raw, ok := fields[k]
		if !ok || string(raw) == "null" {
			continue
		}
		capped = true
		var v uint64
		if json.Unmarshal(raw, &v) == nil && v > 0 && v <= budget {
			continue
		}
		fields[k] = json.RawMessage(strconv.FormatUint(budget, 10))
		changed = true
	}
	if !capped {
		fields["max_tokens"] = json.RawMessage(strconv.FormatUint(budget, 10))
		changed = true
	}
	if !changed {
		return req, nil // within the budget already: run the body as sent
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, runtime.Errorf(http.StatusInternalServerError, runtime.ErrTypeAPI, "", "re-encoding the request: %v", err)
	}
	run := *req
	run.Body = body
	return &run, nil
}

type pricesFunc func(model string) (in, out uint64, ok bool)

func (f pricesFunc) Prices(model string) (uint64, uint64, bool) { return f(model) }

// meteredStream counts what a runtime delivers and, at its end, signs,
// persists and publishes the receipt.
type meteredStream struct {
	runtime.Stream
	ctx     context.Context // the request's: cancelled when the client leaves
	m       *meter
	env     []byte
	auth    *receipt.SignedAuthorization
	started time.Time
	h       hash.Hash
	done    func()

	once    sync.Once
	ended   bool // Recv reached io.EOF
	failed  bool // Recv returned an error
	receipt []byte
}

func (s *meteredStream) Recv() (runtime.Event, error) {
	ev, err := s.Stream.Recv()
	if err == nil {
		s.h.Write(ev.Data)
		return ev, nil
	}
	if errors.Is(err, io.EOF) {
		s.ended = true
	} else {
		s.failed = true
	}
	s.finish()
	return ev, err
}

func (s *meteredStream) Close() error {
	err := s.Stream.Close()
	s.finish()
	return err
}

// Receipt implements infer.Receipter: the signed receipt, once the stream
// ended, or nil when it produced nothing to pay for.
func (s *meteredStream) Receipt() []byte { return s.receipt }

func (s *meteredStream) finish() {
	s.once.Do(func() {
		defer s.done()
		env, err := s.sign()
		if err != nil {
			s.m.log.Warn("no receipt for a served request", "model", s.auth.Authorization.Model, "err", err)
			return
		}
		if env == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.m.pool.Add(ctx, env); err != nil {
			s.m.log.Warn("storing our own receipt failed", "err", err)
			return
		}
		s.receipt = env
	})
}

// sign makes the receipt: input tokens as the runtime counted them, output
// tokens delivered (within the authorization's budget), the finish, and
// the charge of DESIGN §9.2.
func (s *meteredStream) sign() ([]byte, error) {
	u := s.Stream.Usage()
	finish := receipt.Finish(s.Stream.Finish())
	switch {
	case !s.ended && s.ctx.Err() != nil:
		finish = receipt.FinishCancelled // the client left
	case s.failed:
		finish = receipt.FinishError
	case !s.ended && finish != receipt.FinishError:
		finish = receipt.FinishCancelled
	case finish == "":
		finish = receipt.FinishStop
	}
	in, out := uint64(max(u.PromptTokens, 0)), uint64(max(u.CompletionTokens, 0))
	if out == 0 && (finish == receipt.FinishError || finish == receipt.FinishCancelled) {
		return nil, nil // nothing delivered, nothing to pay
	}
	if in == 0 && out == 0 {
		return nil, nil
	}
	a := &s.auth.Authorization
	budget, ok := a.OutputBudget(in)
	if !ok {
		return nil, fmt.Errorf("the prompt's %d tokens alone cost more than the authorization's max_charge %d", in, a.MaxCharge)
	}
	if out > budget {
		s.m.log.Warn("runtime produced more than the authorization pays for; the receipt counts the budget",
			"model", a.Model, "output_tokens", out, "budget", budget)
		out = budget
	}
	charge, err := receipt.Charge(in, out, a.InputPrice, a.OutputPrice)
	if err != nil {
		return nil, err
	}
	r := receipt.Receipt{
		Authorization: s.env, InputTokens: in, OutputTokens: out, Finish: finish, Charge: charge,
		StartedAtMs: uint64(s.started.UnixMilli()), CompletedAtMs: uint64(s.m.now().UnixMilli()),
	}
	copy(r.ResponseSHA256[:], s.h.Sum(nil))
	return receipt.SignReceipt(r, s.m.key)
}

// errNoPrices is returned by quote for a model with no known manifest.
var errNoPrices = runtime.Errorf(http.StatusServiceUnavailable, runtime.ErrTypeUnavailable, "",
	"no signed manifest found for this model, so no price to authorize").WithCode("no_manifest")
