// Package vm will hold the deterministic state machine that executes blocks
// of the Lucid data chain: typed transactions that register sessions and
// anchor their manifests, commit work tallies, change bounded parameters by
// vote, and account credits for payouts; with a state root over the sorted
// state. No clocks, randomness, map iteration order or floating point.
package vm
