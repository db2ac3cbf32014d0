package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/node/meta"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/p2p/capacity"
	"github.com/lucidnet/lucid/sessions"
)

// Default ports: 4710 for libp2p (TCP and UDP/QUIC), 4711 for the local API.
const (
	DefaultP2PPort = 4710
	DefaultAPIAddr = "127.0.0.1:4711"
)

// Config is the node's config.toml. Field comments live in the template that
// `lucid init` writes, where operators read them.
type Config struct {
	Node      NodeConfig      `toml:"node"`
	P2P       P2PConfig       `toml:"p2p"`
	API       APIConfig       `toml:"api"`
	Log       LogConfig       `toml:"log"`
	Capacity  CapacityConfig  `toml:"capacity"`
	Sessions  SessionsConfig  `toml:"sessions"`
	Recording RecordingConfig `toml:"recording"`
	Meta      MetaConfig      `toml:"meta"`
	Poot      PootConfig      `toml:"poot"`
	Chain     ChainConfig     `toml:"chain"`
	Tor       TorConfig       `toml:"tor"`
}

// TorConfig says how the node reaches Tor when its transports include
// "tor" (see docs/tor.md).
type TorConfig struct {
	// Control attaches to a running tor by its control port
	// ("127.0.0.1:9051" or "unix:/run/tor/control"); empty: the node
	// starts and owns a tor process.
	Control         string `toml:"control"`
	ControlPassword string `toml:"control_password"`
	// Binary is the tor the node starts; empty: tor on PATH.
	Binary string `toml:"binary"`
	// OnionPort is the port of the node's onion service.
	OnionPort int `toml:"onion_port"`
	// BootstrapTimeout bounds the wait for tor to bootstrap at start.
	BootstrapTimeout Duration `toml:"bootstrap_timeout"`
	// Torrc holds extra torrc lines for the tor the node starts (a
	// private test network's DirAuthority lines).
	Torrc string `toml:"torrc"`
}

// TorOnly reports whether the node runs in Tor-only mode: "tor" is its
// only transport.
func (c Config) TorOnly() bool {
	return len(c.P2P.Transports) == 1 && c.P2P.Transports[0] == p2p.TorTransport
}

// UsesTor reports whether "tor" is among the node's transports.
func (c Config) UsesTor() bool { return slices.Contains(c.P2P.Transports, p2p.TorTransport) }

// TransportMode names the transport choice of `lucid init --transport`:
// "tor" (onion only, production), "mixed" (onion and TCP, for relays and
// development) or "tcp" (TCP and QUIC, tests and local testnets).
func TransportMode(mode string) ([]string, error) {
	switch mode {
	case "tor":
		return []string{p2p.TorTransport}, nil
	case "mixed":
		return []string{p2p.TorTransport, "tcp"}, nil
	case "tcp":
		return []string{"tcp", "quic"}, nil
	}
	return nil, fmt.Errorf("transport %q: want tor, mixed or tcp", mode)
}

// WithTransport sets the transports and listen addresses of a mode: Tor
// listens on its onion service only (its address comes from the onion
// key), mixed adds TCP.
func (c Config) WithTransport(mode string) (Config, error) {
	ts, err := TransportMode(mode)
	if err != nil {
		return c, err
	}
	c.P2P.Transports = ts
	switch mode {
	case "tor":
		c.P2P.Listen = nil
	case "mixed":
		c.P2P.Listen = []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultP2PPort)}
	}
	return c, nil
}

// ChainConfig selects the data chain this node follows.
type ChainConfig struct {
	// Genesis is the network's genesis file; empty: genesis.json in the
	// node's home. Without one the node runs no chain.
	Genesis string `toml:"genesis"`
	// Produce: propose blocks in the slots this node leads.
	Produce bool `toml:"produce"`
	// SnapshotSync: a node with an empty chain store starts from a
	// snapshot two peers vouch for instead of replaying from genesis.
	SnapshotSync bool `toml:"snapshot_sync"`
}

