package media

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/internal/golden"
	"github.com/lucidnet/lucid/sessions"
)

// Golden vectors pin the formats byte for byte: a change to the frame or
// chunk layout, the key derivation, the Merkle rules, the manifest
// encoding or the key wrap shows up here. Each file holds inputs and
// expected outputs; the tests recompute the outputs from the inputs. Run
// with -update (or LUCID_UPDATE_GOLDEN=1) to rewrite the files after an
// intended change, and review the diff.
//
// The sealed bytes depend on the Zstd encoder (github.com/klauspost/
// compress at the version in go.mod); an upgrade that changes its output
// fails TestGoldenChunk while old chunks still open, which the test also
// checks.
func h(b []byte) string { return hex.EncodeToString(b) }

type goldenChunkFile struct {
	Description string              `json:"description"`
	Vectors     []goldenChunkVector `json:"vectors"`
}

type goldenChunkVector struct {
	Name       string `json:"name"`
	SessionKey string `json:"session_key"`
	Session    string `json:"session"`
	Index      uint64 `json:"index"`
	Plaintext  string `json:"plaintext"`
	AEADKey    string `json:"aead_key"`
	NonceKey   string `json:"nonce_key"`
	Nonce      string `json:"nonce"`
	Sealed     string `json:"sealed"`
	Leaf       string `json:"leaf"`
}

func goldenFrames() []byte {
	var b []byte
	b = AppendFrame(b, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("SSH-2.0-OpenSSH_9.6\r\n")})
	b = AppendFrame(b, Frame{Dir: sessions.HostToClient, At: testT0.Add(1500 * time.Microsecond), Data: []byte("SSH-2.0-lucid\r\n")})
	b = AppendFrame(b, Frame{Dir: sessions.ClientToHost, At: testT0.Add(time.Second), Data: bytes.Repeat([]byte("ls -la\r\n"), 40)})
	return b
}

func buildChunkVectors(t *testing.T) goldenChunkFile {
	key := testSessionKey(t, "golden")
	session := testSession(t, "golden")
	inputs := []struct {
		name  string
		index uint64
		plain []byte
	}{
		{"empty plaintext", 0, []byte{}},
		{"one frame", 1, AppendFrame(nil, Frame{Dir: sessions.HostToClient, At: testT0, Data: []byte("hello")})},
		{"three frames, compressible", 1<<40 + 5, goldenFrames()},
		{"last index, zeros", math.MaxUint64, make([]byte, 300)},
	}
	f := goldenChunkFile{Description: "media chunk format v1: HKDF-BLAKE2b-512 chunk keys, BLAKE3 synthetic nonce, zstd-3, XChaCha20-Poly1305; see docs/recording-format.md"}
	for _, in := range inputs {
		sealed, err := SealChunk(key, session, in.index, in.plain)
		require.NoError(t, err)
		k := deriveChunkKeys(key, session, in.index)
		hd, err := ParseChunkHeader(sealed)
		require.NoError(t, err)
		leaf := LeafHash(sealed)
		f.Vectors = append(f.Vectors, goldenChunkVector{
			Name: in.name, SessionKey: h(key), Session: session.String(), Index: in.index,
			Plaintext: h(in.plain), AEADKey: h(k.aead[:]), NonceKey: h(k.nonce[:]), Nonce: h(hd.Nonce[:]),
			Sealed: h(sealed), Leaf: h(leaf[:]),
		})
	}
	return f
}

func TestGoldenChunk(t *testing.T) {
	var f goldenChunkFile
	golden.JSON(t, filepath.Join("testdata", "golden-chunk.json"), buildChunkVectors(t), &f)
	require.NotEmpty(t, f.Vectors)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			key, plain, sealed := mustHex(t, v.SessionKey), mustHex(t, v.Plaintext), mustHex(t, v.Sealed)
			session, err := sessions.ParseID(v.Session)
			require.NoError(t, err)

			// Old chunks open whatever the encoder does today.
			got, err := OpenChunk(key, session, v.Index, sealed)
			require.NoError(t, err)
			require.Equal(t, plain, got)
			leaf := LeafHash(sealed)
			require.Equal(t, v.Leaf, h(leaf[:]))

			k := deriveChunkKeys(key, session, v.Index)
			require.Equal(t, v.AEADKey, h(k.aead[:]))
			require.Equal(t, v.NonceKey, h(k.nonce[:]))
			again, err := SealChunk(key, session, v.Index, plain)
			require.NoError(t, err)
			require.Equal(t, v.Sealed, h(again), "sealing changed: new Zstd output or a format change")
			hd, err := ParseChunkHeader(again)
			require.NoError(t, err)
			require.Equal(t, v.Nonce, h(hd.Nonce[:]))
		})
	}
}

type goldenMerkleFile struct {
	Description string             `json:"description"`
	Trees       []goldenMerkleTree `json:"trees"`
}

type goldenMerkleTree struct {
	Count      int           `json:"count"`
	LeafInputs []string      `json:"leaf_inputs"`
	Leaves     []string      `json:"leaves"`
	Root       string        `json:"root"`
	Proofs     []goldenProof `json:"proofs"`
}

