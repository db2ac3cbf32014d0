package sessions

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ParamsVersion is the version of the ConnectionParams encoding. It is part
// of the hashed bytes, so a future layout can never collide with a v1 hash.
const ParamsVersion = 1

// Bounds checked by ConnectionParams.Validate. They keep the largest valid
// Request well inside MaxFrameSize (three full lists are about 12.5 KiB).
const (
	MinMouseRateHz     = 1
	MaxMouseRateHz     = 240
	MaxParamsListLen   = 32
	MaxParamsStringLen = 128
	MaxClipboardBytes  = 16 << 20
	MaxFileSizeMB      = 4096
)

// ConnectionParams v1 is the client's control policy (spec §3.4, "Core
// Parameters Module"): what the session may do on the client's behalf. The
// client signs its hash in the consent receipt and the host echoes the hash
// in its receipt, so both sides hold a signed statement of the same policy.
type ConnectionParams struct {
	Input     InputParams
	Clipboard ClipboardParams
	File      FileParams
	System    SystemParams
}

// InputParams controls remote input. When KeyAllowlistMode is set,
// KeyBlocklist is read as an allowlist: only the listed keys pass. The spec
// names one list plus a mode flag, and a second list would allow
// contradictory policies.
type InputParams struct {
	MouseEnabled     bool     `cbor:"1,keyasint,omitempty" json:"mouse_enabled"`
	MouseRateLimitHz uint32   `cbor:"2,keyasint,omitempty" json:"mouse_rate_limit_hz"`
	KeyboardEnabled  bool     `cbor:"3,keyasint,omitempty" json:"kb_enabled"`
	KeyBlocklist     []string `cbor:"4,keyasint,omitempty" json:"kb_blocklist"`
	KeyAllowlistMode bool     `cbor:"5,keyasint,omitempty" json:"kb_allowlist_mode"`
}

// ClipboardParams controls clipboard sharing per direction.
type ClipboardParams struct {
	HostToClient bool   `cbor:"1,keyasint,omitempty" json:"host_to_client"`
	ClientToHost bool   `cbor:"2,keyasint,omitempty" json:"client_to_host"`
	MaxBytes     uint32 `cbor:"3,keyasint,omitempty" json:"max_bytes"`
}

// FileParams controls file transfer. AllowedDirs are the sandbox roots and
// AllowedExtensions are glob patterns such as "*.pdf"; the component that
// moves files enforces them.
type FileParams struct {
	Upload            bool     `cbor:"1,keyasint,omitempty" json:"upload"`
	Download          bool     `cbor:"2,keyasint,omitempty" json:"download"`
	MaxSizeMB         uint32   `cbor:"3,keyasint,omitempty" json:"max_size_mb"`
	AllowedDirs       []string `cbor:"4,keyasint,omitempty" json:"allowed_dirs"`
	AllowedExtensions []string `cbor:"5,keyasint,omitempty" json:"allowed_extensions"`
}

// SystemParams switches individual system features.
type SystemParams struct {
	Screenshare   bool `cbor:"1,keyasint,omitempty" json:"screenshare"`
	Screenshots   bool `cbor:"2,keyasint,omitempty" json:"screenshots"`
	AudioIn       bool `cbor:"3,keyasint,omitempty" json:"audio_in"`
	AudioOut      bool `cbor:"4,keyasint,omitempty" json:"audio_out"`
	Camera        bool `cbor:"5,keyasint,omitempty" json:"camera"`
	Printing      bool `cbor:"6,keyasint,omitempty" json:"printing"`
	ShellChannels bool `cbor:"7,keyasint,omitempty" json:"shell_channels"`
}

// wireParams is the canonical CBOR form: the version plus the four groups as
// nested maps. omitempty makes absence the only encoding of a zero value
// (a group whose fields are all zero is omitted as a whole).
type wireParams struct {
	Version   uint64          `cbor:"1,keyasint,omitempty"`
	Input     InputParams     `cbor:"2,keyasint,omitempty"`
	Clipboard ClipboardParams `cbor:"3,keyasint,omitempty"`
	File      FileParams      `cbor:"4,keyasint,omitempty"`
	System    SystemParams    `cbor:"5,keyasint,omitempty"`
}