// PootConfig holds the PoOT genesis parameters this node runs with
// (every node of a network must agree; the data chain will carry them)
// and what this node publishes.
type PootConfig struct {
	SlotLength Duration  `toml:"slot_length"`
	Genesis    time.Time `toml:"genesis"`
	// Pool, when set, ranks this node with the others publishing under
	// the same pool ID.
	Pool    string `toml:"pool"`
	Beacons bool   `toml:"beacons"`
}

// params are the consensus parameters: defaults, with the genesis ones
// from the config.
func (c PootConfig) params() consensus.Params {
	p := consensus.DefaultParams()
	p.SlotLength = time.Duration(c.SlotLength)
	p.Genesis = c.Genesis.UTC()
	// Every fallback must get its turn within the slot: short test slots
	// get proportionally short leader timeouts.
	if per := p.SlotLength / time.Duration(p.MaxFallbacks+1); per < p.SlotTimeout {
		p.SlotTimeout = per.Truncate(time.Millisecond)
	}
	return p
}

// MetaConfig controls the replicated session-metadata map. Retention is
// a network-wide value: nodes with different retentions keep different
// tombstones near the boundary.
type MetaConfig struct {
	SyncInterval Duration `toml:"sync_interval"`
	Retention    Duration `toml:"retention"`
}

// RecordingConfig controls how hosted sessions are recorded.
type RecordingConfig struct {
	Enabled bool `toml:"enabled"`
	// ChunkMiB is the plaintext size of a chunk (1..16).
	ChunkMiB int `toml:"chunk_mib"`
	// MaxChunkAge seals a chunk after this long even if it is not full.
	MaxChunkAge Duration `toml:"max_chunk_age"`
	// Auditors and RecoveryKey receive every recording's key besides the
	// session's owner: X25519 recipients (lucid-x25519-pub:… strings).
	Auditors    []string `toml:"auditors"`
	RecoveryKey string   `toml:"recovery_key"`
	// MongoURI, when set, also catalogs recordings in MongoDB, which then
	// computes the storage statistics.
	MongoURI string `toml:"mongo_uri"`
}

// recipients parses the extra recording recipients.
func (r RecordingConfig) recipients() ([]media.Recipient, error) {
	var out []media.Recipient
	for _, a := range r.Auditors {
		k, err := media.ParseRecipient(a)
		if err != nil {
			return nil, fmt.Errorf("auditors: %w", err)
		}
		out = append(out, media.Recipient{Label: media.LabelAuditor, Key: k})
	}
	if r.RecoveryKey != "" {
		k, err := media.ParseRecipient(r.RecoveryKey)
		if err != nil {
			return nil, fmt.Errorf("recovery_key: %w", err)
		}
		out = append(out, media.Recipient{Label: media.LabelRecovery, Key: k})
	}
	return out, nil
}

type NodeConfig struct {
	Profile string `toml:"profile"`
	Region  string `toml:"region"`
}

type P2PConfig struct {
	Transports []string `toml:"transports"`
	Listen     []string `toml:"listen"`
	Announce   []string `toml:"announce"`
	Bootstrap  []string `toml:"bootstrap"`
}

type APIConfig struct {
	Listen string `toml:"listen"`
}

type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

type CapacityConfig struct {
	SessionSlots  uint32   `toml:"session_slots"`
	BandwidthMbps uint64   `toml:"bandwidth_mbps"`
	Services      []string `toml:"services"`
	// RecordLifetime is how long a published capacity record stays valid;
	// the node republishes at half-life.
	RecordLifetime Duration `toml:"record_lifetime"`
}

// SessionsConfig is the host's session policy and where each service goes.
type SessionsConfig struct {
	// Access is "allow-all", "allowlist" or "denylist"; Peers is the list.
	Access      string   `toml:"access"`
	Peers       []string `toml:"peers"`
	MaxDuration Duration `toml:"max_duration"`
	IdleTimeout Duration `toml:"idle_timeout"`
	Targets     Targets  `toml:"targets"`
}

// Targets are the local addresses of the desktop services a host forwards
// sessions to.
type Targets struct {
	RDP string `toml:"rdp"`
	VNC string `toml:"vnc"`
	SSH string `toml:"ssh"`
}

// Map returns the targets by service name.
func (t Targets) Map() map[string]string {
	return map[string]string{capacity.ServiceRDP: t.RDP, capacity.ServiceVNC: t.VNC, capacity.ServiceSSH: t.SSH}
}