type goldenProof struct {
	Index    uint64   `json:"index"`
	Siblings []string `json:"siblings"`
	Encoded  string   `json:"encoded"`
}

func buildMerkleVectors(t *testing.T) goldenMerkleFile {
	f := goldenMerkleFile{Description: "leaf = BLAKE3(0x00 || sealed chunk), node = BLAKE3(0x01 || left || right), unpaired last node promoted, empty root = BLAKE3(0x02)"}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8} {
		tr := goldenMerkleTree{Count: n, LeafInputs: []string{}, Leaves: []string{}, Proofs: []goldenProof{}}
		leaves := make([][32]byte, n)
		for i := range n {
			in := fmt.Appendf(nil, "sealed chunk %d", i)
			leaves[i] = LeafHash(in)
			tr.LeafInputs = append(tr.LeafInputs, h(in))
			tr.Leaves = append(tr.Leaves, h(leaves[i][:]))
		}
		root := MerkleRoot(leaves)
		tr.Root = h(root[:])
		for i := range uint64(n) {
			p, err := Prove(leaves, i)
			require.NoError(t, err)
			enc, err := p.Encode()
			require.NoError(t, err)
			gp := goldenProof{Index: i, Siblings: []string{}, Encoded: h(enc)}
			for _, s := range p.Siblings {
				gp.Siblings = append(gp.Siblings, h(s[:]))
			}
			tr.Proofs = append(tr.Proofs, gp)
		}
		f.Trees = append(f.Trees, tr)
	}
	return f
}

func TestGoldenMerkle(t *testing.T) {
	var f goldenMerkleFile
	golden.JSON(t, filepath.Join("testdata", "golden-merkle.json"), buildMerkleVectors(t), &f)
	require.Len(t, f.Trees, 8)
	for _, tr := range f.Trees {
		leaves := make([][32]byte, tr.Count)
		for i := range tr.Count {
			leaves[i] = LeafHash(mustHex(t, tr.LeafInputs[i]))
			require.Equal(t, tr.Leaves[i], h(leaves[i][:]))
		}
		root := MerkleRoot(leaves)
		require.Equal(t, tr.Root, h(root[:]), "count %d", tr.Count)
		require.Len(t, tr.Proofs, tr.Count)
		for _, gp := range tr.Proofs {
			p, err := DecodeProof(mustHex(t, gp.Encoded))
			require.NoError(t, err)
			require.Equal(t, gp.Index, p.Index)
			require.Equal(t, uint64(tr.Count), p.Count)
			require.Len(t, p.Siblings, len(gp.Siblings))
			for i, s := range gp.Siblings {
				require.Equal(t, s, h(p.Siblings[i][:]))
			}
			require.NoError(t, Verify(root, leaves[gp.Index], p))
			mine, err := Prove(leaves, gp.Index)
			require.NoError(t, err)
			require.Equal(t, p, mine)
		}
	}
}

type goldenKeyFile struct {
	Description string `json:"description"`
	Identity    string `json:"identity"`
	Recipient   string `json:"recipient"`
	SessionKey  string `json:"session_key"`
	Rand        string `json:"rand"`
	Label       string `json:"label"`
	Ephemeral   string `json:"ephemeral"`
	Nonce       string `json:"nonce"`
	Sealed      string `json:"sealed"`
}

func buildKeyVector(t *testing.T) goldenKeyFile {
	id := testIdentity(t, "golden-owner")
	key := testSessionKey(t, "golden")
	randBytes := make([]byte, 56)
	_, err := seeded("golden-wrap").Read(randBytes)
	require.NoError(t, err)
	w, err := WrapKey(key, id.PublicKey(), bytes.NewReader(randBytes))
	require.NoError(t, err)
	return goldenKeyFile{
		Description: "X25519 ephemeral-static; wrap key = HKDF-SHA256(shared, no salt, \"lucid/key-wrap/1\" || ephemeral || recipient); XChaCha20-Poly1305; rand supplies the ephemeral private key (32) then the nonce (24)",
		Identity:    FormatIdentity(id), Recipient: FormatRecipient(id.PublicKey()),
		SessionKey: h(key), Rand: h(randBytes), Label: LabelOwner,
		Ephemeral: h(w.Ephemeral[:]), Nonce: h(w.Nonce[:]), Sealed: h(w.Sealed),
	}
}

func TestGoldenKeyWrap(t *testing.T) {
	var f goldenKeyFile
	golden.JSON(t, filepath.Join("testdata", "golden-keywrap.json"), buildKeyVector(t), &f)
	id, err := ParseIdentity(f.Identity)
	require.NoError(t, err)
	pub, err := ParseRecipient(f.Recipient)
	require.NoError(t, err)
	require.True(t, pub.Equal(id.PublicKey()))
	w, err := WrapKey(mustHex(t, f.SessionKey), pub, bytes.NewReader(mustHex(t, f.Rand)))
	require.NoError(t, err)
	require.Equal(t, f.Ephemeral, h(w.Ephemeral[:]))
	require.Equal(t, f.Nonce, h(w.Nonce[:]))
	require.Equal(t, f.Sealed, h(w.Sealed))
	got, err := UnwrapKey(w, id)
	require.NoError(t, err)
	require.Equal(t, f.SessionKey, h(got))
}