// StrictParams returns the spec's Strict profile: mouse and keyboard on at
// 60 Hz with PrintScreen blocked, no clipboard (64 KiB cap if enabled), no
// file transfer (25 MB cap if enabled), and every system feature off except
// audio out. High-risk features are never on by default.
func StrictParams() ConnectionParams {
	return ConnectionParams{
		Input: InputParams{
			MouseEnabled:     true,
			MouseRateLimitHz: 60,
			KeyboardEnabled:  true,
			KeyBlocklist:     []string{"PrintScreen"},
		},
		Clipboard: ClipboardParams{MaxBytes: 65536},
		File:      FileParams{MaxSizeMB: 25},
		System:    SystemParams{AudioOut: true},
	}
}

// ParamsForService returns StrictParams plus what service itself needs to
// work: an SSH session is a shell channel, so asking for SSH under params
// that forbid shells would always be rejected. It is the CLI's default.
// Unknown services get StrictParams.
func ParamsForService(service string) ConnectionParams {
	p := StrictParams()
	if service == ServiceSSH {
		p.System.ShellChannels = true
	}
	return p
}

// KnownService reports whether s is one of Services.
func KnownService(s string) bool { return slices.Contains(Services, s) }

// Validate checks the v1 bounds (see docs/session-protocol.md). Lists must be
// strictly ascending (sorted, no duplicates) so that one policy has one hash;
// Normalized produces that form. Errors wrap ErrInvalidParams.
func (p ConnectionParams) Validate() error {
	if r := p.Input.MouseRateLimitHz; r < MinMouseRateHz || r > MaxMouseRateHz {
		return paramsErr("input.mouse_rate_limit_hz %d, want %d..%d", r, MinMouseRateHz, MaxMouseRateHz)
	}
	if err := checkList("input.kb_blocklist", p.Input.KeyBlocklist); err != nil {
		return err
	}
	c := p.Clipboard
	if c.MaxBytes > MaxClipboardBytes {
		return paramsErr("clipboard.max_bytes %d, want <= %d", c.MaxBytes, MaxClipboardBytes)
	}
	if (c.HostToClient || c.ClientToHost) && c.MaxBytes == 0 {
		return paramsErr("clipboard enabled with max_bytes 0")
	}
	f := p.File
	if f.MaxSizeMB > MaxFileSizeMB {
		return paramsErr("file.max_size_mb %d, want <= %d", f.MaxSizeMB, MaxFileSizeMB)
	}
	if (f.Upload || f.Download) && f.MaxSizeMB == 0 {
		return paramsErr("file transfer enabled with max_size_mb 0")
	}
	if err := checkList("file.allowed_dirs", f.AllowedDirs); err != nil {
		return err
	}
	return checkList("file.allowed_extensions", f.AllowedExtensions)
}

func checkList(name string, l []string) error {
	if len(l) > MaxParamsListLen {
		return paramsErr("%s has %d entries, want <= %d", name, len(l), MaxParamsListLen)
	}
	for i, s := range l {
		if len(s) < 1 || len(s) > MaxParamsStringLen || !isPrintable(s) {
			return paramsErr("%s[%d] %q: want 1..%d bytes of printable UTF-8", name, i, s, MaxParamsStringLen)
		}
		if i > 0 && l[i-1] >= s {
			return paramsErr("%s not strictly ascending at %d (%q after %q); see Normalized", name, i, s, l[i-1])
		}
	}
	return nil
}

func paramsErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidParams, fmt.Sprintf(format, args...))
}

// Normalized returns a copy of p with every list sorted and deduplicated, the
// form Validate requires. Empty lists become nil.
func (p ConnectionParams) Normalized() ConnectionParams {
	norm := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		return slices.Compact(slices.Sorted(slices.Values(l)))
	}
	p.Input.KeyBlocklist = norm(p.Input.KeyBlocklist)
	p.File.AllowedDirs = norm(p.File.AllowedDirs)
	p.File.AllowedExtensions = norm(p.File.AllowedExtensions)
	return p
}

