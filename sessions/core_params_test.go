package sessions

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Golden values: any change to the params encoding changes every policy
// hash ever signed, so it must be deliberate (and come with a new
// ParamsVersion).
const (
	strictParamsCBOR = "a5010102a401f502183c03f504816b5072696e7453637265656e03a1031a0001000004a103181905a104f5"
	strictParamsHash = "e9e189b527e3747d98a6b06c56350eddac23a32880c73f9f6bab8f96f319fa44"
)

func TestStrictParams(t *testing.T) {
	p := StrictParams()
	require.NoError(t, p.Validate())
	require.Equal(t, ConnectionParams{
		Input:     InputParams{MouseEnabled: true, MouseRateLimitHz: 60, KeyboardEnabled: true, KeyBlocklist: []string{"PrintScreen"}},
		Clipboard: ClipboardParams{MaxBytes: 65536},
		File:      FileParams{MaxSizeMB: 25},
		System:    SystemParams{AudioOut: true},
	}, p)

	enc, err := p.Encode()
	require.NoError(t, err)
	require.Equal(t, strictParamsCBOR, hex.EncodeToString(enc))
	h := p.Hash()
	require.Equal(t, strictParamsHash, hex.EncodeToString(h[:]))

	// Each call returns fresh lists, so callers cannot corrupt the default.
	p.Input.KeyBlocklist[0] = "x"
	require.Equal(t, "PrintScreen", StrictParams().Input.KeyBlocklist[0])
}

func TestParamsForService(t *testing.T) {
	require.Equal(t, StrictParams(), ParamsForService(ServiceRDP))
	require.Equal(t, StrictParams(), ParamsForService(ServiceVNC))
	require.Equal(t, StrictParams(), ParamsForService("telnet"))
	ssh := ParamsForService(ServiceSSH)
	require.True(t, ssh.System.ShellChannels)
	ssh.System.ShellChannels = false
	require.Equal(t, StrictParams(), ssh)
	for _, s := range Services {
		require.NoError(t, ParamsForService(s).Permits(s), s)
	}
}

