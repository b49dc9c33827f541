// Package infer implements the inference stream protocol
// /fomo/<net>/infer/1.0.0 and the forwarding built on it.
//
// A stream carries varint-length-delimited protobuf frames (pb.Frame). The
// client opens a stream and writes one InferRequest, keeping its write side
// open so that a reset reaches the server at any time; the server
// answers with one Chunk per runtime event and then exactly one Final that
// holds the usage, the finish reason and either the receipt or an OpenAI
// error. Every stream has an overall deadline and an idle deadline between
// frames, frames and request bodies have size limits, and a protocol error
// resets the stream. A client that resets its stream cancels the request:
// the server cancels the runtime's context and stops within one event.
//
// Server serves the protocol from a Backend (the node's runtime registry).
// Dial is the client. Router picks a provider for a model from the DHT
// providers and the fresh capacity adverts and forwards a request to it,
// retrying once on another provider when the first fails before its first
// chunk. Combined serves local models from the registry and forwards the
// rest.
package infer
