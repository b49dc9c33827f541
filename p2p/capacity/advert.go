// Package capacity publishes and collects signed capacity adverts: every few
// seconds each node gossips, on fomo/<net>/capacity/1, what it serves (per
// model: queue depth, measured tokens/s, prices) and a summary of its GPUs,
// signed with its host key in a libp2p envelope (domain fomo/capacity/v1).
// A topic validator rejects forged or malformed adverts and ignores stale or
// future-dated ones; the Service keeps the freshest advert of every peer and
// answers which peers have a fresh advert for a model, which is what
// provider selection needs.
package capacity

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fomonet/fomo/p2p/capacity/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"google.golang.org/protobuf/proto"
)

// Domain is the signature domain of capacity adverts.
const Domain = "fomo/capacity/v1"

// Codec is the envelope payload type of capacity adverts.
var Codec = []byte("/fomo/capacity/v1")

// Limits on what an advert may hold.
const (
	// MaxAdvertSize bounds an encoded envelope.
	MaxAdvertSize = 64 << 10
	// MaxModels bounds the models in one advert.
	MaxModels = 256
	// MaxNameLen bounds model and GPU names, in bytes.
	MaxNameLen = 128
)

// ModelCapacity is what a node offers for one model.
type ModelCapacity struct {
	// Name is the served model name.
	Name string `json:"name"`
	// QueueDepth counts requests queued or running for the model.
	QueueDepth uint32 `json:"queue_depth"`
	// TokensPerSecondMilli is the measured generation throughput in
	// thousandths of a token per second (0: not measured yet).
	TokensPerSecondMilli uint64 `json:"tokens_per_second_milli"`
	// InputPrice and OutputPrice are in usd base units per 1M tokens.
	InputPrice  uint64 `json:"input_price"`
	OutputPrice uint64 `json:"output_price"`
}

// GPUSummary sums up a node's GPUs.
type GPUSummary struct {
	Count              uint32 `json:"count"`
	Name               string `json:"name,omitempty"`
	MemoryTotalBytes   uint64 `json:"memory_total_bytes"`
	MemoryFreeBytes    uint64 `json:"memory_free_bytes"`
	UtilizationPercent uint32 `json:"utilization_percent"`
}

// AdvertContent is what a node advertises; the node supplies it through a
// Source.
type AdvertContent struct {
	Models []ModelCapacity `json:"models"`
	GPU    GPUSummary      `json:"gpu"`
	// ChainAddr is the node's CometBFT peer address ("<node id>@host:port"),
	// empty when it runs no settlement chain.
	ChainAddr string `json:"chain_addr,omitempty"`
}

// Advert is one node's signed capacity at one moment.
type Advert struct {
	// Peer is the advertising node, which signed the advert.
	Peer peer.ID `json:"peer_id"`
	AdvertContent
	// Time is when the advert was made, to the millisecond.
	Time time.Time `json:"time"`
}

// Model returns the advert's entry for model.
func (a Advert) Model(name string) (ModelCapacity, bool) {
	for _, m := range a.Models {
		if m.Name == name {
			return m, true
		}
	}
	return ModelCapacity{}, false
}

// Errors returned by Decode.
var (
	// ErrMalformed is returned for bytes that are not a well-formed advert.
	ErrMalformed = errors.New("capacity: malformed advert")
	// ErrSignature is returned for an envelope whose signature does not
	// verify, or an advert whose peer is not its signer.
	ErrSignature = errors.New("capacity: bad advert signature")
)

// advertRecord is the record.Record sealed in the envelope.
type advertRecord struct{ msg pb.Advert }

func (*advertRecord) Domain() string { return Domain }
func (*advertRecord) Codec() []byte  { return Codec }
func (r *advertRecord) MarshalRecord() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&r.msg)
}
func (r *advertRecord) UnmarshalRecord(b []byte) error { return proto.Unmarshal(b, &r.msg) }

// Sign encodes a and signs it with sk, which must be a.Peer's key.
func Sign(a Advert, sk crypto.PrivKey) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("capacity: signing key: %w", err)
	}
	if a.Peer == "" {
		a.Peer = id
	}
	if a.Peer != id {
		return nil, fmt.Errorf("capacity: advert of %s cannot be signed by %s", a.Peer, id)
	}
	if err := check(a); err != nil {
		return nil, err
	}
	rec := &advertRecord{msg: *toPB(a)}
	env, err := record.Seal(rec, sk)
	if err != nil {
		return nil, fmt.Errorf("capacity: sealing advert: %w", err)
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("capacity: encoding envelope: %w", err)
	}
	if len(b) > MaxAdvertSize {
		return nil, fmt.Errorf("capacity: advert of %d bytes exceeds %d", len(b), MaxAdvertSize)
	}
	return b, nil
}

