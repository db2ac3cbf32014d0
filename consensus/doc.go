// Package consensus will hold PoOT (Proof of Operational Tasks), a
// deterministic core: signed work proofs (relay bandwidth, storage
// availability, validation, uptime), the work-credit tally over a sliding
// window, the leader schedule for 120 s slots seeded by the previous block
// hash, and the blocks that anchor sessions. No clocks, network or
// goroutines inside: time and randomness are arguments.
package consensus
