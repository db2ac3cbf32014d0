package capacity

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/lucidnet/lucid/internal/canon"
)

// wireVersion is the only major payload version this package understands.
// Compatible additions use new map keys instead of a new version.
const wireVersion = 1

// Map keys 1..maxKnownKey are defined by version 1; others are ignored.
const (
	keyVersion  = 1
	maxKnownKey = 16
)

// wirePayload is the CBOR payload. Integer keys keep records small, and
// omitempty makes "absent" the only encoding of a zero value, which the
// canonical-encoding check relies on. Integers are uint64 on the wire so an
// out-of-range value is a schema error, not a decode error.
type wirePayload struct {
	Version       uint64   `cbor:"1,keyasint,omitempty"`
	Peer          []byte   `cbor:"2,keyasint,omitempty"`
	Addrs         [][]byte `cbor:"3,keyasint,omitempty"`
	Software      string   `cbor:"4,keyasint,omitempty"`
	Arch          string   `cbor:"5,keyasint,omitempty"`
	CPUCores      uint64   `cbor:"6,keyasint,omitempty"`
	MemoryBytes   uint64   `cbor:"7,keyasint,omitempty"`
	DiskFreeBytes uint64   `cbor:"8,keyasint,omitempty"`
	SlotsTotal    uint64   `cbor:"9,keyasint,omitempty"`
	SlotsFree     uint64   `cbor:"10,keyasint,omitempty"`
	BandwidthBps  uint64   `cbor:"11,keyasint,omitempty"`
	Services      []string `cbor:"12,keyasint,omitempty"`
	Region        string   `cbor:"13,keyasint,omitempty"`
	Seq           uint64   `cbor:"14,keyasint,omitempty"`
	IssuedAt      uint64   `cbor:"15,keyasint,omitempty"`
	Expires       uint64   `cbor:"16,keyasint,omitempty"`
}

var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	decMode = canon.DecMode(cbor.DecOptions{
		DupMapKey:   cbor.DupMapKeyEnforcedAPF,
		IndefLength: cbor.IndefLengthForbidden,
	})
)

// envelopePayload adapts the CBOR payload to libp2p's record.Record so it
// can travel in a signed envelope.
type envelopePayload struct {
	raw  []byte
	wire *wirePayload
	// decodeCalled tells Open that the envelope signature verified, because
	// record.ConsumeTypedEnvelope decodes the payload only after that.
	decodeCalled bool
	err          error
}

func (*envelopePayload) Domain() string { return Domain }

func (*envelopePayload) Codec() []byte { return PayloadType }

func (p *envelopePayload) MarshalRecord() ([]byte, error) { return p.raw, nil }

func (p *envelopePayload) UnmarshalRecord(b []byte) error {
	p.decodeCalled = true
	p.wire, p.err = decodePayload(b)
	if p.err != nil {
		return p.err
	}
	p.raw = bytes.Clone(b)
	return nil
}

// wire converts r to its payload form without checking it. Times before
// 1970 map to MaxUint64 so the range check in record rejects them.
func (r *Record) wire() *wirePayload {
	w := &wirePayload{
		Version:       wireVersion,
		Peer:          []byte(r.Peer),
		Software:      r.Software,
		Arch:          r.Arch,
		CPUCores:      uint64(r.CPUCores),
		MemoryBytes:   r.MemoryBytes,
		DiskFreeBytes: r.DiskFreeBytes,
		SlotsTotal:    uint64(r.SlotsTotal),
		SlotsFree:     uint64(r.SlotsFree),
		BandwidthBps:  r.BandwidthBps,
		Services:      r.Services,
		Region:        r.Region,
		Seq:           r.Seq,
		IssuedAt:      unixSeconds(r.IssuedAt),
		Expires:       unixSeconds(r.Expires),
	}
	if len(r.Addrs) > 0 {
		w.Addrs = make([][]byte, len(r.Addrs))
		for i, a := range r.Addrs {
			w.Addrs[i] = a.Bytes()
		}
	}
	return w
}

func unixSeconds(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return math.MaxUint64
	}
	return uint64(s)
}

// encodePayload returns the canonical encoding of w plus any unknown fields
// carried over verbatim.
func encodePayload(w *wirePayload, unknown map[uint64]cbor.RawMessage) ([]byte, error) {
	known, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding payload: %v", ErrMalformed, err)
	}
	if len(unknown) == 0 {
		return known, nil
	}
	var merged map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(known, &merged); err != nil {
		return nil, fmt.Errorf("%w: re-decoding payload: %v", ErrMalformed, err)
	}
	maps.Copy(merged, unknown)
	out, err := encMode.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding payload: %v", ErrMalformed, err)
	}
	return out, nil
}

// decodePayload decodes a payload and insists that it is exactly what
// encodePayload would produce for it. Unknown keys are kept verbatim in that
// comparison, so future fields pass while every known field, the key order
// and all lengths must be canonical. The signature already pins the bytes;
// canonicality additionally means one content has one encoding, which keeps
// Select's byte tie-break meaningful and makes decoding reversible.
func decodePayload(b []byte) (*wirePayload, error) {
	const cborMajorMap = 5
	if len(b) == 0 || b[0]>>5 != cborMajorMap {
		return nil, fmt.Errorf("%w: payload is not a CBOR map", ErrMalformed)
	}
	// Decoding generically first lets us read the version before the typed
	// decode, whose errors would otherwise mask a newer, incompatible layout.
	var fields map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	rawVersion, ok := fields[keyVersion]
	if !ok {
		return nil, fmt.Errorf("%w: payload has no version", ErrMalformed)
	}
	var version uint64
	if err := decMode.Unmarshal(rawVersion, &version); err != nil {
		return nil, fmt.Errorf("%w: version: %v", ErrMalformed, err)
	}
	if version != wireVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrUnsupportedVersion, version, wireVersion)
	}
	var w wirePayload
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var unknown map[uint64]cbor.RawMessage
	for k, v := range fields {
		if k < keyVersion || k > maxKnownKey {
			if unknown == nil {
				unknown = make(map[uint64]cbor.RawMessage)
			}
			unknown[k] = v
		}
	}
	canon, err := encodePayload(&w, unknown)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: payload is not in core deterministic encoding", ErrMalformed)
	}
	return &w, nil
}