// Permits reports whether p allows service. SSH needs ShellChannels; RDP and
// VNC are remote desktops that any valid params permit (what they may do
// inside is governed by the other fields). Errors wrap ErrUnknownService,
// ErrInvalidParams or ErrPolicyForbidsService.
func (p ConnectionParams) Permits(service string) error {
	if !KnownService(service) {
		return fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if service == ServiceSSH && !p.System.ShellChannels {
		return fmt.Errorf("%w: %s needs system.shell_channels", ErrPolicyForbidsService, service)
	}
	return nil
}

func (p ConnectionParams) wire() wireParams {
	return wireParams{
		Version:   ParamsVersion,
		Input:     p.Input,
		Clipboard: p.Clipboard,
		File:      p.File,
		System:    p.System,
	}
}

// value converts decoded params. Only the version is checked here: bounds are
// Validate's job, so that a host can answer a Request with out-of-bounds
// params with ReasonPolicyMismatch rather than a bare "malformed".
func (w *wireParams) value() (ConnectionParams, error) {
	if w.Version == 0 {
		return ConnectionParams{}, malformed("connection params have no version")
	}
	if w.Version != ParamsVersion {
		return ConnectionParams{}, fmt.Errorf("%w: connection params version %d, want %d", ErrUnsupportedVersion, w.Version, ParamsVersion)
	}
	return ConnectionParams{Input: w.Input, Clipboard: w.Clipboard, File: w.File, System: w.System}, nil
}

// canonical returns the canonical encoding of p whether or not p is valid,
// so that Hash is defined for every value.
func (p ConnectionParams) canonical() []byte {
	w := p.wire()
	return mustMarshal(&w)
}

// Encode returns the canonical CBOR encoding of valid params.
func (p ConnectionParams) Encode() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p.canonical(), nil
}

// DecodeParams decodes and validates params produced by Encode. Only the
// canonical encoding is accepted: a policy hash is over bytes, so two
// encodings of one policy would be two policies.
func DecodeParams(b []byte) (ConnectionParams, error) {
	if err := checkVersionKey(b, ParamsVersion, "connection params"); err != nil {
		return ConnectionParams{}, err
	}
	var w wireParams
	if err := unmarshal(b, &w); err != nil {
		return ConnectionParams{}, err
	}
	p, err := w.value()
	if err != nil {
		return ConnectionParams{}, err
	}
	if !bytes.Equal(p.canonical(), b) {
		return ConnectionParams{}, fmt.Errorf("%w: connection params are not in canonical encoding", ErrMalformed)
	}
	if err := p.Validate(); err != nil {
		return ConnectionParams{}, err
	}
	return p, nil
}

// Hash is the policy hash: SHA-256 of the canonical CBOR encoding. It
// replaces the original's SHA-256 over an orjson dump, whose bytes depended
// on a library's key order and float formatting and could not be reproduced
// exactly by another implementation. Hash is defined for invalid params too;
// the host checks validity separately.
func (p ConnectionParams) Hash() [32]byte {
	return sha256.Sum256(p.canonical())
}

// paramsJSON is the JSON view, grouped and named as in the spec.
type paramsJSON struct {
	Version   uint32          `json:"version"`
	Input     InputParams     `json:"input"`
	Clipboard ClipboardParams `json:"clipboard"`
	File      FileParams      `json:"file"`
	System    SystemParams    `json:"system"`
}

// MarshalJSON renders p grouped and snake_cased as in the spec, with empty
// lists as [] so consumers need not tell null from [].
func (p ConnectionParams) MarshalJSON() ([]byte, error) {
	nonNil := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	p.Input.KeyBlocklist = nonNil(p.Input.KeyBlocklist)
	p.File.AllowedDirs = nonNil(p.File.AllowedDirs)
	p.File.AllowedExtensions = nonNil(p.File.AllowedExtensions)
	return json.Marshal(paramsJSON{
		Version:   ParamsVersion,
		Input:     p.Input,
		Clipboard: p.Clipboard,
		File:      p.File,
		System:    p.System,
	})
}

// UnmarshalJSON reads the MarshalJSON view. Absent fields take their
// StrictParams value, not zero, so a hand-written policy file that mentions
// only what it changes cannot switch anything else on (or, for the mouse
// rate, become invalid). Unknown fields are errors: a misspelt key in a
// security policy must not be silently ignored. It does not Validate.
func (p *ConnectionParams) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := StrictParams()
	j := paramsJSON{Version: ParamsVersion, Input: s.Input, Clipboard: s.Clipboard, File: s.File, System: s.System}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("sessions: connection params: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("sessions: connection params: trailing data after JSON object")
	}
	if j.Version != ParamsVersion {
		return fmt.Errorf("%w: connection params version %d, want %d", ErrUnsupportedVersion, j.Version, ParamsVersion)
	}
	nilIfEmpty := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		return l
	}
	j.Input.KeyBlocklist = nilIfEmpty(j.Input.KeyBlocklist)
	j.File.AllowedDirs = nilIfEmpty(j.File.AllowedDirs)
	j.File.AllowedExtensions = nilIfEmpty(j.File.AllowedExtensions)
	*p = ConnectionParams{Input: j.Input, Clipboard: j.Clipboard, File: j.File, System: j.System}
	return nil
}