// Decode verifies a signed advert envelope and returns the advert. The
// error wraps ErrSignature for a bad signature or a signer other than the
// advert's peer, and ErrMalformed for anything else.
func Decode(data []byte) (Advert, error) {
	if len(data) > MaxAdvertSize {
		return Advert{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxAdvertSize)
	}
	env, err := record.UnmarshalEnvelope(data)
	if err != nil {
		return Advert{}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if !bytes.Equal(env.PayloadType, Codec) {
		return Advert{}, fmt.Errorf("%w: payload type %q", ErrMalformed, env.PayloadType)
	}
	var rec advertRecord
	if _, err := record.ConsumeTypedEnvelope(data, &rec); err != nil {
		if errors.Is(err, record.ErrInvalidSignature) {
			return Advert{}, fmt.Errorf("%w: %v", ErrSignature, err)
		}
		return Advert{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return Advert{}, fmt.Errorf("%w: signer key: %v", ErrMalformed, err)
	}
	a, err := fromPB(&rec.msg)
	if err != nil {
		return Advert{}, err
	}
	if a.Peer != signer {
		return Advert{}, fmt.Errorf("%w: advert of %s signed by %s", ErrSignature, a.Peer, signer)
	}
	return a, nil
}

func toPB(a Advert) *pb.Advert {
	out := &pb.Advert{
		PeerId:      []byte(a.Peer),
		TimestampMs: a.Time.UnixMilli(),
		ChainAddr:   a.ChainAddr,
		Gpu: &pb.GPUSummary{
			Count: a.GPU.Count, Name: a.GPU.Name, MemoryTotalBytes: a.GPU.MemoryTotalBytes,
			MemoryFreeBytes: a.GPU.MemoryFreeBytes, UtilizationPercent: a.GPU.UtilizationPercent,
		},
	}
	for _, m := range a.Models {
		out.Models = append(out.Models, &pb.ModelCapacity{
			Name: m.Name, QueueDepth: m.QueueDepth, TokensPerSecondMilli: m.TokensPerSecondMilli,
			InputPrice: m.InputPrice, OutputPrice: m.OutputPrice,
		})
	}
	return out
}

func fromPB(m *pb.Advert) (Advert, error) {
	id, err := peer.IDFromBytes(m.GetPeerId())
	if err != nil {
		return Advert{}, fmt.Errorf("%w: peer id: %v", ErrMalformed, err)
	}
	a := Advert{Peer: id, Time: time.UnixMilli(m.GetTimestampMs())}
	a.ChainAddr = m.GetChainAddr()
	g := m.GetGpu()
	a.GPU = GPUSummary{Count: g.GetCount(), Name: g.GetName(), MemoryTotalBytes: g.GetMemoryTotalBytes(),
		MemoryFreeBytes: g.GetMemoryFreeBytes(), UtilizationPercent: g.GetUtilizationPercent()}
	for _, mc := range m.GetModels() {
		a.Models = append(a.Models, ModelCapacity{Name: mc.GetName(), QueueDepth: mc.GetQueueDepth(),
			TokensPerSecondMilli: mc.GetTokensPerSecondMilli(), InputPrice: mc.GetInputPrice(), OutputPrice: mc.GetOutputPrice()})
	}
	if err := check(a); err != nil {
		return Advert{}, err
	}
	return a, nil
}

// check validates an advert's content.
func check(a Advert) error {
	if a.Time.UnixMilli() <= 0 {
		return fmt.Errorf("%w: no timestamp", ErrMalformed)
	}
	if len(a.Models) > MaxModels {
		return fmt.Errorf("%w: %d models, limit %d", ErrMalformed, len(a.Models), MaxModels)
	}
	names := make([]string, 0, len(a.Models))
	for i, m := range a.Models {
		if err := checkName(m.Name, false); err != nil {
			return fmt.Errorf("%w: model %d: %v", ErrMalformed, i, err)
		}
		names = append(names, m.Name)
	}
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return fmt.Errorf("%w: model %q listed twice", ErrMalformed, names[i])
		}
	}
	if err := checkName(a.GPU.Name, true); err != nil {
		return fmt.Errorf("%w: gpu: %v", ErrMalformed, err)
	}
	if a.ChainAddr != "" {
		id, hostport, ok := strings.Cut(a.ChainAddr, "@")
		if _, _, err := net.SplitHostPort(hostport); !ok || len(id) != 40 || strings.Trim(id, "0123456789abcdef") != "" || err != nil || len(a.ChainAddr) > 128 {
			return fmt.Errorf("%w: chain address %.128q is not <node id>@host:port", ErrMalformed, a.ChainAddr)
		}
	}
	if a.GPU.UtilizationPercent > 100 {
		return fmt.Errorf("%w: gpu utilization %d%%", ErrMalformed, a.GPU.UtilizationPercent)
	}
	if a.GPU.MemoryFreeBytes > a.GPU.MemoryTotalBytes {
		return fmt.Errorf("%w: gpu free memory exceeds total", ErrMalformed)
	}
	return nil
}

func checkName(s string, emptyOK bool) error {
	switch {
	case s == "" && !emptyOK:
		return errors.New("empty name")
	case len(s) > MaxNameLen:
		return fmt.Errorf("name of %d bytes, limit %d", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("name is not UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("name has control characters")
		}
	}
	return nil
}
