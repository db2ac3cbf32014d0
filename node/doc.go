// Package node is the Lucid daemon: it loads a node home (identity, config,
// data), opens the Badger datastore, builds the libp2p host, joins the DHT
// and GossipSub, keeps the node's capacity record published, and serves the
// local API (JSON-RPC 2.0, Prometheus metrics, health) on loopback.
//
// It is the I/O shell that wires Lucid's packages together; the
// deterministic cores (crdt, consensus, vm, media codecs) do no I/O of their
// own and receive time and randomness from here.
package node
