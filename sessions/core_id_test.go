package sessions

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewIDSetsVersionAndVariant(t *testing.T) {
	for _, fill := range []byte{0x00, 0xff, 0x5a} {
		id, err := NewID(bytes.NewReader(bytes.Repeat([]byte{fill}, 16)))
		require.NoError(t, err)
		require.Equal(t, byte(0x40), id[6]&0xf0, "version nibble")
		require.Equal(t, byte(0x80), id[8]&0xc0, "variant bits")
		require.Equal(t, fill&0x0f, id[6]&0x0f, "low nibble kept")
		require.Equal(t, fill&0x3f, id[8]&0x3f, "low bits kept")
		require.True(t, id.Valid())
		require.False(t, id.IsZero())
	}
	for range 100 {
		id, err := NewID(rand.Reader)
		require.NoError(t, err)
		back, err := ParseID(id.String())
		require.NoError(t, err)
		require.Equal(t, id, back)
	}
}

func TestNewIDShortRead(t *testing.T) {
	_, err := NewID(bytes.NewReader(make([]byte, 15)))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestParseID(t *testing.T) {
	const valid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	want := ID{0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f, 0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"lowercase", valid, true},
		{"uppercase", strings.ToUpper(valid), true},
		{"mixed case", "0F8FAD5B-d9cb-469F-a165-70867728950E", true},
		{"variant 0b10 with b", "0f8fad5b-d9cb-469f-b165-70867728950e", true},
		{"v1 time-based", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", false},
		{"v3 md5", "6fa459ea-ee8a-3ca4-894e-db77e160355e", false},
		{"v5 sha1", "886313e1-3b8a-5372-9b90-0c9aee199e5d", false},
		{"v4 with NCS variant", "0f8fad5b-d9cb-469f-7165-70867728950e", false},
		{"v4 with Microsoft variant", "0f8fad5b-d9cb-469f-c165-70867728950e", false},
		{"nil UUID", "00000000-0000-0000-0000-000000000000", false},
		{"empty", "", false},
		{"too short", valid[:35], false},
		{"too long", valid + "0", false},
		{"no hyphens", strings.ReplaceAll(valid, "-", ""), false},
		{"misplaced hyphen", "0f8fad5bd-9cb-469f-a165-70867728950e", false},
		{"bad hex", "0f8fad5b-d9cb-469f-a165-70867728950g", false},
		{"hyphen instead of hex", "0f8fad5b-d9cb-469f-a165--0867728950e", false},
		{"braces", "{" + valid[:34] + "}", false},
		{"urn", "urn:uuid:" + valid, false},
		{"spaces", " " + valid[1:], false},
		{"non-ASCII", "0f8fad5b-d9cb-469f-a165-7086772895é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseID(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrInvalidID)
				require.Equal(t, ID{}, id)
				return
			}
			require.NoError(t, err)
			require.Equal(t, strings.ToLower(tt.in), id.String())
			if strings.EqualFold(tt.in, valid) {
				require.Equal(t, want, id)
			}
		})
	}
}

func TestIDText(t *testing.T) {
	id := coreID(t, "text")
	type wrapper struct {
		ID    ID `json:"id"`
		Unset ID `json:"unset"`
	}
	b, err := json.Marshal(wrapper{ID: id})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"`+id.String()+`","unset":""}`, string(b))
	var back wrapper
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, wrapper{ID: id}, back)

	_, err = ID{1}.MarshalText()
	require.ErrorIs(t, err, ErrInvalidID, "non-v4 IDs cannot be written as text")
	require.ErrorIs(t, json.Unmarshal([]byte(`{"id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`), &back), ErrInvalidID)
}