type goldenManifestFile struct {
	Description string          `json:"description"`
	Encoded     string          `json:"encoded"`
	Hash        string          `json:"hash"`
	JSON        json.RawMessage `json:"json"`
}

// goldenManifest builds a manifest from fixed values only: its receipts
// are signed here with a fixed terms hash, so the vector does not move
// when package sessions changes its terms or default params.
func goldenManifest(t testing.TB) Manifest {
	t.Helper()
	session := testSession(t, "golden")
	key := testSessionKey(t, "golden")
	clientPriv, client := testPeer(t, "client")
	hostPriv, host := testPeer(t, "host")
	_, observer := testPeer(t, "observer")
	policy, terms := [32]byte{1, 2, 3}, [32]byte{4, 5, 6}
	consent := sessions.ConsentReceipt{User: client, Session: session, PolicyHash: policy, TermsHash: terms, AcceptedAt: testT0}
	require.NoError(t, consent.Sign(clientPriv))
	hr := sessions.HostReceipt{Host: host, Client: client, Session: session, Service: sessions.ServiceSSH,
		PolicyHash: policy, TermsHash: terms, ConsentHash: consent.Hash(),
		Limits: sessions.Limits{MaxDuration: 2 * time.Hour, IdleTimeout: 10 * time.Minute}, AcceptedAt: testT0.Add(time.Second)}
	require.NoError(t, hr.Sign(hostPriv))

	var infos []ChunkInfo
	for i, plain := range [][]byte{goldenFrames(), AppendFrame(nil, Frame{Dir: sessions.HostToClient, At: testT0.Add(2 * time.Second), Data: []byte("bye")})} {
		sealed, err := SealChunk(key, session, uint64(i), plain)
		require.NoError(t, err)
		fs, err := ParseFrames(plain)
		require.NoError(t, err)
		infos = append(infos, ChunkInfo{Index: uint64(i), SealedSize: uint64(len(sealed)), PlaintextSize: uint64(len(plain)),
			Leaf: LeafHash(sealed), First: fs[0].At, Last: fs[len(fs)-1].At})
	}
	var wks []WrappedKey
	for _, label := range []string{LabelOwner, LabelAuditor, LabelRecovery} {
		wk, err := WrapKey(key, testIdentity(t, "golden-"+label).PublicKey(), seeded("golden-wrap-"+label))
		require.NoError(t, err)
		wk.Label = label
		wks = append(wks, wk)
	}
	m := Manifest{
		Session: session, Host: host, Client: client, Participants: []peer.ID{observer}, Service: sessions.ServiceSSH,
		MaxChunkPlaintext: DefaultChunkPlaintext, MaxChunkAge: DefaultChunkAge,
		ChunkCount: uint64(len(infos)), Chunks: infos,
		Consent: consent, HostReceipt: hr, PolicyHash: policy,
		Recorder: "lucid/0.0.0-golden", Started: testT0, Ended: testT0.Add(3 * time.Second),
		Keys: wks,
		Gaps: []Gap{{AfterIndex: 0, Reason: "recorder restarted", From: testT0.Add(1100 * time.Millisecond), To: testT0.Add(1900 * time.Millisecond)}},
	}
	m.Root = MerkleRoot(m.Leaves())
	return m
}

func buildManifestVector(t *testing.T) goldenManifestFile {
	m := goldenManifest(t)
	enc, err := m.Encode()
	require.NoError(t, err)
	hash := m.Hash()
	js, err := json.Marshal(m)
	require.NoError(t, err)
	return goldenManifestFile{
		Description: "manifest v1, canonical CBOR; hash = BLAKE3(\"lucid/manifest/1\" || encoded); json is the CLI view",
		Encoded:     h(enc), Hash: h(hash[:]), JSON: js,
	}
}

func TestGoldenManifest(t *testing.T) {
	var f goldenManifestFile
	golden.JSON(t, filepath.Join("testdata", "golden-manifest.json"), buildManifestVector(t), &f)
	m, err := DecodeManifest(mustHex(t, f.Encoded))
	require.NoError(t, err)
	hash := m.Hash()
	require.Equal(t, f.Hash, h(hash[:]))
	enc, err := m.Encode()
	require.NoError(t, err)
	require.Equal(t, f.Encoded, h(enc))
	js, err := json.Marshal(m)
	require.NoError(t, err)
	require.JSONEq(t, string(f.JSON), string(js))
	require.NoError(t, m.Consent.Verify())
	require.NoError(t, m.HostReceipt.Verify())

	// The fixed builder still produces exactly this manifest.
	built, err := goldenManifest(t).Encode()
	require.NoError(t, err)
	require.Equal(t, f.Encoded, h(built))
}
