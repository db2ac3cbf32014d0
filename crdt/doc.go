// Package crdt will hold the replicated session-metadata map, a
// deterministic core: per-field CRDTs (a monotonic lifecycle lattice,
// per-node grow-only counters, add-wins sets, registers ordered by a hybrid
// logical clock) merged as deltas that commute, associate and are
// idempotent, so nodes converge under partitions and message loss. No
// clocks, network or goroutines inside.
package crdt