// record checks every schema bound and converts w to a Record. All errors
// wrap ErrSchema.
func (w *wirePayload) record() (*Record, error) {
	id, err := peer.IDFromBytes(w.Peer)
	if err != nil {
		return nil, schemaErr("peer: %v", err)
	}
	if n := len(w.Addrs); n < 1 || n > maxAddrs {
		return nil, schemaErr("%d addrs, want 1..%d", n, maxAddrs)
	}
	addrs := make([]multiaddr.Multiaddr, len(w.Addrs))
	for i, b := range w.Addrs {
		if len(b) == 0 || len(b) > maxAddrLen {
			return nil, schemaErr("addrs[%d]: %d bytes, want 1..%d", i, len(b), maxAddrLen)
		}
		a, err := multiaddr.NewMultiaddrBytes(b)
		if err != nil {
			return nil, schemaErr("addrs[%d]: %v", i, err)
		}
		// CLIs and the JSON view handle addresses as text; a value the binary
		// codec accepts but text channels mangle (e.g. a DNS name that is not
		// valid UTF-8) would mean different things to different readers.
		if s := a.String(); !utf8.ValidString(s) {
			return nil, schemaErr("addrs[%d]: text form %q is not valid UTF-8", i, s)
		} else if txt, err := multiaddr.NewMultiaddr(s); err != nil || !bytes.Equal(txt.Bytes(), b) {
			return nil, schemaErr("addrs[%d]: text form %q does not parse back to the same bytes", i, s)
		}
		addrs[i] = a
	}
	if n := len(w.Software); n < 1 || n > maxSoftwareLen || !isPrintableASCII(w.Software) {
		return nil, schemaErr("software %q: want 1..%d printable ASCII bytes", w.Software, maxSoftwareLen)
	}
	if n := len(w.Arch); n < 1 || n > maxArchLen || !isArch(w.Arch) {
		return nil, schemaErr("arch %q: want 1..%d bytes of [a-z0-9/_-]", w.Arch, maxArchLen)
	}
	if w.CPUCores < 1 || w.CPUCores > maxCPUCores {
		return nil, schemaErr("cpu_cores %d, want 1..%d", w.CPUCores, maxCPUCores)
	}
	if w.SlotsTotal > maxSlots {
		return nil, schemaErr("slots_total %d, want <= %d", w.SlotsTotal, maxSlots)
	}
	if w.SlotsFree > w.SlotsTotal {
		return nil, schemaErr("slots_free %d > slots_total %d", w.SlotsFree, w.SlotsTotal)
	}
	if n := len(w.Services); n > maxServices {
		return nil, schemaErr("%d services, want <= %d", n, maxServices)
	}
	for i, s := range w.Services {
		if !isServiceName(s) {
			return nil, schemaErr("services[%d] %q: want ^[a-z][a-z0-9-]{0,15}$", i, s)
		}
		if i > 0 && w.Services[i-1] >= s {
			return nil, schemaErr("services not strictly ascending at %d (%q after %q)", i, s, w.Services[i-1])
		}
	}
	if n := len(w.Region); n > maxRegionLen || !isPrintableASCII(w.Region) {
		return nil, schemaErr("region %q: want 0..%d printable ASCII bytes", w.Region, maxRegionLen)
	}
	if w.Seq < 1 {
		return nil, schemaErr("seq must be >= 1")
	}
	if w.IssuedAt > maxUnixSeconds || w.Expires > maxUnixSeconds {
		return nil, schemaErr("issued_at/expires outside 1970-01-01..9999-12-31")
	}
	if w.IssuedAt > w.Expires {
		return nil, schemaErr("issued_at %d after expires %d", w.IssuedAt, w.Expires)
	}
	if w.Expires-w.IssuedAt > uint64(MaxLifetime/time.Second) {
		return nil, schemaErr("lifetime %ds exceeds %s", w.Expires-w.IssuedAt, MaxLifetime)
	}
	return &Record{
		Peer:          id,
		Addrs:         addrs,
		Software:      w.Software,
		Arch:          w.Arch,
		CPUCores:      uint32(w.CPUCores),
		MemoryBytes:   w.MemoryBytes,
		DiskFreeBytes: w.DiskFreeBytes,
		SlotsTotal:    uint32(w.SlotsTotal),
		SlotsFree:     uint32(w.SlotsFree),
		BandwidthBps:  w.BandwidthBps,
		Services:      w.Services,
		Region:        w.Region,
		Seq:           w.Seq,
		IssuedAt:      time.Unix(int64(w.IssuedAt), 0).UTC(),
		Expires:       time.Unix(int64(w.Expires), 0).UTC(),
	}, nil
}

func schemaErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSchema, fmt.Sprintf(format, args...))
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isArch(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerAlnum(c) && c != '/' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isServiceName matches ^[a-z][a-z0-9-]{0,15}$ without a regexp.
func isServiceName(s string) bool {
	if len(s) < 1 || len(s) > maxServiceLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}