func TestPermits(t *testing.T) {
	shell := StrictParams()
	shell.System.ShellChannels = true
	invalid := StrictParams()
	invalid.Input.MouseRateLimitHz = 0
	locked := ConnectionParams{Input: InputParams{MouseRateLimitHz: 1}} // everything off
	tests := []struct {
		name    string
		params  ConnectionParams
		service string
		want    error
	}{
		{"rdp strict", StrictParams(), ServiceRDP, nil},
		{"vnc strict", StrictParams(), ServiceVNC, nil},
		{"rdp everything off", locked, ServiceRDP, nil},
		{"ssh strict", StrictParams(), ServiceSSH, ErrPolicyForbidsService},
		{"ssh shell", shell, ServiceSSH, nil},
		{"ssh everything on", coreFullParams(), ServiceSSH, nil},
		{"unknown service", shell, "telnet", ErrUnknownService},
		{"empty service", shell, "", ErrUnknownService},
		{"service case matters", shell, "SSH", ErrUnknownService},
		{"invalid params rdp", invalid, ServiceRDP, ErrInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Permits(tt.service)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestParamsValidateBounds(t *testing.T) {
	list := func(n, size int) []string {
		l := make([]string, n)
		for i := range l {
			s := fmt.Sprintf("%03d", i)
			l[i] = s + strings.Repeat("x", size-len(s))
		}
		return l
	}
	tests := []struct {
		name   string
		mutate func(p *ConnectionParams)
		ok     bool
	}{
		{"strict", func(*ConnectionParams) {}, true},
		{"full", func(p *ConnectionParams) { *p = coreFullParams() }, true},
		{"mouse rate 0", func(p *ConnectionParams) { p.Input.MouseRateLimitHz = 0 }, false},
		{"mouse rate 1", func(p *ConnectionParams) { p.Input.MouseRateLimitHz = 1 }, true},
		{"mouse rate 240", func(p *ConnectionParams) { p.Input.MouseRateLimitHz = 240 }, true},
		{"mouse rate 241", func(p *ConnectionParams) { p.Input.MouseRateLimitHz = 241 }, false},
		{"mouse rate 0 with mouse off", func(p *ConnectionParams) { p.Input.MouseEnabled, p.Input.MouseRateLimitHz = false, 0 }, false},
		{"blocklist empty", func(p *ConnectionParams) { p.Input.KeyBlocklist = nil }, true},
		{"blocklist 32", func(p *ConnectionParams) { p.Input.KeyBlocklist = list(32, 5) }, true},
		{"blocklist 33", func(p *ConnectionParams) { p.Input.KeyBlocklist = list(33, 5) }, false},
		{"blocklist entry 128 bytes", func(p *ConnectionParams) { p.Input.KeyBlocklist = list(1, 128) }, true},
		{"blocklist entry 129 bytes", func(p *ConnectionParams) { p.Input.KeyBlocklist = list(1, 129) }, false},
		{"blocklist entry empty", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{""} }, false},
		{"blocklist entry with escape", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{"\x1b[2J"} }, false},
		{"blocklist entry with newline", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{"a\nb"} }, false},
		{"blocklist entry invalid UTF-8", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{"\xff"} }, false},
		{"blocklist unsorted", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{"b", "a"} }, false},
		{"blocklist duplicate", func(p *ConnectionParams) { p.Input.KeyBlocklist = []string{"a", "a"} }, false},
		{"clipboard max 16 MiB", func(p *ConnectionParams) { p.Clipboard.MaxBytes = MaxClipboardBytes }, true},
		{"clipboard max 16 MiB + 1", func(p *ConnectionParams) { p.Clipboard.MaxBytes = MaxClipboardBytes + 1 }, false},
		{"clipboard off with max 0", func(p *ConnectionParams) { p.Clipboard.MaxBytes = 0 }, true},
		{"clipboard h2c with max 0", func(p *ConnectionParams) { p.Clipboard.HostToClient, p.Clipboard.MaxBytes = true, 0 }, false},
		{"clipboard c2h with max 0", func(p *ConnectionParams) { p.Clipboard.ClientToHost, p.Clipboard.MaxBytes = true, 0 }, false},
		{"file max 4096 MB", func(p *ConnectionParams) { p.File.MaxSizeMB = MaxFileSizeMB }, true},
		{"file max 4097 MB", func(p *ConnectionParams) { p.File.MaxSizeMB = MaxFileSizeMB + 1 }, false},
		{"file off with max 0", func(p *ConnectionParams) { p.File.MaxSizeMB = 0 }, true},
		{"upload with max 0", func(p *ConnectionParams) { p.File.Upload, p.File.MaxSizeMB = true, 0 }, false},
		{"download with max 0", func(p *ConnectionParams) { p.File.Download, p.File.MaxSizeMB = true, 0 }, false},
		{"dirs 32 x 128", func(p *ConnectionParams) { p.File.AllowedDirs = list(32, 128) }, true},
		{"dirs 33", func(p *ConnectionParams) { p.File.AllowedDirs = list(33, 4) }, false},
		{"dir 129 bytes", func(p *ConnectionParams) { p.File.AllowedDirs = list(1, 129) }, false},
		{"dir with tab", func(p *ConnectionParams) { p.File.AllowedDirs = []string{"/a\tb"} }, false},
		{"dir non-ASCII printable", func(p *ConnectionParams) { p.File.AllowedDirs = []string{"/home/zoë"} }, true},
		{"dirs unsorted", func(p *ConnectionParams) { p.File.AllowedDirs = []string{"/b", "/a"} }, false},
		{"extensions 32", func(p *ConnectionParams) { p.File.AllowedExtensions = list(32, 6) }, true},
		{"extensions 33", func(p *ConnectionParams) { p.File.AllowedExtensions = list(33, 6) }, false},
		{"extension empty", func(p *ConnectionParams) { p.File.AllowedExtensions = []string{""} }, false},
		{"extension with DEL", func(p *ConnectionParams) { p.File.AllowedExtensions = []string{"*.pdf\x7f"} }, false},
		{"extensions duplicate", func(p *ConnectionParams) { p.File.AllowedExtensions = []string{"*.pdf", "*.pdf"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := StrictParams()
			tt.mutate(&p)
			err := p.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidParams)
			coreRequireSentinel(t, err, allSentinels...)
			_, err = p.Encode()
			require.ErrorIs(t, err, ErrInvalidParams, "Encode must refuse invalid params")
		})
	}
}

func TestParamsNormalized(t *testing.T) {
	p := StrictParams()
	p.Input.KeyBlocklist = []string{"PrintScreen", "F12", "PrintScreen"}
	p.File.AllowedDirs = []string{}
	p.File.AllowedExtensions = []string{"*.txt", "*.pdf"}
	require.ErrorIs(t, p.Validate(), ErrInvalidParams)
	n := p.Normalized()
	require.NoError(t, n.Validate())
	require.Equal(t, []string{"F12", "PrintScreen"}, n.Input.KeyBlocklist)
	require.Nil(t, n.File.AllowedDirs)
	require.Equal(t, []string{"*.pdf", "*.txt"}, n.File.AllowedExtensions)
	require.Equal(t, []string{"PrintScreen", "F12", "PrintScreen"}, p.Input.KeyBlocklist, "Normalized must not modify p")
}

