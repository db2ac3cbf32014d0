package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/sessions"
)

// recordingFlags locate a recording store and the key that opens it.
type recordingFlags struct {
	dir     string
	keyFile string
}

func (f *recordingFlags) register(cmd *cobra.Command, withKey bool) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "recordings directory (default: the home's data/recordings)")
	if withKey {
		cmd.Flags().StringVar(&f.keyFile, "key", "", "X25519 identity file (lucid-x25519-priv:…) of an auditor or recovery key; default: the home's node identity, which owns the sessions it opened")
	}
}

func (f *recordingFlags) store(g *globals) (*media.FileStore, error) {
	dir := f.dir
	if dir == "" {
		home, err := g.resolveHome()
		if err != nil {
			return nil, err
		}
		dir = home.RecordingsDir()
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no recordings at %s: %w", dir, err)
	}
	return media.OpenFileStore(dir)
}

// identity is the X25519 key to unwrap recording keys with.
func (f *recordingFlags) identity(g *globals) (*ecdh.PrivateKey, error) {
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return nil, err
		}
		return media.ParseIdentity(strings.TrimSpace(string(b)))
	}
	home, err := g.resolveHome()
	if err != nil {
		return nil, err
	}
	key, err := home.LoadIdentity()
	if err != nil {
		return nil, err
	}
	return media.IdentityForKey(key)
}

// sessionKey unwraps the recording's key with the identity.
func sessionKey(m media.Manifest, id *ecdh.PrivateKey) ([]byte, error) {
	w, ok := m.KeyFor([32]byte(id.PublicKey().Bytes()))
	if !ok {
		return nil, fmt.Errorf("the recording of %s is not encrypted to this key (%s)", m.Session, media.FormatRecipient(id.PublicKey()))
	}
	return media.UnwrapKey(w, id)
}

func newRecordingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "recordings", Short: "List, verify and export session recordings"}
	cmd.AddCommand(newRecLsCmd(g), newRecShowCmd(g), newRecVerifyCmd(g), newRecExportCmd(g), newRecStatsCmd(g), newRecKeygenCmd())
	return cmd
}

// recordingRow is one line of `recordings ls`.
type recordingRow struct {
	Session  string    `json:"session"`
	Status   string    `json:"status"` // sealed, recording, interrupted
	Client   string    `json:"client,omitempty"`
	Service  string    `json:"service,omitempty"`
	Chunks   uint64    `json:"chunks"`
	Bytes    uint64    `json:"bytes"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Manifest string    `json:"manifest_hash,omitempty"`
}

func newRecLsCmd(g *globals) *cobra.Command {
	var (
		f      recordingFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List recordings: sealed, being recorded, or interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := f.store(g)
			if err != nil {
				return err
			}
			ids, err := st.Sessions()
			if err != nil {
				return err
			}
			rows := []recordingRow{}
			for _, id := range ids {
				rows = append(rows, describeRecording(st, id))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SESSION\tSTATUS\tCLIENT\tSERVICE\tCHUNKS\tSIZE\tSTARTED")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Session, r.Status, shortPeer(r.Client), dash(r.Service), r.Chunks, byteCount(r.Bytes), stamp(r.Started))
			}
			return w.Flush()
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func describeRecording(st *media.FileStore, id sessions.ID) recordingRow {
	row := recordingRow{Session: id.String()}
	m, err := st.Manifest(id)
	switch {
	case err == nil:
		row.Status = "sealed"
		if len(m.Gaps) > 0 {
			row.Status = "sealed with gaps"
		}
	case errors.Is(err, fs.ErrNotExist):
		// No manifest yet: live, or the node stopped mid-session and has
		// not restarted to recover it.
		row.Status = "recording or interrupted"
		if b, err := st.Journal(id); err == nil {
			if j, err := media.ReadJournal(b); err == nil {
				m = j.Begin
				m.Chunks = j.Chunks
			}
		}
	default:
		row.Status = "unreadable: " + err.Error()
		return row
	}
	if m.Client != "" {
		row.Client = m.Client.String()
	}
	row.Service, row.Started, row.Ended = m.Service, m.Started, m.Ended
	row.Chunks = uint64(len(m.Chunks))
	for _, c := range m.Chunks {
		row.Bytes += c.SealedSize
	}
	if row.Status != "recording or interrupted" {
		row.Manifest = fmt.Sprintf("%x", m.Hash())
	}
	return row
}

func newRecShowCmd(g *globals) *cobra.Command {
	var f recordingFlags
	cmd := &cobra.Command{
		Use:   "show <session-id>",
		Short: "Print a recording's manifest (JSON) and its hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, m, err := openRecording(g, &f, args[0])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), struct {
				Hash     string         `json:"manifest_hash"`
				Manifest media.Manifest `json:"manifest"`
			}{fmt.Sprintf("%x", m.Hash()), m})
		},
	}
	f.register(cmd, false)
	return cmd
}

func openRecording(g *globals, f *recordingFlags, arg string) (*media.FileStore, media.Manifest, error) {
	id, err := sessions.ParseID(arg)
	if err != nil {
		return nil, media.Manifest{}, err
	}
	st, err := f.store(g)
	if err != nil {
		return nil, media.Manifest{}, err
	}
	m, err := st.Manifest(id)
	if errors.Is(err, fs.ErrNotExist) {
		return st, m, fmt.Errorf("recording %s has no manifest yet (still recording, or the node must restart to recover it)", id)
	}
	return st, m, err
}

func newRecVerifyCmd(g *globals) *cobra.Command {
	var (
		f             recordingFlags
		asJSON        bool
		withoutK      bool
		requireAnchor bool
	)
	cmd := &cobra.Command{
		Use:   "verify <session-id>",
		Short: "Check a recording: every chunk's header, leaf and Merkle root, and with a key every chunk's tag",
		Long: `Verify checks a recording: every chunk's header, leaf and the Merkle root,
and with a key every chunk's tag. Then, if a node runs in the home and
follows a chain, it fetches the proof of the session's registration,
checks the proof here and compares the registered manifest hash, root and
chunk count with the recording's: a mismatch fails. A session not anchored
(or no chain to ask) is reported, and fails only with --require-anchor.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, m, err := openRecording(g, &f, args[0])
			if err != nil {
				return err
			}
			bar := chunkBar(cmd, m, "verifying")
			chunk := func(i uint64) ([]byte, error) {
				_ = bar.Add(1)
				return st.Chunk(m.Session, i)
			}
			var report media.Report
			if withoutK {
				report = media.VerifyRecording(m, chunk)
			} else {
				id, err := f.identity(g)
				if err != nil {
					return err
				}
				key, err := sessionKey(m, id)
				if err != nil {
					return fmt.Errorf("%w (use --no-key to check structure and Merkle root only)", err)
				}
				report = media.VerifyWithKey(m, key, chunk)
			}
			_ = bar.Finish()
			// The anchor is worth checking only for a recording that is
			// intact here: a broken one fails anyway.
			var anchor *anchorCheck
			if report.OK() {
				anchor = g.checkAnchor(cmd, m)
			}
			if asJSON {
				if err := printReport(cmd.OutOrStdout(), report, anchor); err != nil {
					return err
				}
			} else if report.OK() {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d chunks verified, root %x, manifest %x\n", report.Verified, m.Root, m.Hash())
				for _, gap := range m.Gaps {
					fmt.Fprintf(cmd.OutOrStdout(), "declared gap after chunk %d: %s\n", gap.AfterIndex, gap.Reason)
				}
				fmt.Fprintln(cmd.OutOrStdout(), anchor.line())
			}
			if err := report.Err(); err != nil {
				return err
			}
			return anchor.err(requireAnchor)
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&withoutK, "no-key", false, "check without decrypting (structure, leaves, Merkle root, receipts)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&requireAnchor, "require-anchor", false, "fail unless the home's node shows the recording anchored on the chain")
	return cmd
}