// Duration is a time.Duration written as "90s" or "1h" in TOML.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig is what `lucid init` writes for a profile.
func DefaultConfig(profile p2p.Profile) Config {
	slots := uint32(4)
	if profile == p2p.ProfileServer {
		slots = 16
	}
	return Config{
		Node: NodeConfig{Profile: string(profile)},
		P2P: P2PConfig{
			Transports: []string{"tcp", "quic"},
			Listen: []string{
				fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultP2PPort),
				fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultP2PPort),
			},
		},
		API: APIConfig{Listen: DefaultAPIAddr},
		Log: LogConfig{Level: "info", Format: "text"},
		Capacity: CapacityConfig{
			SessionSlots:   slots,
			BandwidthMbps:  100,
			Services:       []string{capacity.ServiceRDP, capacity.ServiceSSH, capacity.ServiceVNC},
			RecordLifetime: Duration(capacity.DefaultLifetime),
		},
		Recording: RecordingConfig{Enabled: true, ChunkMiB: 8, MaxChunkAge: Duration(time.Minute)},
		Meta:      MetaConfig{SyncInterval: Duration(meta.DefaultSyncInterval), Retention: Duration(crdt.DefaultRetention)},
		Poot:      PootConfig{SlotLength: Duration(consensus.DefaultParams().SlotLength), Genesis: consensus.DefaultParams().Genesis, Beacons: true},
		Chain:     ChainConfig{Produce: true, SnapshotSync: true},
		Tor:       TorConfig{OnionPort: DefaultP2PPort, BootstrapTimeout: Duration(3 * time.Minute)},
		Sessions: SessionsConfig{
			Access:      "allow-all",
			MaxDuration: Duration(8 * time.Hour),
			IdleTimeout: Duration(30 * time.Minute),
			Targets:     Targets{RDP: "127.0.0.1:3389", VNC: "127.0.0.1:5900", SSH: "127.0.0.1:22"},
		},
	}
}

// LoadConfig reads a config file. Unknown keys are errors: a misspelt
// setting that is silently ignored is worse than a refusal to start.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(b)
}

