package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/fomonet/fomo/gpu"
	"github.com/fomonet/fomo/node/api"
	"github.com/fomonet/fomo/settle/ledger"
)

func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	var v T
	if err := c.Do(ctx, http.MethodGet, path, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Status returns the node's status (GET /api/v1/status).
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	return get[api.Status](ctx, c, "/api/v1/status")
}

// GPUs returns the node's GPUs with their latest samples (GET /api/v1/gpus).
func (c *Client) GPUs(ctx context.Context) ([]gpu.Status, error) {
	v, err := get[[]gpu.Status](ctx, c, "/api/v1/gpus")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// Peers lists the node's connected peers (GET /api/v1/peers).
func (c *Client) Peers(ctx context.Context) ([]api.PeerInfo, error) {
	v, err := get[[]api.PeerInfo](ctx, c, "/api/v1/peers")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// Models lists the models the node serves or reaches (GET /v1/models).
func (c *Client) Models(ctx context.Context) ([]api.ModelObject, error) {
	v, err := get[api.ModelList](ctx, c, "/v1/models")
	if err != nil {
		return nil, err
	}
	return v.Data, nil
}

// ReceiptQuery filters and pages GET /api/v1/receipts; zero fields do not
// filter.
type ReceiptQuery struct {
	// Account and Node are peer IDs: the paying account, the serving node.
	Account, Node string
	Model         string
	// Epoch, when set, keeps the receipts of that epoch.
	Epoch *uint64
	// After is the cursor a previous page returned as Next.
	After string
	// Limit is the page size (0: the node's default).
	Limit int
}

func (q ReceiptQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"account": q.Account, "node": q.Node, "model": q.Model, "after": q.After} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Epoch != nil {
		v.Set("epoch", strconv.FormatUint(*q.Epoch, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Receipts returns one page of the receipts the node holds (GET
// /api/v1/receipts).
func (c *Client) Receipts(ctx context.Context, q ReceiptQuery) (*api.ReceiptPage, error) {
	return get[api.ReceiptPage](ctx, c, "/api/v1/receipts?"+q.values().Encode())
}

// Receipt returns one receipt the node holds, by its 64-hex-digit id (GET
// /api/v1/receipts/{id}).
func (c *Client) Receipt(ctx context.Context, id string) (*api.ReceiptView, error) {
	return get[api.ReceiptView](ctx, c, "/api/v1/receipts/"+url.PathEscape(id))
}

// Price returns a model's prices and the node a client-signed
// authorization for it pays (GET /api/v1/prices/{model}).
func (c *Client) Price(ctx context.Context, model string) (*api.Price, error) {
	return get[api.Price](ctx, c, "/api/v1/prices/"+url.PathEscape(model))
}

// Discounts returns an account's staking discount on each model it has
// staked on, this epoch and next (GET /api/v1/discounts/{account}).
func (c *Client) Discounts(ctx context.Context, account string) (*api.Discounts, error) {
	return get[api.Discounts](ctx, c, "/api/v1/discounts/"+url.PathEscape(account))
}

// PriceFor returns what account (or the account of a session key) pays
// for a model in an authorization issued now, its staking discount
// applied, with the model's list prices and the discount (GET
// /api/v1/prices/{model}?account=ID).
func (c *Client) PriceFor(ctx context.Context, model, account string) (*api.Price, error) {
	return get[api.Price](ctx, c, "/api/v1/prices/"+url.PathEscape(model)+"?account="+url.QueryEscape(account))
}

// AnnounceManifest publishes a signed manifest envelope in the network's
// DHT through the node (POST /api/v1/manifests).
func (c *Client) AnnounceManifest(ctx context.Context, envelope []byte) (*api.ManifestInfo, error) {
	var v api.ManifestInfo
	if err := c.Do(ctx, http.MethodPost, "/api/v1/manifests", "application/octet-stream", envelope, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Manifest resolves a model's signed manifest from the DHT (GET
// /api/v1/manifests/{name}).
func (c *Client) Manifest(ctx context.Context, name string) (*api.ManifestInfo, error) {
	return get[api.ManifestInfo](ctx, c, "/api/v1/manifests/"+url.PathEscape(name))
}

// Providers lists the nodes that serve a model, from the DHT (GET
// /api/v1/manifests/{name}/providers).
func (c *Client) Providers(ctx context.Context, name string) ([]api.ProviderInfo, error) {
	v, err := get[[]api.ProviderInfo](ctx, c, "/api/v1/manifests/"+url.PathEscape(name)+"/providers")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// Chain returns the settlement chain's status (GET /api/v1/chain).
func (c *Client) Chain(ctx context.Context) (*api.ChainStatus, error) {
	return get[api.ChainStatus](ctx, c, "/api/v1/chain")
}

// Block returns the app hash after a block and the block's time (GET
// /api/v1/chain/blocks/{height}).
func (c *Client) Block(ctx context.Context, height int64) (*api.Block, error) {
	return get[api.Block](ctx, c, "/api/v1/chain/blocks/"+strconv.FormatInt(height, 10))
}

// Account returns an account's state on chain (GET /api/v1/accounts/{id});
// an account the chain has never seen is a 404 (see IsNotFound).
func (c *Client) Account(ctx context.Context, id string) (*api.Account, error) {
	return get[api.Account](ctx, c, "/api/v1/accounts/"+url.PathEscape(id))
}

// RegisteredModel returns a model's registration on chain (GET
// /api/v1/models/{name}).
func (c *Client) RegisteredModel(ctx context.Context, name string) (*ledger.Model, error) {
	return get[ledger.Model](ctx, c, "/api/v1/models/"+url.PathEscape(name))
}

// RegisteredNode returns a node's registration on chain (GET
// /api/v1/nodes/{id}).
func (c *Client) RegisteredNode(ctx context.Context, id string) (*ledger.Node, error) {
	return get[ledger.Node](ctx, c, "/api/v1/nodes/"+url.PathEscape(id))
}

// Epochs returns closed epochs' settlement records from epoch after on, at
// most limit of them (0: the node's page size) (GET /api/v1/epochs).
func (c *Client) Epochs(ctx context.Context, after uint64, limit int) (*api.EpochPage, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return get[api.EpochPage](ctx, c, "/api/v1/epochs?"+q.Encode())
}

// Epoch returns one closed epoch's settlement record (GET
// /api/v1/epochs/{n}).
func (c *Client) Epoch(ctx context.Context, n uint64) (*ledger.EpochSettlement, error) {
	return get[ledger.EpochSettlement](ctx, c, "/api/v1/epochs/"+strconv.FormatUint(n, 10))
}

// ChainReceipt returns the chain's record of an included receipt (GET
// /api/v1/chain/receipts/{id}): the epoch it is charged in, its charge and
// discount, and whether it was paid. id is the receipt id in hex.
func (c *Client) ChainReceipt(ctx context.Context, id string) (*ledger.ReceiptState, error) {
	return get[ledger.ReceiptState](ctx, c, "/api/v1/chain/receipts/"+url.PathEscape(id))
}

// ReceiptProof returns the proof that a receipt is under the receipts root
// of its epoch's settlement (GET /api/v1/receipts/{id}/proof). id is the
// receipt id in hex, or a prefix of it that names one receipt the node
// holds. A receipt the chain has not included is a 404 *Error
// (IsNotFound), one whose epoch is open a 409 with code "epoch_open", and
// a node without a chain answers 503. Check the proof against the root of
// the epoch's settlement (Epoch), not the root the answer carries.
func (c *Client) ReceiptProof(ctx context.Context, id string) (*api.ReceiptProof, error) {
	return get[api.ReceiptProof](ctx, c, "/api/v1/receipts/"+url.PathEscape(id)+"/proof")
}

// SubmitTx sends a signed transaction through the node and waits until it
// is in a block (POST /api/v1/txs). A tx the chain refused is an *Error;
// a tx included with a failing result has a non-zero Code.
func (c *Client) SubmitTx(ctx context.Context, tx []byte) (*api.TxResult, error) {
	var v api.TxResult
	if err := c.Do(ctx, http.MethodPost, "/api/v1/txs", "application/octet-stream", tx, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RMOs lists the offerings, open, failed or graduated, in model order (GET
// /api/v1/rmos).
func (c *Client) RMOs(ctx context.Context) ([]api.Offering, error) {
	v, err := get[[]api.Offering](ctx, c, "/api/v1/rmos")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// RMO returns a model's offering (GET /api/v1/rmos/{model}); a model with
// none is a 404 (see IsNotFound).
func (c *Client) RMO(ctx context.Context, model string) (*api.Offering, error) {
	return get[api.Offering](ctx, c, "/api/v1/rmos/"+url.PathEscape(model))
}

// Pools lists the protocol pools in id order (GET /api/v1/pools).
func (c *Client) Pools(ctx context.Context) ([]api.Pool, error) {
	v, err := get[[]api.Pool](ctx, c, "/api/v1/pools")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// Pool returns one pool by id: "flock" (FLOCK/usd) or "mt:<model>" (GET
// /api/v1/pools/{id}); an unknown pool is a 404.
func (c *Client) Pool(ctx context.Context, id string) (*api.Pool, error) {
	return get[api.Pool](ctx, c, "/api/v1/pools/"+url.PathEscape(id))
}

// Supply returns every denom's minted, burned, withdrawn and circulating
// totals, in denom order (GET /api/v1/supply).
func (c *Client) Supply(ctx context.Context) ([]api.DenomSupply, error) {
	v, err := get[[]api.DenomSupply](ctx, c, "/api/v1/supply")
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// Treasury returns the treasury account's balances (GET /api/v1/treasury).
func (c *Client) Treasury(ctx context.Context) (*api.Treasury, error) {
	return get[api.Treasury](ctx, c, "/api/v1/treasury")
}

// Reserves returns the usd buyback reserves carried over: the FLOCK
// buyback's and each model's MT buyback's (GET /api/v1/reserves).
func (c *Client) Reserves(ctx context.Context) (*api.Reserves, error) {
	return get[api.Reserves](ctx, c, "/api/v1/reserves")
}

// Stakes returns every stake position of an account, in model order: MT
// staked, counting now, unbonding with release epochs (GET
// /api/v1/stakes/{account}); an account with none has an empty list.
func (c *Client) Stakes(ctx context.Context, account string) (*api.Stakes, error) {
	return get[api.Stakes](ctx, c, "/api/v1/stakes/"+url.PathEscape(account))
}
