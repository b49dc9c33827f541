// Package devnet runs a local network of fomo nodes on loopback, one child
// process of the fomo binary ("fomo node --home DIR/node<i>") per node. It
// is what "fomo devnet" (and "make run") runs.
//
// A devnet lives in a directory DIR (a new temporary directory unless one
// is given):
//
//	DIR/node<i>/         each node's home: config.toml, keys, chain, node.log
//	DIR/keys/            the demo user's key and session key, the issuer's
//	                     and the two offering supporters' keys, and (with
//	                     the chain) the devnet protocol key
//	DIR/accounts.toml    the local account registry (used without the chain)
//	DIR/genesis.toml     the network's genesis (with the chain)
//	DIR/models/          the synthetic GGUF model the nodes serve
//
// On a node's first start the devnet picks free loopback ports for its API,
// libp2p and CometBFT and keeps them in its config.toml, with every other
// node as a bootstrap and chain peer, so that a node restarted by hand
// listens where its peers look for it. A run over an existing DIR reuses its
// network (genesis, keys, chain) when the options describe the same genesis;
// otherwise it writes a new genesis and clears the nodes' chain state.
//
// Lifecycle:
//
//	New ──▶ Start (nodes up, model announced; traffic, epoch tables and,
//	               with the chain, the model's offering running)
//	    ──▶ Wait (until ctx ends or, without KeepGoing, a node exits)
//	    ──▶ Stop (SIGTERM to every node, SIGKILL to its process group after 30 s)
//
// With the chain and the model, the genesis gives FLOCK to the model's
// issuer and two supporters and a raise window of minutes, and the devnet
// runs the offering (DESIGN §9.5) in the background: launch, a commit by
// each supporter, the second crossing the end of the sale bucket, partly
// refunded, which graduates the offering at its maximum. The demo user then
// buys MT in the pools (usd → FLOCK → MT) and stakes 1,500 MT, past the
// first discount tier (DESIGN §9.6). Each step is skipped when the chain
// shows it done, so a second run over DIR goes on.
//
// The genesis funds emissions (DESIGN §9.7): a reserve of 10,000,000 FLOCK
// and a first budget of 100 FLOCK an epoch, with the FLOCK/usd pool seeded
// at 0.0001 usd per FLOCK so that the anti-farming cap (a model's gross
// valued in FLOCK) lets a visible part of the budget out at the devnet's
// traffic, and stake-gated pools released over an hour. It also registers
// a second model of the same issuer, "<model>-idle", that no node serves
// and no request uses: its emission is zero in every epoch.
//
// Each closed epoch prints, in under 100 columns: the gross and its split
// (node pay, routing, net), the MT and FLOCK burned, the pool prices, the
// emission budget with each model's amount and what the cap kept, the
// stake-gated releases, the three accounts rewarded most (by devnet role),
// and the "fomo epoch show N --plot DIR/epochs.png" command that draws
// the epochs so far.
//
// Run does all of it. Progress goes to the writer given with WithOutput, in
// the words "fomo devnet" prints.
package devnet
