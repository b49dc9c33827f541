package meter

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fomonet/fomo/runtime"
	"github.com/fomonet/fomo/settle/pool"
	"github.com/fomonet/fomo/settle/receipt"
)

// Wrap returns inner metered: every request it serves must carry a payment
// naming this node as its payee — the entry node's own (Begin), or the
// authorization that came over the inference protocol, verified here with
// the prices of this node's models and held against the account — and
// ends with a receipt signed by this node, stored in the pool and handed
// to the payment.
func (m *Meter) Wrap(inner runtime.Backend) runtime.Backend { return &served{m: m, inner: inner} }

type served struct {
	m     *Meter
	inner runtime.Backend
}

// authorize returns the request's authorization for this node, checked,
// and the release of what it holds against the account.
func (b *served) authorize(ctx context.Context, req *runtime.Request) ([]byte, *receipt.SignedAuthorization, func(), *runtime.Error) {
	m := b.m
	if req.Payment == nil {
		return nil, nil, nil, unauthorized("the request carries no authorization")
	}
	if g, ok := req.Payment.(*grant); ok && g.m == m {
		// Taken at this node's API: checked and reserved by Begin.
		env, sa, err := g.forNode(m.self)
		if err != nil {
			return nil, nil, nil, runtime.Errorf(http.StatusInternalServerError, runtime.ErrTypeAPI, "", "%v", err)
		}
		if n := sa.Authorization.Node; n != m.self {
			return nil, nil, nil, runtime.Errorf(http.StatusMisdirectedRequest, runtime.ErrTypeInvalidRequest, "",
				"the authorization names node %s as its payee: send the request there", n).WithCode("wrong_payee")
		}
		if rerr := m.checkPrice(ctx, &sa.Authorization); rerr != nil {
			return nil, nil, nil, rerr
		}
		return env, sa, func() {}, nil
	}
	// A provider verifies what it is asked to serve, with the prices of
	// its own models (less the account's discount), and holds the charge
	// against the account.
	env, err := req.Payment.For(m.self.String())
	if err != nil || len(env) == 0 {
		return nil, nil, nil, unauthorized("the request carries no authorization")
	}
	chk := receipt.Checker{NetworkID: m.netID, Signers: m.Signers(), Prices: m.local}
	if m.disc != nil {
		chk.Prices = nil // the prices depend on the account: checkPrice judges them
	}
	sa, err := receipt.VerifyAuthorization(ctx, env, chk)
	if err != nil {
		return nil, nil, nil, unauthorized("authorization refused: %v", err)
	}
	if _, _, ok := m.local(sa.Authorization.Model); !ok {
		return nil, nil, nil, unauthorized("authorization refused: %s: model %q is not served here",
			receipt.ReasonUnknownModel, sa.Authorization.Model)
	}
	if rerr := m.checkPrice(ctx, &sa.Authorization); rerr != nil {
		return nil, nil, nil, rerr
	}
	// Only the payee serves an authorization: one sent to several nodes
	// at once is paid for once and served once.
	if n := sa.Authorization.Node; n != m.self {
		if n == "" {
			return nil, nil, nil, unauthorized("the authorization names no payee; this node serves only authorizations naming it")
		}
		return nil, nil, nil, unauthorized("the authorization names node %s as its payee, not this node", n)
	}
	if rerr := m.matches(sa, req); rerr != nil {
		return nil, nil, nil, rerr
	}
	g := &grant{}
	if rerr := m.reserve(ctx, g, sa.Authorization.Account, sa.Authorization.Signer, sa.Authorization.MaxCharge); rerr != nil {
		return nil, nil, nil, rerr
	}
	return env, sa, g.release, nil
}

// Do serves req under its authorization: refused before the runtime runs
// when the authorization does not pay for it or was served already.
func (b *served) Do(ctx context.Context, req *runtime.Request) (runtime.Stream, error) {
	m := b.m
	env, sa, release, rerr := b.authorize(ctx, req)
	if rerr != nil {
		return nil, rerr
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
	return &meteredStream{Stream: s, ctx: ctx, m: m, pay: req.Payment, env: env, auth: sa, started: started, h: sha256.New(), done: done}, nil
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

// meteredStream counts what a runtime delivers and, at its end, signs the
// receipt, stores it in the pool (which publishes it) and hands it to the
// request's payment.
type meteredStream struct {
	runtime.Stream
	ctx     context.Context // the request's: cancelled when the client leaves
	m       *Meter
	pay     runtime.Payment
	env     []byte
	auth    *receipt.SignedAuthorization
	started time.Time
	h       hash.Hash
	done    func()

	once   sync.Once
	ended  bool // Recv reached io.EOF
	failed bool // Recv returned an error
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

func (s *meteredStream) finish() {
	s.once.Do(func() {
		defer s.done()
		sr, err := s.sign()
		if err != nil {
			s.m.log.Warn("no receipt for a served request", "model", s.auth.Authorization.Model, "err", err)
			return
		}
		if sr == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.m.pool.AddVerified(ctx, sr); err != nil {
			s.m.log.Warn("storing our own receipt failed", "err", err)
			return
		}
		if g, ok := s.pay.(*grant); ok && g.m == s.m {
			g.mu.Lock()
			g.own = sr
			g.mu.Unlock()
			return
		}
		s.pay.Paid(sr.Envelope)
	})
}

// sign makes the receipt: input tokens as the runtime counted them, output
// tokens delivered (within the authorization's budget), the finish, and
// the charge of DESIGN §9.2. It returns nil when nothing is to be paid.
func (s *meteredStream) sign() (*receipt.SignedReceipt, error) {
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
	return receipt.SignOpened(r, s.auth, s.m.key)
}