func TestParamsHashCoversEveryField(t *testing.T) {
	base := coreFullParams()
	seen := map[[32]byte]string{base.Hash(): "base"}
	mutations := map[string]func(p *ConnectionParams){
		"mouse_enabled":       func(p *ConnectionParams) { p.Input.MouseEnabled = false },
		"mouse_rate_limit_hz": func(p *ConnectionParams) { p.Input.MouseRateLimitHz = 1 },
		"kb_enabled":          func(p *ConnectionParams) { p.Input.KeyboardEnabled = false },
		"kb_blocklist":        func(p *ConnectionParams) { p.Input.KeyBlocklist = p.Input.KeyBlocklist[:1] },
		"kb_allowlist_mode":   func(p *ConnectionParams) { p.Input.KeyAllowlistMode = false },
		"host_to_client":      func(p *ConnectionParams) { p.Clipboard.HostToClient = false },
		"client_to_host":      func(p *ConnectionParams) { p.Clipboard.ClientToHost = false },
		"max_bytes":           func(p *ConnectionParams) { p.Clipboard.MaxBytes = 1 },
		"upload":              func(p *ConnectionParams) { p.File.Upload = false },
		"download":            func(p *ConnectionParams) { p.File.Download = false },
		"max_size_mb":         func(p *ConnectionParams) { p.File.MaxSizeMB = 1 },
		"allowed_dirs":        func(p *ConnectionParams) { p.File.AllowedDirs = nil },
		"allowed_extensions":  func(p *ConnectionParams) { p.File.AllowedExtensions = nil },
		"screenshare":         func(p *ConnectionParams) { p.System.Screenshare = false },
		"screenshots":         func(p *ConnectionParams) { p.System.Screenshots = false },
		"audio_in":            func(p *ConnectionParams) { p.System.AudioIn = false },
		"audio_out":           func(p *ConnectionParams) { p.System.AudioOut = false },
		"camera":              func(p *ConnectionParams) { p.System.Camera = false },
		"printing":            func(p *ConnectionParams) { p.System.Printing = false },
		"shell_channels":      func(p *ConnectionParams) { p.System.ShellChannels = false },
	}
	for name, mutate := range mutations {
		p := coreFullParams()
		mutate(&p)
		h := p.Hash()
		prev, dup := seen[h]
		require.False(t, dup, "%s hashes like %s", name, prev)
		seen[h] = name
	}
	// A list entry moving between lists must change the hash too.
	a, b := StrictParams(), StrictParams()
	a.File.AllowedDirs = []string{"x"}
	b.File.AllowedExtensions = []string{"x"}
	require.NotEqual(t, a.Hash(), b.Hash())
}

func TestParamsCBORRoundTrip(t *testing.T) {
	for name, p := range map[string]ConnectionParams{
		"strict":        StrictParams(),
		"ssh":           ParamsForService(ServiceSSH),
		"full":          coreFullParams(),
		"everythingOff": {Input: InputParams{MouseRateLimitHz: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			enc, err := p.Encode()
			require.NoError(t, err)
			back, err := DecodeParams(enc)
			require.NoError(t, err)
			require.Equal(t, p, back)
			require.Equal(t, p.Hash(), back.Hash())
		})
	}
	// All groups zero except the required mouse rate: only two keys on the wire.
	enc, err := ConnectionParams{Input: InputParams{MouseRateLimitHz: 1}}.Encode()
	require.NoError(t, err)
	require.Equal(t, "a2010102a10201", hex.EncodeToString(enc))
}

