package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// quote is what a node quotes for the model.
type quote struct {
	NetworkID   string `json:"network_id"`
	InputPrice  uint64 `json:"input_price"`
	OutputPrice uint64 `json:"output_price"`
}

// outcome is one request as its client saw it.
type outcome struct {
	Client, Seq int
	Node        int // the node it was sent to (and named in the authorization)
	Stream      bool
	Status      int
	Err         string
	Latency     time.Duration
	Completed   bool   // the response ended normally ([DONE] or a whole JSON body)
	Tokens      uint64 // output tokens the client got: usage, else content events
	Receipt     string // receipt id, "" when none arrived
	Header      string // X-Fomo-Receipt
	ReceiptNode string
	ReceiptIn   uint64
	ReceiptOut  uint64
	Charge      uint64
	Auth        string // hex SHA-256 of the authorization envelope
	BadReceipt  string // why the receipt did not verify, "" when it did
}

// client sends requests with authorizations it signs itself, each naming
// the node it is sent to, and records every outcome.
type client struct {
	key crypto.PrivKey
	// q is the network and the list prices; each request is priced by the
	// node it is sent to for the client's account (its staking discount
	// applies from the epoch after the devnet's user stakes).
	q       quote
	nodes   []*devNode
	timeout time.Duration

	mu  sync.Mutex
	out []outcome
}

func (c *client) record(o outcome) {
	c.mu.Lock()
	c.out = append(c.out, o)
	c.mu.Unlock()
}

// since returns the outcomes recorded after the first k, in the order they
// were recorded, and how many there are in all.
func (c *client) since(k int) ([]outcome, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]outcome(nil), c.out[k:]...), len(c.out)
}

func (c *client) outcomes() []outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]outcome(nil), c.out...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Client != out[j].Client {
			return out[i].Client < out[j].Client
		}
		return out[i].Seq < out[j].Seq
	})
	return out
}

// run sends requests as client id until ctx ends, pausing pause between
// them; rng picks the node, the length and streaming.
func (c *client) run(ctx context.Context, id int, rng *rand.Rand, pause time.Duration) {
	for seq := 0; ctx.Err() == nil; seq++ {
		n := c.nodes[rng.IntN(len(c.nodes))]
		maxTok := uint64(8 + rng.IntN(25))
		stream := rng.IntN(2) == 0
		o := c.send(ctx, n, maxTok, stream, fmt.Sprintf("chaos client %d request %d", id, seq))
		o.Client, o.Seq = id, seq
		if ctx.Err() != nil && !o.Completed && o.Receipt == "" && o.Tokens == 0 {
			return // cut by the end of the run, not by a fault
		}
		c.record(o)
		select {
		case <-ctx.Done():
		case <-time.After(pause/2 + time.Duration(rng.Int64N(int64(pause)))):
		}
	}
}

