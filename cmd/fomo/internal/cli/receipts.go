package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/api/client"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/econ"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
)

func newReceiptsCmd(rf *Flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "List, show and verify signed usage receipts",
	}
	cmd.AddCommand(newReceiptsListCmd(), newReceiptsShowCmd(), newReceiptsVerifyCmd(rf))
	return cmd
}

func newReceiptsListCmd() *cobra.Command {
	var apiURL, account, nodeID, model, epoch, after string
	var limit int
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the receipts a node holds, filtered and paged",
		Example: "  fomo receipts list --account 12D3KooW... --limit 20 --api http://127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := client.ReceiptQuery{Account: account, Node: nodeID, Model: model, After: after, Limit: limit}
			if epoch != "" {
				e, err := strconv.ParseUint(epoch, 10, 64)
				if err != nil {
					return fmt.Errorf("--epoch: not a number: %q", epoch)
				}
				q.Epoch = &e
			}
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			page, err := c.Receipts(cmd.Context(), q)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-16s  %-5s  %-24s  %-14s  %7s  %7s  %-9s  %s\n", "ID", "EPOCH", "MODEL", "NODE", "IN", "OUT", "FINISH", "CHARGE")
			for _, r := range page.Receipts {
				fmt.Fprintf(w, "%-16s  %-5d  %-24s  %-14s  %7d  %7d  %-9s  %s\n", idPrefix(r.ID), r.Epoch, r.Model,
					shortID(r.Node), r.InputTokens, r.OutputTokens, r.Finish, econ.FormatAmount(r.Charge)+" usd")
			}
			if page.Next != "" {
				fmt.Fprintf(w, "more: --after %s\n", page.Next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	cmd.Flags().StringVar(&account, "account", "", "only receipts paid by this account")
	cmd.Flags().StringVar(&nodeID, "node", "", "only receipts signed by this node")
	cmd.Flags().StringVar(&model, "model", "", "only receipts of this model")
	cmd.Flags().StringVar(&epoch, "epoch", "", "only receipts of this epoch")
	cmd.Flags().StringVar(&after, "after", "", "the cursor a previous page printed")
	cmd.Flags().IntVar(&limit, "limit", 0, "page size (default 100, at most 1000)")
	return cmd
}

func newReceiptsShowCmd() *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:   "show ID|PREFIX",
		Short: "Show one receipt held by a node",
		Long: `show prints a receipt the node holds. ID is the receipt's id or any prefix of
it of at least 8 hex digits that names one receipt, such as the ID column of
fomo receipts list.`,
		Example: "  fomo receipts show 3f1c09a2b7d4e815 --api http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !isIDPrefix(args[0]) {
				return fmt.Errorf("receipt id %q: give the id or a prefix of it, %d to 64 hex digits", args[0], minIDPrefix)
			}
			c, err := connect(apiURL)
			if err != nil {
				return err
			}
			v, err := c.Receipt(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to ask (env FOMO_API)")
	return cmd
}

func newReceiptsVerifyCmd(rf *Flags) *cobra.Command {
	var apiURL, network string
	cmd := &cobra.Command{
		Use:   "verify FILE|ID|PREFIX",
		Short: "Check a receipt's signatures, caps and charge, and its inclusion on the chain",
		Long: `verify checks a receipt without trusting the node that holds it: the client's
and the serving node's signatures, the network, the output cap, the
deterministic charge and max_charge, and the validity window. The receipt is a
file (as fomo chat stores them under HOME/receipts, raw or base64) or an id,
or a prefix of one of at least 8 hex digits, found in HOME/receipts or fetched
from --api.

Then it checks that the chain included the receipt: once the epoch the chain
charged it in has closed, it fetches the receipt's proof of inclusion and the
epoch's settlement from --api and verifies the proof against the receipts
root of the settlement. A proof that does not verify fails the command; a
receipt not on the chain yet, an epoch still open, or a node that cannot
answer is printed, and the command succeeds on the checks above.`,
		Example: "  fomo receipts verify ~/.fomo/receipts/3f1c….receipt\n  fomo receipts verify 3f1c… --api http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := readReceipt(cmd.Context(), rf.Home, args[0], apiURL)
			if err != nil {
				return err
			}
			sr, err := receipt.Verify(cmd.Context(), env, receipt.Checker{NetworkID: network})
			if err != nil {
				return fmt.Errorf("receipt is invalid (%s): %w", receipt.ReasonOf(err), err)
			}
			describeReceipt(cmd.OutOrStdout(), sr)
			fmt.Fprintln(cmd.OutOrStdout(), "valid: both signatures verify; the charge is the deterministic charge and within max_charge")
			return checkInclusion(cmd.Context(), cmd.OutOrStdout(), apiURL, sr.ID())
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to fetch an id, the proof of inclusion and the epoch's settlement from (env FOMO_API)")
	cmd.Flags().StringVar(&network, "network-id", "", "require this network id")
	return cmd
}

// readReceipt reads a receipt envelope from a file (raw or base64) or,
// for a receipt id or a unique prefix of one (at least 8 hex digits)
// without such a file, from HOME/receipts or a node.
func readReceipt(ctx context.Context, home, arg, apiURL string) ([]byte, error) {
	b, err := os.ReadFile(arg)
	if err != nil {
		if !isIDPrefix(arg) {
			return nil, err
		}
		if b, ok, err := readStoredReceipt(home, arg); ok || err != nil {
			return b, err
		}
		c, err := connect(apiURL)
		if err != nil {
			return nil, err
		}
		v, err := c.Receipt(ctx, arg)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(v.Envelope)
	}
	if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil {
		return d, nil
	}
	return b, nil
}

// minIDPrefix is the fewest hex digits of a receipt id the commands take.
const minIDPrefix = 8

// isIDPrefix reports whether s could be a receipt id or a prefix of one:
// 8 to 64 hex digits.
func isIDPrefix(s string) bool {
	if len(s) < minIDPrefix || len(s) > 2*sha256.Size {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// readStoredReceipt reads the receipt fomo chat stored under
// HOME/receipts whose id starts with prefix; false when none does.
func readStoredReceipt(home, prefix string) ([]byte, bool, error) {
	matches, err := filepath.Glob(filepath.Join(home, "receipts", strings.ToLower(prefix)+"*.receipt"))
	if err != nil || len(matches) == 0 {
		return nil, false, nil
	}
	if len(matches) > 1 {
		return nil, false, fmt.Errorf("receipt id prefix %s matches %d receipts in %s: give more digits",
			prefix, len(matches), filepath.Join(home, "receipts"))
	}
	b, err := os.ReadFile(matches[0])
	return b, err == nil, err
}

func describeReceipt(w io.Writer, sr *receipt.SignedReceipt) {
	a, r := &sr.Authorization.Authorization, &sr.Receipt
	id := sr.ID()
	fmt.Fprintf(w, "receipt   %s\nnetwork   %s\nmodel     %s\naccount   %s\nnode      %s\n", hex.EncodeToString(id[:]), a.NetworkID, a.Model, a.Account, r.Node)
	fmt.Fprintf(w, "tokens    %d in, %d out (cap %d), finish %s\n", r.InputTokens, r.OutputTokens, a.MaxOutputTokens, r.Finish)
	fmt.Fprintf(w, "charge    %s usd (max %s usd) at %d/%d per 1M tokens\n", econ.FormatAmount(r.Charge), econ.FormatAmount(a.MaxCharge), a.InputPrice, a.OutputPrice)
}

// listIDDigits is how many hex digits of a receipt id receipts list
// prints: a prefix that receipts show and verify take.
const listIDDigits = 16

func idPrefix(id string) string {
	if len(id) > listIDDigits {
		return id[:listIDDigits]
	}
	return id
}

func shortID(id string) string {
	if len(id) > 14 {
		return id[:6] + "…" + id[len(id)-6:]
	}
	return id
}

func newChatCmd(rf *Flags) *cobra.Command {
	var apiURL, model, keyName, keyFile, system string
	var maxTokens uint64
	cmd := &cobra.Command{
		Use:   "chat [PROMPT]",
		Short: "Ask a model through any node, paying with your own signed authorization",
		Long: `chat sends one chat message (PROMPT, or standard input) to a node and streams
the answer. It signs the request's authorization with your key (--key-name,
HOME/keys/NAME.key): the model's prices as the node quotes them, a cap on
output tokens and the maximum charge. At the end it verifies the serving
node's receipt — both signatures, the counts against the usage the response
reported, the charge — prints it, and stores it in HOME/receipts/ID.receipt.`,
		Example: `  fomo chat "What is a GPU?" --model synth-small-q8_0 --key-name user --api http://127.0.0.1:8080`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prompt := ""
			if len(args) == 1 {
				prompt = args[0]
			} else {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return err
				}
				prompt = string(b)
			}
			sk, err := identity.Load(keyPath(rf.Home, keyName, keyFile))
			if err != nil {
				return err
			}
			return chat(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), chatArgs{
				api: apiURL, model: model, prompt: prompt, system: system, maxTokens: maxTokens, key: sk, home: rf.Home})
		},
	}
	cmd.Flags().StringVar(&apiURL, "api", defaultAPI(), "node to send the request to (env FOMO_API)")
	cmd.Flags().StringVar(&model, "model", "", "model name (required)")
	cmd.Flags().StringVar(&keyName, "key-name", "user", "your key: HOME/keys/NAME.key")
	cmd.Flags().StringVar(&keyFile, "key", "", "your key file (overrides --key-name)")
	cmd.Flags().StringVar(&system, "system", "", "system message")
	cmd.Flags().Uint64Var(&maxTokens, "max-tokens", 256, "most output tokens to pay for")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

type chatArgs struct {
	api, model, prompt, system, home string
	maxTokens                        uint64
	key                              crypto.PrivKey
}

func chat(ctx context.Context, out, errOut io.Writer, a chatArgs) error {
	sk := a.key
	c, err := connect(a.api)
	if err != nil {
		return err
	}
	// The prices this account pays: its staking discount applied.
	account, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return err
	}
	q, err := c.PriceFor(ctx, a.model, account.String())
	if err != nil {
		return err
	}
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	msgs := []msg{}
	if a.system != "" {
		msgs = append(msgs, msg{"system", a.system})
	}
	msgs = append(msgs, msg{"user", a.prompt})
	body, err := json.Marshal(map[string]any{
		"model": a.model, "messages": msgs, "max_tokens": a.maxTokens, "stream": true,
		"stream_options": map[string]bool{"include_usage": true},
	})
	if err != nil {
		return err
	}
	auth := receipt.NewAuthorization(q.NetworkID, "", a.model, time.Now(), 5*time.Minute)
	if entry, err := peer.Decode(q.Node); err == nil {
		auth.EntryNode = entry
	}
	// The authorization pays one node: the one the entry node names.
	if auth.Node, err = peer.Decode(q.Payee); err != nil {
		return fmt.Errorf("the node names no payee for %s: %w", a.model, err)
	}
	auth.MaxOutputTokens = a.maxTokens
	if auth.MaxCharge, err = receipt.MaxCharge(body, a.maxTokens, q.InputPrice, q.OutputPrice); err != nil {
		return err
	}
	auth.InputPrice, auth.OutputPrice = q.InputPrice, q.OutputPrice
	auth.RequestSHA256 = sha256.Sum256(body)
	env, err := receipt.SignAuthorization(auth, sk)
	if err != nil {
		return err
	}
	var usage client.Usage
	var fomo *api.Fomo
	err = c.ChatStream(ctx, client.ChatRequest{Body: body, Authorization: env}, func(ch client.ChatChunk) error {
		for _, c := range ch.Choices {
			fmt.Fprint(out, c.Delta.Content)
		}
		if ch.Usage != nil {
			usage = *ch.Usage
		}
		if ch.Fomo != nil {
			fomo = ch.Fomo
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if fomo == nil {
		return errors.New("the node returned no receipt")
	}
	renv, err := base64.StdEncoding.DecodeString(fomo.Receipt)
	if err != nil {
		return fmt.Errorf("receipt: %v", err)
	}
	sr, err := receipt.Verify(ctx, renv, receipt.Checker{NetworkID: q.NetworkID})
	if err != nil {
		return fmt.Errorf("the node's receipt is invalid (%s): %w", receipt.ReasonOf(err), err)
	}
	if !bytes.Equal(sr.Authorization.Envelope, env) {
		return errors.New("the receipt is for another authorization than the one sent")
	}
	if sr.Receipt.InputTokens != usage.PromptTokens || sr.Receipt.OutputTokens != usage.CompletionTokens {
		return fmt.Errorf("the receipt counts %d/%d tokens, the response reported %d/%d",
			sr.Receipt.InputTokens, sr.Receipt.OutputTokens, usage.PromptTokens, usage.CompletionTokens)
	}
	id := sr.ID()
	dir := filepath.Join(a.home, "receipts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, hex.EncodeToString(id[:])+".receipt")
	if err := os.WriteFile(path, renv, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(errOut, "receipt %s verified: node %s, %d in / %d out tokens, %s; saved to %s\n",
		hex.EncodeToString(id[:]), sr.Receipt.Node, sr.Receipt.InputTokens, sr.Receipt.OutputTokens, econ.FormatAmount(sr.Receipt.Charge)+" usd", path)
	return nil
}
