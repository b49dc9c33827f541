// Package chaos holds the fault campaign and the soak of a four-node devnet
// of real fomo processes. Both are tests that `make test` skips: TestChaos
// runs when CHAOS_DURATION is set (`make chaos`), TestSoak when
// SOAK_DURATION is set (`make soak`).
//
// The campaign starts `fomo devnet` with four validators that all serve the
// synthetic model, sends requests whose authorizations the clients sign
// themselves, and meanwhile kills (SIGKILL, then restart over the same
// home), pauses (SIGSTOP/SIGCONT) and partitions (iptables over loopback)
// random nodes, seeded and bounded in count and time. After a settle
// period it checks the invariants of docs/reliability.md: every receipt a
// client holds is on chain once (paid, or unpaid with its evidence), no
// token was served without a receipt, the app hashes agree at every
// height, every denom is conserved, no balance wrapped below zero, and the
// chain made progress whenever three of four validators were up.
package chaos
