package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Resource-manager service names of the fomo protocols. A protocol handler
// (and the opener of an outgoing stream) attaches its stream to its service
// with SetService, so the service's limits bound it.
const (
	// ServiceInfer is the inference stream protocol.
	ServiceInfer = "fomo.infer"
	// ServiceModels is the manifest and provider protocol work.
	ServiceModels = "fomo.models"
	// ServiceCapacity is capacity advert traffic.
	ServiceCapacity = "fomo.capacity"
	// ServiceReceipts is receipt traffic.
	ServiceReceipts = "fomo.receipts"
)

// serviceLimits are the fomo services' limits: a base for a minimal machine
// plus an increase per GiB of memory given to libp2p (an eighth of the
// machine's memory), as rcmgr scales its defaults.
var serviceLimits = map[string]struct {
	svc, peer       rcmgr.BaseLimit
	svcInc, peerInc rcmgr.BaseLimitIncrease
}{
	// Inference streams are long-lived (a whole generation) and carry
	// request bodies of up to a few MiB.
	ServiceInfer: {
		svc:     rcmgr.BaseLimit{StreamsInbound: 128, StreamsOutbound: 128, Streams: 256, Memory: 64 << 20},
		svcInc:  rcmgr.BaseLimitIncrease{StreamsInbound: 128, StreamsOutbound: 128, Streams: 256, Memory: 64 << 20},
		peer:    rcmgr.BaseLimit{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 16 << 20},
		peerInc: rcmgr.BaseLimitIncrease{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 4 << 20},
	},
	ServiceModels: {
		svc:     rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 16 << 20},
		svcInc:  rcmgr.BaseLimitIncrease{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 8 << 20},
		peer:    rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 4 << 20},
		peerInc: rcmgr.BaseLimitIncrease{},
	},
	ServiceCapacity: {
		svc:     rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 16 << 20},
		svcInc:  rcmgr.BaseLimitIncrease{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 8 << 20},
		peer:    rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 4 << 20},
		peerInc: rcmgr.BaseLimitIncrease{},
	},
	ServiceReceipts: {
		svc:     rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 32 << 20},
		svcInc:  rcmgr.BaseLimitIncrease{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 16 << 20},
		peer:    rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 8 << 20},
		peerInc: rcmgr.BaseLimitIncrease{},
	},
}

// Limits returns the resource limits the host runs with: libp2p's default
// limits and service limits, plus the fomo services, scaled to this machine
// (an eighth of its memory and half its file descriptors).
func Limits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	// DefaultLimits is shared; give the copy its own service maps.
	limits.ServiceLimits, limits.ServicePeerLimits = nil, nil
	limits.ProtocolLimits, limits.ProtocolPeerLimits, limits.PeerLimits = nil, nil, nil
	libp2p.SetDefaultServiceLimits(&limits)
	for name, l := range serviceLimits {
		limits.AddServiceLimit(name, l.svc, l.svcInc)
		limits.AddServicePeerLimit(name, l.peer, l.peerInc)
	}
	return limits.AutoScale()
}

func newResourceManager() (network.ResourceManager, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(Limits()))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// SetService attaches stream s to the resource-manager service name (one of
// the Service* constants), so the service's limits apply to it. A handler
// calls it first; on error it must Reset the stream.
func SetService(s network.Stream, name string) error {
	if err := s.Scope().SetService(name); err != nil {
		return fmt.Errorf("p2p: service %s: %w", name, err)
	}
	return nil
}