// Outcomes of the anchor check of `recordings verify`.
const (
	anchorMatches   = "matches"      // registered, and the registration is this recording
	anchorMismatch  = "mismatch"     // registered with another manifest, root or chunk count
	anchorMissing   = "not_anchored" // the chain holds no registration of the session
	anchorUnchecked = "not_checked"  // no node in the home, or it runs no chain
)

// anchorCheck compares a recording with its registration on the chain, as
// the home's node proves it.
type anchorCheck struct {
	Status      string `json:"status"`
	Detail      string `json:"detail,omitempty"`
	Height      uint64 `json:"height,omitempty"`
	Block       string `json:"block,omitempty"`
	Final       bool   `json:"final,omitempty"`
	Tx          string `json:"tx,omitempty"`
	ProofHeight uint64 `json:"proof_height,omitempty"`
	StateRoot   string `json:"state_root,omitempty"`
}

// checkAnchor asks the node running in the home for the session's proof,
// checks the proof here and compares the proven record with the manifest.
func (g *globals) checkAnchor(cmd *cobra.Command, m media.Manifest) *anchorCheck {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	home, err := g.resolveHome()
	if err != nil {
		return &anchorCheck{Status: anchorUnchecked, Detail: err.Error()}
	}
	client, _, err := runningNode(ctx, home)
	if err != nil {
		return &anchorCheck{Status: anchorUnchecked, Detail: fmt.Sprintf("no node is running in %s", home.Dir)}
	}
	p, err := client.ChainProof(ctx, node.ChainProofParams{Session: m.Session.String()})
	switch {
	case rpc.IsCode(err, rpc.CodeMethodNotSupported):
		return &anchorCheck{Status: anchorUnchecked, Detail: "the node in " + home.Dir + " runs no chain"}
	case rpc.IsCode(err, rpc.CodeResourceNotFound):
		return &anchorCheck{Status: anchorMissing, Detail: userMessage(err)}
	case err != nil:
		return &anchorCheck{Status: anchorUnchecked, Detail: "asking the node for the proof: " + userMessage(err)}
	}
	a := &anchorCheck{Status: anchorMatches, Height: p.Height, Block: p.Block, Final: p.Final, Tx: p.Tx,
		ProofHeight: p.ProofHeight, StateRoot: p.StateRoot}
	if err := verifyProof(p); err != nil {
		a.Status, a.Detail = anchorMismatch, err.Error()
		return a
	}
	var diffs []string
	if h := m.Hash(); p.Manifest != hex.EncodeToString(h[:]) {
		diffs = append(diffs, fmt.Sprintf("manifest %s on the chain, %x here", p.Manifest, h))
	}
	if p.Root != hex.EncodeToString(m.Root[:]) {
		diffs = append(diffs, fmt.Sprintf("root %s on the chain, %x here", p.Root, m.Root))
	}
	if p.Chunks != m.ChunkCount {
		diffs = append(diffs, fmt.Sprintf("%d chunks on the chain, %d here", p.Chunks, m.ChunkCount))
	}
	if len(diffs) > 0 {
		a.Status, a.Detail = anchorMismatch, strings.Join(diffs, "; ")
	}
	return a
}

