package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomonet/fomo/internal/fomotest"
	"github.com/fomonet/fomo/node"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/node/identity"
	"github.com/fomonet/fomo/settle/receipt"
	"github.com/libp2p/go-libp2p/core/peer"
)

// heightOf returns a node's chain height, -1 when it does not answer.
func heightOf(api string) int64 { return fomotest.Height(api, 30*time.Second) }

// TestChainFourValidators runs four validators as processes on loopback
// (the model on two of them) with traffic through all four: every node
// reports the same app hash at each height; a validator killed with
// SIGKILL does not stop the chain and, restarted, catches up to the same
// app hash; the receipt of a serving node killed right after answering is
// still included; and a client that overspends by racing requests at
// several nodes gets unpaid receipts, no negative balance, and 402 after.
func TestChainFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four nodes with the chain")
	}
	dir := t.TempDir()
	p := start(t, "devnet", "--nodes", "4", "--serve-on", "2", "--dir", dir, "--keep-going", "--epoch", "6s",
		"--block-interval", "200ms", "--traffic", "300ms", "--model-preset", "tiny", "--model-type", "q8_0",
		"--set", "gpu.enabled=false", "--set", "p2p.advert_interval=500ms")
	nodes := fomotest.WaitDevnet(t, p.out, p.exited, 4, 2*time.Minute)

	// The chain makes blocks, and all four agree on each app hash.
	fomotest.WaitFor(t, time.Minute, "height 5 on node0", func() bool { return heightOf(nodes[0].API) >= 5 })
	checkAgreement := func(from int, h int64, which []int) {
		t.Helper()
		want := fomotest.AppHashAt(nodes[from].API, h)
		for _, i := range which {
			var got string
			fomotest.WaitFor(t, time.Minute, fmt.Sprintf("node%d at height %d", i, h+1), func() bool {
				got = fomotest.AppHashAt(nodes[i].API, h)
				return got != ""
			})
			if want == "" || got != want {
				t.Fatalf("app hash after height %d: node%d %s, node%d %s", h, from, want, i, got)
			}
		}
	}
	for h := int64(1); h <= 4; h++ {
		checkAgreement(0, h, []int{1, 2, 3})
	}

	// kill -9 validator 3 (serves nothing): the other three go on.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", nodes[3].PID))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err := syscall.Kill(nodes[3].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h0 := heightOf(nodes[0].API)
	fomotest.WaitFor(t, time.Minute, "blocks without validator 3", func() bool { return heightOf(nodes[1].API) >= h0+5 })

	// Restarted over its home, it catches up to the same app hash.
	home := args[slicesIndex(args, "--home")+1]
	os.Remove(filepath.Join(home, node.APIAddrFile)) // left behind by the kill
	re := start(t, args[1:]...)
	defer func() {
		if t.Failed() {
			t.Logf("restarted node3:\n%s", re.out)
		}
	}()
	fomotest.WaitFor(t, time.Minute, "node3 back", func() bool {
		b, err := os.ReadFile(filepath.Join(home, node.APIAddrFile))
		if err == nil {
			nodes[3].API = "http://" + strings.TrimSpace(string(b))
		}
		return err == nil
	})
	target := heightOf(nodes[0].API)
	fomotest.WaitFor(t, 2*time.Minute, "node3 catching up", func() bool { return heightOf(nodes[3].API) > target })
	checkAgreement(0, target, []int{3})

	// An account with credit for one request races requests at the two
	// serving nodes: each admits it, the chain records the receipt it
	// cannot pay as unpaid, the balance never goes negative, and it is
	// refused from then on.
	if out, err := fomo(t, "key", "new", "--home", dir, "--name", "spender"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	spender, err := identity.Load(filepath.Join(dir, "keys", "spender.key"))
	if err != nil {
		t.Fatal(err)
	}
	spenderID := identity.PeerID(spender).String()
	if out, err := fomo(t, "transfer", "--to", spenderID, "--amount", "0.0015", "--home", dir, "--key-name", "user", "--api", nodes[2].API); err != nil {
		t.Fatalf("transfer: %v\n%s", err, out)
	}
	var netID string
	var prices struct {
		NetworkID   string `json:"network_id"`
		InputPrice  uint64 `json:"input_price"`
		OutputPrice uint64 `json:"output_price"`
	}
	if err := fomotest.GetJSON(t.Context(), nodes[2].API+"/api/v1/prices/synth-tiny-q8_0", &prices, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	netID = prices.NetworkID
	signed := func(payee string, body []byte) map[string]string {
		a := receipt.NewAuthorization(netID, "", "synth-tiny-q8_0", time.Now(), time.Minute)
		p, err := peer.Decode(payee)
		if err != nil {
			t.Fatal(err)
		}
		a.Node = p
		a.MaxOutputTokens = 64
		a.InputPrice, a.OutputPrice = prices.InputPrice, prices.OutputPrice
		a.MaxCharge, _ = receipt.Charge(uint64(len(body)), 64, a.InputPrice, a.OutputPrice)
		a.RequestSHA256 = sha256.Sum256(body)
		env, err := receipt.SignAuthorization(a, spender)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{receipt.AuthorizationHeader: base64.StdEncoding.EncodeToString(env)}
	}
	// Both serving nodes know the credit before the race. With seed 1 the
	// synthetic model answers "race b" and "race c" with all 64 tokens.
	for _, n := range nodes[:2] {
		fomotest.WaitFor(t, 30*time.Second, "the transfer seen by "+n.API, func() bool {
			var a struct{ Balances map[string]uint64 }
			return fomotest.GetJSON(t.Context(), n.API+"/api/v1/accounts/"+spenderID, &a, 30*time.Second) == nil && a.Balances["usd"] == 1500
		})
	}
	tags := map[string]string{nodes[0].Peer: "b", nodes[1].Peer: "c"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	for _, n := range nodes[:2] {
		wg.Go(func() {
			body := raceBody(tags[n.Peer])
			resp, b := chatAt(t, n.API, signed(n.Peer, body), body)
			t.Logf("racing request at %s: %d %.300s", n.API, resp.StatusCode, b)
			if resp.StatusCode == 200 {
				mu.Lock()
				served++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if served != 2 {
		t.Fatalf("only %d racing requests were served; the race did not happen", served)
	}
	var acct struct {
		Balances  map[string]uint64 `json:"balances"`
		Overdrawn bool              `json:"overdrawn"`
		UnpaidUSD uint64            `json:"unpaid_usd"`
	}
	defer func() {
		if t.Failed() {
			t.Logf("account %s: %+v", spenderID, acct)
		}
	}()
	fomotest.WaitFor(t, time.Minute, "the unpaid receipts recorded", func() bool {
		err := fomotest.GetJSON(t.Context(), nodes[3].API+"/api/v1/accounts/"+spenderID, &acct, 30*time.Second)
		return err == nil && acct.Overdrawn
	})
	if acct.UnpaidUSD == 0 || acct.Balances["usd"] >= 1500 {
		t.Fatalf("overspent account: %+v", acct)
	}
	body := raceBody("more")
	if resp, b := chatAt(t, nodes[2].API, signed(nodes[2].Peer, body), body); resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("an overdrawn account was served: %d %s", resp.StatusCode, b)
	}

	// The serving node is killed right after it answers: its receipt still
	// makes it on chain, submitted by the nodes that hold it.
	resp, body := chatAt(t, nodes[2].API, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("request at node2: %d %s", resp.StatusCode, body)
	}
	id := receiptIDOf(t, body)
	alive := []fomotest.DevnetNode{nodes[2], nodes[3]}
	for i := range 2 {
		if resp.Header.Get("X-Fomo-Node") == nodes[i].Peer {
			_ = syscall.Kill(nodes[i].PID, syscall.SIGKILL)
			alive = append(alive, nodes[1-i])
		}
	}
	if len(alive) != 3 {
		t.Fatalf("request served by %s, not by node0 or node1", resp.Header.Get("X-Fomo-Node"))
	}
	fomotest.WaitFor(t, 90*time.Second, "the dead node's receipt included", func() bool {
		var v api.ReceiptView
		err := fomotest.GetJSON(t.Context(), alive[0].API+"/api/v1/receipts/"+id, &v, 30*time.Second)
		return err == nil && v.Settled
	})

	// Topped up by the protocol (a deposit clears the overdrawn mark), it
	// is served again; the CLI shows the account and authorizes a session
	// key for it.
	if out, err := fomo(t, "deposit", "--to", spenderID, "--amount", "1.0", "--home", dir, "--key-name", "protocol", "--api", alive[0].API); err != nil {
		t.Fatalf("deposit: %v\n%s", err, out)
	}
	out, err := fomo(t, "account", "show", "--json", "--home", dir, "--key-name", "spender", "--api", alive[0].API)
	if err != nil || strings.Contains(out, `"overdrawn": true`) || !strings.Contains(out, spenderID) {
		t.Fatalf("account show after the deposit: %v\n%s", err, out)
	}
	out, err = fomo(t, "key", "authorize", "--session", "spender-laptop", "--spend-limit", "0.5", "--home", dir, "--key-name", "spender", "--api", alive[0].API)
	apiKey := regexp.MustCompile(`fomo_sk_\S+`).FindString(out)
	if err != nil || apiKey == "" {
		t.Fatalf("key authorize: %v\n%s", err, out)
	}
	fomotest.WaitFor(t, 30*time.Second, "a request paid with the new session key", func() bool {
		resp, _ := chatAt(t, alive[2].API, map[string]string{"Authorization": "Bearer " + apiKey})
		return resp.StatusCode == 200
	})
	sess, _ := identity.Load(filepath.Join(dir, "keys", "spender-laptop.key"))
	if out, err := fomo(t, "key", "revoke", identity.PeerID(sess).String(), "--home", dir, "--key-name", "spender", "--api", alive[0].API); err != nil {
		t.Fatalf("key revoke: %v\n%s", err, out)
	}

	// Epochs close with settlement tables.
	if out, err := fomo(t, "epoch", "list", "--api", alive[1].API); err != nil || !strings.Contains(out, "synth-tiny-q8_0") {
		t.Fatalf("epoch list: %v\n%s", err, out)
	}
	if out, err := fomo(t, "epoch", "show", "0", "--json", "--api", alive[1].API); err != nil || !strings.Contains(out, `"receipts_root"`) {
		t.Fatalf("epoch show: %v\n%s", err, out)
	}
	p.signal(t, syscall.SIGINT, time.Minute)
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// raceBody asks for 64 tokens, which cost more than half of the request's
// maximum charge.
func raceBody(tag string) []byte {
	return []byte(fmt.Sprintf(`{"model":"synth-tiny-q8_0","messages":[{"role":"user","content":"race %s"}],"max_tokens":64,"seed":1}`, tag))
}

func chatBody(prompt string) []byte {
	return []byte(fmt.Sprintf(`{"model":"synth-tiny-q8_0","messages":[{"role":"user","content":%q}],"max_tokens":8}`, prompt))
}

// chatAt posts a chat request (a default one without body) to api.
func chatAt(t *testing.T, api string, header map[string]string, body ...[]byte) (*http.Response, []byte) {
	t.Helper()
	b := chatBody("hello chain")
	if len(body) > 0 {
		b = body[0]
	}
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", bytes.NewReader(b))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &http.Response{StatusCode: 599}, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(bufio.NewReader(resp.Body))
	return resp, out
}

func receiptIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var out struct{ Fomo *api.Fomo }
	if err := json.Unmarshal(body, &out); err != nil || out.Fomo == nil {
		t.Fatalf("no receipt in %s", body)
	}
	return out.Fomo.ReceiptID
}