// ParseConfig decodes and validates config.toml bytes. Keys left out keep
// their pi-profile defaults.
func ParseConfig(b []byte) (Config, error) {
	cfg := DefaultConfig(p2p.ProfilePi)
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return Config{}, fmt.Errorf("config: %s", strict.String())
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// An empty TOML array and an absent key mean the same: nothing.
	for _, list := range []*[]string{&cfg.P2P.Transports, &cfg.P2P.Listen, &cfg.P2P.Announce, &cfg.P2P.Bootstrap, &cfg.Capacity.Services, &cfg.Sessions.Peers, &cfg.Recording.Auditors} {
		if len(*list) == 0 {
			*list = nil
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every field that would otherwise fail late, at startup or
// at the first publication.
func (c Config) Validate() error {
	var errs []error
	if err := p2p.Profile(c.Node.Profile).Valid(); err != nil {
		errs = append(errs, fmt.Errorf("node.profile: %w", err))
	}
	// The tor transport exists once the node has started tor; here it
	// only has to be a known name.
	if _, err := p2p.ResolveTransports(c.P2P.Transports, p2p.Transport{Name: p2p.TorTransport}); err != nil {
		errs = append(errs, fmt.Errorf("p2p.transports: %w", err))
	}
	if c.TorOnly() {
		errs = append(errs, c.torOnlyErrors()...)
	}
	if c.UsesTor() && (c.Tor.OnionPort < 1 || c.Tor.OnionPort > 65535) {
		errs = append(errs, fmt.Errorf("tor.onion_port: %d is not a port", c.Tor.OnionPort))
	}
	for _, field := range []struct {
		name  string
		addrs []string
	}{{"p2p.listen", c.P2P.Listen}, {"p2p.announce", c.P2P.Announce}} {
		if _, err := parseMultiaddrs(field.addrs); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field.name, err))
		}
	}
	if _, err := ParseBootstrap(c.P2P.Bootstrap); err != nil {
		errs = append(errs, fmt.Errorf("p2p.bootstrap: %w", err))
	}
	if err := checkLoopback(c.API.Listen); err != nil {
		errs = append(errs, fmt.Errorf("api.listen: %w", err))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %w", err))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if c.Capacity.SessionSlots > 1024 {
		errs = append(errs, fmt.Errorf("capacity.session_slots: %d is over 1024", c.Capacity.SessionSlots))
	}
	svcs := slices.Clone(c.Capacity.Services)
	slices.Sort(svcs)
	for i, s := range svcs {
		if !slices.Contains(KnownServices, s) {
			errs = append(errs, fmt.Errorf("capacity.services: unknown service %q (known: %s)", s, strings.Join(KnownServices, ", ")))
		}
		if i > 0 && svcs[i-1] == s {
			errs = append(errs, fmt.Errorf("capacity.services: %q listed twice", s))
		}
	}
	if lt := time.Duration(c.Capacity.RecordLifetime); lt < 10*time.Second || lt > capacity.MaxLifetime {
		errs = append(errs, fmt.Errorf("capacity.record_lifetime: %s is outside 10s..%s", lt, capacity.MaxLifetime))
	}
	if _, err := c.Sessions.hostPolicy(c.Capacity.Services); err != nil {
		errs = append(errs, fmt.Errorf("sessions: %w", err))
	}
	if err := c.sessionLimits().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sessions.max_duration and idle_timeout must be whole seconds, 0s or more: %w", err))
	}
	if c.Recording.ChunkMiB < 1 || c.Recording.ChunkMiB > 16 {
		errs = append(errs, fmt.Errorf("recording.chunk_mib: %d is outside 1..16", c.Recording.ChunkMiB))
	}
	if age := time.Duration(c.Recording.MaxChunkAge); age < time.Second || age > time.Hour || age%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("recording.max_chunk_age: %s is outside 1s..1h", age))
	}
	if _, err := c.Recording.recipients(); err != nil {
		errs = append(errs, fmt.Errorf("recording.%w", err))
	}
	if si := time.Duration(c.Meta.SyncInterval); si < time.Second || si > time.Hour {
		errs = append(errs, fmt.Errorf("meta.sync_interval: %s is outside 1s..1h", si))
	}
	if rt := time.Duration(c.Meta.Retention); rt < time.Hour || rt >= crdt.DefaultHorizon {
		errs = append(errs, fmt.Errorf("meta.retention: %s is outside 1h..%s (the horizon)", rt, crdt.DefaultHorizon))
	}
	if err := c.Poot.params().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("poot: %w", err))
	}
	if len(c.Poot.Pool) > 64 {
		errs = append(errs, fmt.Errorf("poot.pool: %d bytes, at most 64", len(c.Poot.Pool)))
	}
	if u := c.Recording.MongoURI; u != "" {
		if _, err := connstring.ParseAndValidate(u); err != nil {
			errs = append(errs, fmt.Errorf("recording.mongo_uri: %w", err))
		}
	}
	targets := c.Sessions.Targets.Map()
	for _, svc := range c.Capacity.Services {
		if _, _, err := net.SplitHostPort(targets[svc]); err != nil {
			errs = append(errs, fmt.Errorf("sessions.targets.%s: %q is not host:port: %w", svc, targets[svc], err))
		}
	}
	return errors.Join(errs...)
}

// hostPolicy turns the config into the host's session policy.
func (s SessionsConfig) hostPolicy(services []string) (sessions.HostPolicy, error) {
	p := sessions.HostPolicy{Access: sessions.AccessMode(s.Access), Services: map[string]bool{}}
	for _, svc := range services {
		p.Services[svc] = true
	}
	for _, str := range s.Peers {
		id, err := peer.Decode(str)
		if err != nil {
			return p, fmt.Errorf("peers: %q: %w", str, err)
		}
		p.Peers = append(p.Peers, id)
	}
	return p, p.Validate()
}

// sessionLimits are the limits every hosted session gets; the bandwidth
// cap is the one advertised in the capacity record.
func (c Config) sessionLimits() sessions.Limits {
	return sessions.Limits{
		MaxDuration:  time.Duration(c.Sessions.MaxDuration),
		IdleTimeout:  time.Duration(c.Sessions.IdleTimeout),
		BandwidthBps: c.Capacity.BandwidthMbps * 1_000_000,
	}
}