// line is the anchor check in words.
func (a *anchorCheck) line() string {
	switch a.Status {
	case anchorMatches:
		final := "not final yet"
		if a.Final {
			final = "final"
		}
		return fmt.Sprintf("anchored at block %d (%s), manifest matches; proof verified against the state root of block %d", a.Height, final, a.ProofHeight)
	case anchorMismatch:
		return fmt.Sprintf("anchor MISMATCH at block %d: %s", a.Height, a.Detail)
	case anchorMissing:
		return "not anchored on the chain (" + a.Detail + ")"
	}
	return "anchor not checked: " + a.Detail
}

// err fails a mismatch always, and a missing or unchecked anchor when one
// is required.
func (a *anchorCheck) err(required bool) error {
	switch {
	case a == nil || a.Status == anchorMatches:
		return nil
	case a.Status == anchorMismatch:
		return fmt.Errorf("the recording does not match its anchor on the chain: %s", a.Detail)
	case required:
		return fmt.Errorf("anchor required: %s", a.line())
	}
	return nil
}

// printReport prints the verification report's JSON with the anchor check
// added as "anchor" (the report marshals itself, so it cannot be embedded).
func printReport(out io.Writer, r media.Report, a *anchorCheck) error {
	if a == nil {
		return printJSON(out, r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	obj["anchor"] = a
	return printJSON(out, obj)
}

func newRecExportCmd(g *globals) *cobra.Command {
	var (
		f   recordingFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "export <session-id> -o DIR",
		Short: "Decrypt a recording and write the original streams: client-to-host.bin and host-to-client.bin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o DIR is required")
			}
			st, m, err := openRecording(g, &f, args[0])
			if err != nil {
				return err
			}
			id, err := f.identity(g)
			if err != nil {
				return err
			}
			key, err := sessionKey(m, id)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			up, err := os.OpenFile(filepath.Join(out, "client-to-host.bin"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer up.Close()
			down, err := os.OpenFile(filepath.Join(out, "host-to-client.bin"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer down.Close()
			rs := media.NewReassembler(up, down, false)
			bar := chunkBar(cmd, m, "exporting")
			for i := range m.ChunkCount {
				_ = bar.Add(1)
				sealed, err := st.Chunk(m.Session, i)
				if err != nil {
					return fmt.Errorf("chunk %d: %w", i, err)
				}
				plain, err := media.OpenChunk(key, m.Session, i, sealed)
				if err != nil {
					return fmt.Errorf("chunk %d: %w", i, err)
				}
				if err := rs.AddChunk(plain); err != nil {
					return fmt.Errorf("chunk %d: %w", i, err)
				}
			}
			_ = bar.Finish()
			if err := errors.Join(up.Sync(), down.Sync()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d chunks: %d bytes client-to-host, %d bytes host-to-client, in %s\n",
				m.ChunkCount, rs.Written(sessions.ClientToHost), rs.Written(sessions.HostToClient), out)
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory for the exported streams")
	return cmd
}

// progressBarMinChunks is where a progress bar starts to help: smaller
// recordings finish before one would draw.
const progressBarMinChunks = 16

// chunkBar draws progress over a recording's chunks on stderr, for large
// recordings only, so scripts reading stdout are unaffected.
func chunkBar(cmd *cobra.Command, m media.Manifest, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(int64(m.ChunkCount),
		progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetVisibility(m.ChunkCount >= progressBarMinChunks),
	)
}

func newRecKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen -o FILE",
		Short: "Create an X25519 identity for an auditor or an operator recovery key; prints its recipient",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			id, err := media.GenerateIdentity(rand.Reader)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("%w (an existing key is never replaced)", err)
			}
			if _, err := fmt.Fprintln(f, media.FormatIdentity(id)); err != nil {
				f.Close()
				return err
			}
			if err := errors.Join(f.Sync(), f.Close()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), media.FormatRecipient(id.PublicKey()))
			fmt.Fprintf(cmd.ErrOrStderr(), "identity written to %s; put the line above in [recording] auditors or recovery_key\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file for the private identity (mode 0600)")
	return cmd
}
