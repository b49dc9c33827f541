package p2p

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// GossipSubProtocols returns the GossipSub protocol IDs of network net,
// /fomo/<net>/meshsub/1.3.0 and 1.2.0. Nodes of different networks do not
// share a GossipSub router.
func GossipSubProtocols(net string) []protocol.ID {
	return []protocol.ID{
		protocol.ID(ProtocolID(net, "meshsub", "1.3.0")),
		protocol.ID(ProtocolID(net, "meshsub", "1.2.0")),
	}
}

// gossipFeatures maps the network's GossipSub protocols to the features of
// the standard ones: GossipSubDefaultFeatures knows only the standard IDs
// and would turn the mesh off (go-dependencies.md, pitfall 6).
func gossipFeatures(net string) pubsub.GossipSubFeatureTest {
	ids := GossipSubProtocols(net)
	std := map[protocol.ID]protocol.ID{ids[0]: pubsub.GossipSubID_v13, ids[1]: pubsub.GossipSubID_v12}
	return func(f pubsub.GossipSubFeature, p protocol.ID) bool {
		s, ok := std[p]
		return ok && pubsub.GossipSubDefaultFeatures(f, s)
	}
}

// MessageID is the GossipSub message id: the SHA-256 of the message data,
// so the same payload republished by different peers is one message.
func MessageID(m *pb.Message) string {
	sum := sha256.Sum256(m.Data)
	return string(sum[:])
}

// ValidateWorkers is how many validation workers every host's GossipSub
// router runs (pubsub.WithValidateWorkers; the library's default is one
// per CPU). Inline topic validators run in these workers, and the receipt
// pool's validator, inline on such a router, waits in its worker for the
// batch its receipt is verified in: the workers bound the receipts in
// validation at once, as the per-topic throttle of asynchronous
// validation did (1,024 by default), with no goroutine started per
// message. A parked worker costs its stack, a few KiB. Other topics'
// inline validators (capacity adverts) share the workers: when every one
// waits in a receipts batch the pool closes that batch at once, so they
// wait at most for batches' verification, not for the batch window.
const ValidateWorkers = 1024

// PeerScoreParams returns the peer-score parameters for a small network:
// colocation scoring off (several nodes share a datacenter address),
// behaviour penalties on, scores decaying over about ten minutes. Topic
// parameters are added per topic with Topic.SetScoreParams.
func PeerScoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                      map[string]*pubsub.TopicScoreParams{},
		TopicScoreCap:               100,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    0,
		IPColocationFactorThreshold: 1,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
}

// PeerScoreThresholds returns the thresholds paired with PeerScoreParams.
func PeerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           10,
		OpportunisticGraftThreshold: 5,
	}
}

// TopicScoreParams returns per-topic score parameters that punish invalid
// messages (a validator's Reject) and leave the delivery-rate terms off, as
// suits a topic where every node publishes on a timer.
func TopicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  100,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
		FirstMessageDeliveriesCap:      50,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}

// GossipSubOptions returns the options of every host's GossipSub router
// on network net: unsigned, authorless messages (StrictNoSign), message
// ids by MessageID, peer scoring, ValidateWorkers validation workers,
// the network's protocol IDs and, when maxMessageSize > 0, that message
// size limit. New adds peer discovery through the DHT; in-process
// simulations (internal/scalesim) build their routers with these alone.
//
// Every topic's payload authenticates itself (receipts carry the client's
// and the serving node's signatures, capacity adverts their node's), and
// every topic validator checks it, so a GossipSub signature would be a
// third signature per message to make and verify, proving only who
// published it first. Messages carry no signature, author or sequence
// number, and are told apart by content (MessageID). Routers of both
// policies reject each other's messages: every node of a network must
// use the same one (the protocol IDs are the network's).
func GossipSubOptions(net string, maxMessageSize int, log *slog.Logger) []pubsub.Option {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []pubsub.Option{
		pubsub.WithLogger(log.With("component", "gossipsub")),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(MessageID),
		pubsub.WithPeerScore(PeerScoreParams(), PeerScoreThresholds()),
		pubsub.WithValidateWorkers(ValidateWorkers),
		pubsub.WithGossipSubProtocols(GossipSubProtocols(net), gossipFeatures(net)),
	}
	if maxMessageSize > 0 {
		opts = append(opts, pubsub.WithMaxMessageSize(maxMessageSize))
	}
	return opts
}

func newPubSub(ctx context.Context, h *Host, cfg Config, log *slog.Logger) (*pubsub.PubSub, error) {
	opts := append(GossipSubOptions(cfg.NetworkID, cfg.MaxMessageSize, log),
		pubsub.WithDiscovery(drouting.NewRoutingDiscovery(h.kad)))
	return pubsub.NewGossipSub(ctx, h, opts...)
}

// ContentMessageIDs reports that the host's GossipSub message ids are
// MessageID's: the SHA-256 of the message data. The receipt pool takes
// its digests from them.
func (h *Host) ContentMessageIDs() bool { return true }

// ValidateWorkers reports how many validation workers the host's GossipSub
// router runs (the constant ValidateWorkers): the receipt pool validates
// its topic inline in them.
func (h *Host) ValidateWorkers() int { return ValidateWorkers }

// JoinTopic joins the network's topic fomo/<net>/<name>/1 (see Topic) and
// returns it; joining a topic twice returns the same handle. The topic is
// closed with the host.
func (h *Host) JoinTopic(name string) (*pubsub.Topic, error) {
	full := h.Topic(name)
	h.topicsMu.Lock()
	defer h.topicsMu.Unlock()
	if t, ok := h.topics[full]; ok {
		return t, nil
	}
	t, err := h.ps.Join(full)
	if err != nil {
		return nil, err
	}
	h.topics[full] = t
	return t, nil
}