// KnownServices are the desktop services a host can offer.
var KnownServices = []string{capacity.ServiceRDP, capacity.ServiceSSH, capacity.ServiceVNC}

func parseMultiaddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ParseBootstrap parses /.../p2p/<id> multiaddrs, merging addresses of the
// same peer.
func ParseBootstrap(ss []string) ([]peer.AddrInfo, error) {
	addrs, err := parseMultiaddrs(ss)
	if err != nil {
		return nil, err
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap addresses must end in /p2p/<peer-id>: %w", err)
	}
	return infos, nil
}

// checkLoopback refuses an API address outside 127.0.0.0/8 and ::1: the API
// can spend the node's money in later versions and is never exposed.
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", hostport)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

var configTemplate = template.Must(template.New("config").Funcs(template.FuncMap{
	"list": func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	},
}).Parse(`# Lucid node configuration (written by lucid init).
# Every key is optional; a missing key takes the default shown here.
# Unknown keys are errors, so a typo stops the node instead of being ignored.

[node]
# Resource profile: "pi" (Raspberry Pi 5 on a home link: few connections,
# small caches) or "server" (limits scaled to the machine).
profile = {{printf "%q" .Node.Profile}}
# Optional region label advertised to clients, e.g. "eu-west".
region = {{printf "%q" .Node.Region}}

[p2p]
# Transports, in order of preference: "tor", "tcp", "quic". ["tor"] alone
# is Tor-only mode: the node listens only on its onion service, dials and
# advertises only onion addresses, makes no DNS lookups, and refuses to
# start without a working tor (it never falls back to clearnet). ["tor",
# "tcp"] is mixed mode, for relays and development.
transports = {{list .P2P.Transports}}
# Multiaddrs to listen on. Port 0 picks a free port. With "tor" the onion
# service (/onion3/<address>:<tor.onion_port>) is added: its address comes
# from onion.key in the home and stays the same across restarts.
listen = {{list .P2P.Listen}}
# Multiaddrs to advertise instead of the listen addresses (for a port
# forwarded on a router). Empty: advertise what the host observes.
announce = {{list .P2P.Announce}}
# Peers to join the network through, as /ip4/.../tcp/.../p2p/<peer-id>.
bootstrap = {{list .P2P.Bootstrap}}

[api]
# JSON-RPC, /metrics and /healthz. Must be a loopback address; the bearer
# token is in api.token beside this file.
listen = {{printf "%q" .API.Listen}}

[log]
# debug, info, warn or error.
level = {{printf "%q" .Log.Level}}
# text or json.
format = {{printf "%q" .Log.Format}}

[capacity]
# Concurrent remote-desktop sessions this node hosts.
session_slots = {{.Capacity.SessionSlots}}
# Bandwidth cap advertised to clients, in Mbit/s (0 = not capped).
bandwidth_mbps = {{.Capacity.BandwidthMbps}}
# Services offered: any of "rdp", "ssh", "vnc".
services = {{list .Capacity.Services}}
# How long a published capacity record is valid (at most 2h); the node
# republishes at half-life and whenever its capacity changes.
record_lifetime = "{{.Capacity.RecordLifetime}}"

[sessions]
# Who may open sessions: "allow-all", "allowlist" (only the peers below) or
# "denylist" (everyone but the peers below).
access = {{printf "%q" .Sessions.Access}}
# Peer IDs for the allow- or deny-list.
peers = {{list .Sessions.Peers}}
# A session ends after this long, and after this long without traffic
# ("0s" disables either). The bandwidth cap is capacity.bandwidth_mbps.
max_duration = "{{.Sessions.MaxDuration}}"
idle_timeout = "{{.Sessions.IdleTimeout}}"

[sessions.targets]
# The local desktop services sessions are forwarded to.
rdp = {{printf "%q" .Sessions.Targets.RDP}}
vnc = {{printf "%q" .Sessions.Targets.VNC}}
ssh = {{printf "%q" .Sessions.Targets.SSH}}

[recording]
# Record every hosted session: chunked, compressed, encrypted to the
# session's owner (its client) and the keys below, and Merkle-rooted.
# Recordings live in data/recordings.
enabled = {{.Recording.Enabled}}
# Chunk plaintext size in MiB (1..16), and the longest a chunk stays open.
chunk_mib = {{.Recording.ChunkMiB}}
max_chunk_age = "{{.Recording.MaxChunkAge}}"
# Extra recipients of every recording key (lucid-x25519-pub:… strings).
auditors = {{list .Recording.Auditors}}
recovery_key = {{printf "%q" .Recording.RecoveryKey}}
# Also catalog recordings (and copy work proofs, task_proofs) in MongoDB
# (mongodb://host:27017/lucid), which then computes the statistics.
# Empty: the embedded store only.
mongo_uri = {{printf "%q" .Recording.MongoURI}}

[meta]
# Session metadata (host, state, counters, manifest hash, anchor; user
# identities sealed to the participants) replicates to every node. Gossip
# carries changes; anti-entropy with one random peer every sync_interval
# repairs what gossip lost.
sync_interval = "{{.Meta.SyncInterval}}"
# Ended sessions older than this keep only a tombstone (sealed fields are
# dropped). Use the same value on every node of a network.
retention = "{{.Meta.Retention}}"

[poot]
# Proof of Operational Tasks. slot_length and genesis are network-wide:
# every node of a network must use the same values.
slot_length = "{{.Poot.SlotLength}}"
genesis = {{.Poot.Genesis.Format "2006-01-02T15:04:05Z07:00"}}
# Publish under a pool ID (nodes of one pool are ranked as one entity).
pool = {{printf "%q" .Poot.Pool}}
# Publish an uptime beacon every slot.
beacons = {{.Poot.Beacons}}

[chain]
# The data chain anchors recordings and commits work. Its genesis file
# (from the network's operators, or ` + "`lucid chain genesis`" + ` for a new one)
# fixes the parameters every node shares, the slot timing included, which
# then replaces slot_length and genesis above. Empty: genesis.json in the
# node's home; without one the node runs no chain.
genesis = {{printf "%q" .Chain.Genesis}}
# Propose blocks in the slots this node leads.
produce = {{.Chain.Produce}}
# A new node starts from the state at a recent final block that two peers
# vouch for (checked against that block's state root) instead of
# replaying every block since genesis.
snapshot_sync = {{.Chain.SnapshotSync}}

[tor]
# Used when p2p.transports includes "tor". Empty control: the node starts
# its own tor (Debian package tor) with its data in <home>/tor; else attach
# to a running tor's control port ("127.0.0.1:9051" or
# "unix:/run/tor/control", cookie authentication or control_password).
control = {{printf "%q" .Tor.Control}}
control_password = {{printf "%q" .Tor.ControlPassword}}
binary = {{printf "%q" .Tor.Binary}}
onion_port = {{.Tor.OnionPort}}
# How long tor may take to bootstrap before the node gives up starting.
bootstrap_timeout = "{{.Tor.BootstrapTimeout}}"
# Extra torrc lines for the tor the node starts (private test networks).
torrc = {{printf "%q" .Tor.Torrc}}
`))

// Render writes the config as commented TOML.
func (c Config) Render() ([]byte, error) {
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// torOnlyErrors refuses, in Tor-only mode, every configured address that
// would make the node listen on, dial or advertise clearnet: it fails
// closed rather than leak.
func (c Config) torOnlyErrors() []error {
	var errs []error
	for _, f := range []struct {
		name  string
		addrs []string
	}{{"p2p.listen", c.P2P.Listen}, {"p2p.announce", c.P2P.Announce}, {"p2p.bootstrap", c.P2P.Bootstrap}} {
		as, err := parseMultiaddrs(f.addrs)
		if err != nil {
			continue // reported by Validate
		}
		for _, a := range as {
			if !p2p.IsOnion(a) {
				errs = append(errs, fmt.Errorf("%s: %s is not an onion address, and transports = [\"tor\"] allows only onion addresses", f.name, a))
			}
		}
	}
	return errs
}