func TestDecodeParamsRejects(t *testing.T) {
	strict, err := StrictParams().Encode()
	require.NoError(t, err)
	input := coreCBOR(StrictParams().Input)
	invalid := StrictParams()
	invalid.Input.MouseRateLimitHz = 500
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not a map", coreCBOR([]int{1}), ErrMalformed},
		{"empty map", []byte{0xa0}, ErrMalformed},
		{"trailing byte", append(append([]byte{}, strict...), 0x00), ErrMalformed},
		{"version 2", coreMap(coreKV{1, coreCBOR(2)}, coreKV{2, input}), ErrUnsupportedVersion},
		{"version 0 explicit", coreMap(coreKV{1, coreCBOR(0)}, coreKV{2, input}), ErrUnsupportedVersion},
		{"version as text", coreMap(coreKV{1, coreCBOR("1")}, coreKV{2, input}), ErrMalformed},
		{"no version", coreMap(coreKV{2, input}), ErrMalformed},
		{"unknown key", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, input}, coreKV{9, coreCBOR(true)}), ErrMalformed},
		{"unknown nested key", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreMap(coreKV{2, coreCBOR(60)}, coreKV{9, coreCBOR(1)})}), ErrMalformed},
		{"duplicate key", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, input}, coreKV{2, input}), ErrMalformed},
		{"keys out of order", coreMap(coreKV{2, input}, coreKV{1, coreCBOR(1)}), ErrMalformed},
		{"explicit false", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreMap(coreKV{1, coreCBOR(false)}, coreKV{2, coreCBOR(60)})}), ErrMalformed},
		{"explicit empty group", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, input}, coreKV{3, []byte{0xa0}}), ErrMalformed},
		{"non-shortest integer", coreMap(coreKV{1, []byte{0x18, 0x01}}, coreKV{2, input}), ErrMalformed},
		{"indefinite-length map", append(append([]byte{0xbf}, strict[1:]...), 0xff), ErrMalformed},
		{"tagged value", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, append([]byte{0xc1}, input...)}), ErrMalformed},
		{"wrong type", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR("x")}), ErrMalformed},
		{"rate overflows uint32", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreMap(coreKV{2, coreCBOR(uint64(1) << 33)})}), ErrMalformed},
		{"invalid UTF-8 list entry", coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreMap(coreKV{2, coreCBOR(60)}, coreKV{4, []byte{0x81, 0x61, 0xff}})}), ErrMalformed},
		{"out of bounds", invalid.canonical(), ErrInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeParams(tt.in)
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestParamsJSON(t *testing.T) {
	b, err := json.Marshal(StrictParams())
	require.NoError(t, err)
	require.JSONEq(t, `{
		"version": 1,
		"input": {"mouse_enabled": true, "mouse_rate_limit_hz": 60, "kb_enabled": true, "kb_blocklist": ["PrintScreen"], "kb_allowlist_mode": false},
		"clipboard": {"host_to_client": false, "client_to_host": false, "max_bytes": 65536},
		"file": {"upload": false, "download": false, "max_size_mb": 25, "allowed_dirs": [], "allowed_extensions": []},
		"system": {"screenshare": false, "screenshots": false, "audio_in": false, "audio_out": true, "camera": false, "printing": false, "shell_channels": false}
	}`, string(b))

	for _, p := range []ConnectionParams{StrictParams(), coreFullParams(), {}} {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		var back ConnectionParams
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, p, back)
	}
}

func TestParamsUnmarshalJSON(t *testing.T) {
	t.Run("absent fields are strict", func(t *testing.T) {
		var p ConnectionParams
		require.NoError(t, json.Unmarshal([]byte(`{"system": {"shell_channels": true}}`), &p))
		require.Equal(t, ParamsForService(ServiceSSH), p)
	})
	t.Run("empty object is strict", func(t *testing.T) {
		var p ConnectionParams
		require.NoError(t, json.Unmarshal([]byte(`{}`), &p))
		require.Equal(t, StrictParams(), p)
	})
	t.Run("explicit empty list clears the default", func(t *testing.T) {
		var p ConnectionParams
		require.NoError(t, json.Unmarshal([]byte(`{"input": {"kb_blocklist": []}}`), &p))
		require.Nil(t, p.Input.KeyBlocklist)
	})
	t.Run("null leaves the value alone", func(t *testing.T) {
		p := coreFullParams()
		require.NoError(t, json.Unmarshal([]byte(`null`), &p))
		require.Equal(t, coreFullParams(), p)
	})
	for name, in := range map[string]string{
		"unknown top-level field": `{"inputs": {}}`,
		"misspelt field":          `{"input": {"mouse_rate_hz": 30}}`,
		"wrong type":              `{"input": {"mouse_enabled": "yes"}}`,
		"trailing data":           `{} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			var p ConnectionParams
			require.Error(t, p.UnmarshalJSON([]byte(in)))
		})
	}
	t.Run("version 2", func(t *testing.T) {
		var p ConnectionParams
		require.ErrorIs(t, json.Unmarshal([]byte(`{"version": 2}`), &p), ErrUnsupportedVersion)
	})
}
