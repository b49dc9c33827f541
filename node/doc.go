// Package node is the composition root of a fomo node: it builds every part
// from the config, starts them in order and stops them in reverse, each stop
// bounded by a deadline.
//
// Lifecycle:
//
//	New ──▶ created ──Start──▶ running ──Stop──▶ stopped
//	           │                  ▲
//	           └──Start fails─────┘ (parts already started are stopped in reverse)
//
// Start order: datastore, GPU monitor, libp2p host, runtimes, model routing,
// HTTP API. Stop runs the same list backwards: the API stops taking requests
// and lets in-flight responses run for node.stream_grace, then runtimes stop
// (supervised children are terminated), then the host, the GPU monitor and the
// datastore. Stop may be called on a node that never started, and more than once.
package node
