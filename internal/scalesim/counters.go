package scalesim

import (
	"context"
	"sync/atomic"

	"time"

	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Traffic is what GossipSub routers sent and received: RPC bytes as on the
// stream (the protobuf and its varint length prefix; the transport's
// encryption and multiplexing are not counted), the part of them that is
// control messages, and the messages (receipts) carried.
type Traffic struct {
	SentBytes, RecvBytes     int64
	SentControl, RecvControl int64
	SentMessages             int64
	RecvMessages             int64
	// Duplicates are received messages the router had seen already.
	Duplicates int64
	// IHaveIDs and IWantIDs count the message ids announced and asked for
	// (sent).
	IHaveIDs, IWantIDs int64
	// Dropped counts the messages of RPCs the routers dropped (a peer's
	// send queue full); Throttled the received messages not validated
	// because the validation queue was full or throttled.
	Dropped, Throttled int64
}

func (t *Traffic) add(o Traffic) {
	t.SentBytes += o.SentBytes
	t.RecvBytes += o.RecvBytes
	t.SentControl += o.SentControl
	t.RecvControl += o.RecvControl
	t.SentMessages += o.SentMessages
	t.RecvMessages += o.RecvMessages
	t.Duplicates += o.Duplicates
	t.IHaveIDs += o.IHaveIDs
	t.IWantIDs += o.IWantIDs
	t.Dropped += o.Dropped
	t.Throttled += o.Throttled
}

// tracer is a pubsub.RawTracer that counts one router's traffic.
type tracer struct {
	sentBytes, recvBytes     atomic.Int64
	sentControl, recvControl atomic.Int64
	sentMessages             atomic.Int64
	recvMessages             atomic.Int64
	duplicates               atomic.Int64
	ihaveIDs, iwantIDs       atomic.Int64
	dropped, throttled       atomic.Int64
}

var _ pubsub.RawTracer = (*tracer)(nil)

func (t *tracer) reset() {
	for _, c := range []*atomic.Int64{&t.sentBytes, &t.recvBytes, &t.sentControl, &t.recvControl,
		&t.sentMessages, &t.recvMessages, &t.duplicates, &t.ihaveIDs, &t.iwantIDs, &t.dropped, &t.throttled} {
		c.Store(0)
	}
}

func (t *tracer) snapshot() Traffic {
	return Traffic{
		SentBytes: t.sentBytes.Load(), RecvBytes: t.recvBytes.Load(),
		SentControl: t.sentControl.Load(), RecvControl: t.recvControl.Load(),
		SentMessages: t.sentMessages.Load(), RecvMessages: t.recvMessages.Load(),
		Duplicates: t.duplicates.Load(), IHaveIDs: t.ihaveIDs.Load(), IWantIDs: t.iwantIDs.Load(),
		Dropped: t.dropped.Load(), Throttled: t.throttled.Load(),
	}
}

// wireSize is an RPC's size on the stream: its encoding and the varint
// that delimits it.
func wireSize(m *pb.RPC) int64 {
	n := proto.Size(m)
	return int64(n + protowire.SizeVarint(uint64(n)))
}

func controlSize(m *pb.RPC) int64 {
	if m.Control == nil {
		return 0
	}
	// The control field's bytes within the RPC: tag, length, body.
	n := proto.Size(m.Control)
	return int64(1 + protowire.SizeVarint(uint64(n)) + n)
}

// SendRPC implements pubsub.RawTracer.
func (t *tracer) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	t.sentBytes.Add(wireSize(&rpc.RPC))
	t.sentControl.Add(controlSize(&rpc.RPC))
	t.sentMessages.Add(int64(len(rpc.Publish)))
	if c := rpc.Control; c != nil {
		for _, ih := range c.Ihave {
			t.ihaveIDs.Add(int64(len(ih.MessageIDs)))
		}
		for _, iw := range c.Iwant {
			t.iwantIDs.Add(int64(len(iw.MessageIDs)))
		}
	}
}

// RecvRPC implements pubsub.RawTracer.
func (t *tracer) RecvRPC(rpc *pubsub.RPC) {
	t.recvBytes.Add(wireSize(&rpc.RPC))
	t.recvControl.Add(controlSize(&rpc.RPC))
	t.recvMessages.Add(int64(len(rpc.Publish)))
}

// DuplicateMessage implements pubsub.RawTracer.
func (t *tracer) DuplicateMessage(*pubsub.Message) { t.duplicates.Add(1) }

// DropRPC implements pubsub.RawTracer.
func (t *tracer) DropRPC(rpc *pubsub.RPC, _ peer.ID) { t.dropped.Add(int64(len(rpc.Publish))) }

// RejectMessage implements pubsub.RawTracer.
func (t *tracer) RejectMessage(_ *pubsub.Message, reason string) {
	if reason == pubsub.RejectValidationQueueFull || reason == pubsub.RejectValidationThrottled {
		t.throttled.Add(1)
	}
}

// The rest of pubsub.RawTracer is not counted.

func (t *tracer) AddPeer(peer.ID, protocol.ID)                         {}
func (t *tracer) RemovePeer(peer.ID)                                   {}
func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *tracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *tracer) Join(string)                                          {}
func (t *tracer) Leave(string)                                         {}
func (t *tracer) Graft(peer.ID, string)                                {}
func (t *tracer) Prune(peer.ID, string)                                {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) DeliverMessage(*pubsub.Message)                       {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *tracer) UndeliverableMessage(*pubsub.Message)                 {}

// countingStore counts the bytes (keys and values) written to a datastore,
// directly or in batches.
type countingStore struct {
	ds.Batching
	bytes, writes atomic.Int64
}

func (c *countingStore) count(k ds.Key, v []byte) {
	c.bytes.Add(int64(len(k.String()) + len(v)))
	c.writes.Add(1)
}

// Put implements ds.Datastore.
func (c *countingStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	c.count(k, v)
	return c.Batching.Put(ctx, k, v)
}

// Batch implements ds.Batching.
func (c *countingStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := c.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &countingBatch{Batch: b, c: c}, nil
}

type countingBatch struct {
	ds.Batch
	c *countingStore
}

// Put implements ds.Batch.
func (b *countingBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	b.c.count(k, v)
	return b.Batch.Put(ctx, k, v)
}
