package receipt

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/fomonet/fomo/internal/testkeys"
	"github.com/fomonet/fomo/settle/receipt/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

const (
	testNet     = "devnet-1f2e3d4c"
	testModel   = "llama-3.1-8b-q4"
	testIssued  = uint64(1_790_000_000_000)
	testInPrice = 150_000
	testOutPric = 600_000
)

// world holds the participants of a test.
type world struct {
	client, session, node, other         crypto.PrivKey
	clientID, sessionID, nodeID, otherID peer.ID
}

func newWorld(tb testing.TB) *world {
	w := &world{}
	w.client, w.clientID = testkeys.Seeded(tb, 1)
	w.session, w.sessionID = testkeys.Seeded(tb, 2)
	w.node, w.nodeID = testkeys.Seeded(tb, 3)
	w.other, w.otherID = testkeys.Seeded(tb, 4)
	return w
}

// auth returns a valid authorization of the client for the node.
func (w *world) auth() Authorization {
	return Authorization{
		NetworkID:       testNet,
		Account:         w.clientID,
		Signer:          w.clientID,
		Model:           testModel,
		Node:            w.nodeID,
		Nonce:           [NonceSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		MaxOutputTokens: 1000,
		MaxCharge:       10_000,
		InputPrice:      testInPrice,
		OutputPrice:     testOutPric,
		RequestSHA256:   sha256.Sum256([]byte("request")),
		IssuedAtMs:      testIssued,
		ExpiresAtMs:     testIssued + 5*60_000,
	}
}

// receipt returns a valid receipt for authEnv: 1000 in, 500 out, charge
// (1000×150000 + 500×600000)/1e6 = 450.
func (w *world) receipt(authEnv []byte) Receipt {
	return Receipt{
		Authorization:  authEnv,
		Node:           w.nodeID,
		InputTokens:    1000,
		OutputTokens:   500,
		Finish:         FinishStop,
		ResponseSHA256: sha256.Sum256([]byte("response")),
		StartedAtMs:    testIssued + 100,
		CompletedAtMs:  testIssued + 2_000,
		Charge:         450,
	}
}

// signAuth is SignAuthorization, failing tb on error.
func signAuth(tb testing.TB, a Authorization, sk crypto.PrivKey) []byte {
	tb.Helper()
	env, err := SignAuthorization(a, sk)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// signReceipt is SignReceipt, failing tb on error.
func signReceipt(tb testing.TB, r Receipt, sk crypto.PrivKey) []byte {
	tb.Helper()
	env, err := SignReceipt(r, sk)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// sealAuth signs an authorization protobuf as is, skipping the checks of
// SignAuthorization.
func sealAuth(tb testing.TB, p *pb.Authorization, sk crypto.PrivKey) []byte {
	tb.Helper()
	b, err := seal(p, authRecord(nil), sk, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sealReceipt signs a receipt protobuf as is, skipping the checks of
// SignReceipt.
func sealReceipt(tb testing.TB, p *pb.Receipt, sk crypto.PrivKey) []byte {
	tb.Helper()
	b, err := seal(p, receiptRecord(nil), sk, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sealRaw signs raw payload bytes under domain and payload type.
func sealRaw(tb testing.TB, payload []byte, rec *payloadRecord, sk crypto.PrivKey) []byte {
	tb.Helper()
	b, err := seal(rawMessage(payload), rec, sk, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rawMessage is a proto.Message stand-in whose encoding is fixed bytes:
// an empty message with the bytes as unknown fields.
func rawMessage(payload []byte) proto.Message {
	m := &pb.Receipt{}
	m.ProtoReflect().SetUnknown(payload)
	return m
}

// fakes of the chain state.

type pricesMap map[string][2]uint64

func (m pricesMap) Prices(model string) (uint64, uint64, bool) {
	p, ok := m[model]
	return p[0], p[1], ok
}

type signersFunc func(account, signer peer.ID, atMs uint64) error

func (f signersFunc) Authorized(account, signer peer.ID, atMs uint64) error {
	return f(account, signer, atMs)
}

type epochsFunc func(issuedAtMs uint64) bool

func (f epochsFunc) Open(issuedAtMs uint64) bool { return f(issuedAtMs) }

type seenSet map[[32]byte]bool

func (s seenSet) Seen(id [32]byte) bool { return s[id] }

// checker returns a Checker under which w's receipts are valid: the
// session key is authorized for the client until testIssued + 1h, the
// epoch of testIssued is open, nothing was seen.
func (w *world) checker() Checker {
	return Checker{
		NetworkID: testNet,
		Prices:    pricesMap{testModel: {testInPrice, testOutPric}},
		Signers: signersFunc(func(account, signer peer.ID, atMs uint64) error {
			switch {
			case account != w.clientID || signer != w.sessionID:
				return ErrUnknownSigner
			case atMs > testIssued+3_600_000:
				return errors.New("session key expired")
			}
			return nil
		}),
		Epochs: epochsFunc(func(ms uint64) bool { return ms >= testIssued-86_400_000 }),
		Seen:   seenSet{},
	}
}