// quote asks n for the prices the client's account pays now.
func (c *client) quote(ctx context.Context, n *devNode) (quote, error) {
	acct, err := peer.IDFromPrivateKey(c.key)
	if err != nil {
		return quote{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(qctx, http.MethodGet, n.API()+"/api/v1/prices/"+model+"?account="+acct.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return quote{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return quote{}, fmt.Errorf("prices: %s", resp.Status)
	}
	var q quote
	return q, json.NewDecoder(resp.Body).Decode(&q)
}

// send sends one chat request to n.
func (c *client) send(ctx context.Context, n *devNode, maxTok uint64, stream bool, prompt string) (o outcome) {
	o = outcome{Node: n.i, Stream: stream}
	req := map[string]any{"model": model, "max_tokens": maxTok,
		"messages": []map[string]string{{"role": "user", "content": prompt}}}
	if stream {
		req["stream"] = true
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	body, _ := json.Marshal(req)
	a := receipt.NewAuthorization(c.q.NetworkID, "", model, time.Now(), 2*time.Minute)
	p, err := peer.Decode(n.peer)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	a.Node, a.EntryNode = p, p
	a.MaxOutputTokens = maxTok
	a.InputPrice, a.OutputPrice = c.q.InputPrice, c.q.OutputPrice
	if q, err := c.quote(ctx, n); err == nil {
		a.InputPrice, a.OutputPrice = q.InputPrice, q.OutputPrice
	} // a node that does not answer gets the list prices: the request fails in transport

	if a.MaxCharge, err = receipt.Charge(uint64(len(body)), maxTok, a.InputPrice, a.OutputPrice); err != nil {
		o.Err = err.Error()
		return o
	}
	a.RequestSHA256 = sha256.Sum256(body)
	env, err := receipt.SignAuthorization(a, c.key)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	sum := sha256.Sum256(env)
	o.Auth = hex.EncodeToString(sum[:])

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(rctx, http.MethodPost, n.API()+"/v1/chat/completions", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(receipt.AuthorizationHeader, base64.StdEncoding.EncodeToString(env))
	start := time.Now()
	defer func() { o.Latency = time.Since(start) }()
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	defer resp.Body.Close()
	o.Status, o.Header = resp.StatusCode, resp.Header.Get("X-Fomo-Receipt")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		o.Err = strings.TrimSpace(string(b))
		return o
	}
	var fomo *api.Fomo
	if stream {
		fomo, err = readStream(resp.Body, &o)
	} else {
		fomo, err = readWhole(resp.Body, &o)
	}
	if err != nil {
		o.Err = err.Error()
	}
	if fomo == nil {
		return o
	}
	o.Receipt, o.ReceiptNode, o.ReceiptIn, o.ReceiptOut, o.Charge = fomo.ReceiptID, fomo.Node, fomo.InputTokens, fomo.OutputTokens, fomo.Charge
	renv, err := base64.StdEncoding.DecodeString(fomo.Receipt)
	if err != nil {
		o.BadReceipt = err.Error()
		return o
	}
	sr, err := receipt.Verify(ctx, renv, receipt.Checker{NetworkID: c.q.NetworkID})
	switch {
	case err != nil:
		o.BadReceipt = err.Error()
	case !bytes.Equal(sr.Authorization.Envelope, env):
		o.BadReceipt = "for another authorization"
	case sr.Receipt.OutputTokens != fomo.OutputTokens || sr.Receipt.Charge != fomo.Charge:
		o.BadReceipt = "the fomo object differs from the signed receipt"
	}
	return o
}

// readWhole reads a non-streamed answer.
func readWhole(r io.Reader, o *outcome) (*api.Fomo, error) {
	var v struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens uint64 `json:"completion_tokens"`
		} `json:"usage"`
		Fomo *api.Fomo `json:"fomo"`
	}
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		return nil, err
	}
	o.Completed = true
	o.Tokens = v.Usage.CompletionTokens
	if o.Tokens == 0 && len(v.Choices) > 0 && v.Choices[0].Message.Content != "" {
		o.Tokens = 1 // content without usage: at least one token
	}
	return v.Fomo, nil
}

// readStream reads server-sent events: content events count as tokens
// until the usage event says how many there were.
func readStream(r io.Reader, o *outcome) (*api.Fomo, error) {
	var fomo *api.Fomo
	var events, usage uint64
	sawUsage := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			o.Completed = true
			break
		}
		var ch struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens uint64 `json:"completion_tokens"`
			} `json:"usage"`
			Fomo  *api.Fomo       `json:"fomo"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			return fomo, err
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			o.Tokens = max(events, usage)
			return fomo, fmt.Errorf("stream error: %s", ch.Error)
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != "" {
				events++
			}
		}
		if ch.Usage != nil {
			usage, sawUsage = ch.Usage.CompletionTokens, true
		}
		if ch.Fomo != nil {
			fomo = ch.Fomo
		}
	}
	o.Tokens = events
	if sawUsage {
		o.Tokens = usage
	}
	if err := sc.Err(); err != nil {
		return fomo, err
	}
	if !o.Completed {
		return fomo, errors.New("stream ended without [DONE]")
	}
	return fomo, nil
}
