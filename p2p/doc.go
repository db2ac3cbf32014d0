// Package p2p is Lucid's networking shell: the libp2p host (Noise and yamux
// over pluggable transports: TCP and QUIC here, Tor onion services later),
// resource and connection limits sized by profile, the private Kademlia DHT
// (protocol prefix /lucid) with its capacity-record validator, GossipSub, and
// the lookups built on them: find hosts by service, fetch a capacity record,
// reach a peer by its ID alone.
//
// Everything here does I/O. The pure parts it relies on (record encoding and
// validation) live in subpackages such as p2p/capacity.
package p2p
