package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/node"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/vm"
)

func newChainCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chain",
		Short: "The data chain: head, blocks, transactions, session proofs, parameters and governance",
	}
	cmd.AddCommand(newChainHeadCmd(g), newChainBlockCmd(g), newChainTxCmd(g), newChainProofCmd(g), newChainParamsCmd(g),
		newChainProposeCmd(g), newChainVoteCmd(g), newChainSubmitCmd(g), newChainGenesisCmd(g))
	return cmd
}

// withChain runs fn against the node running in the home: the chain lives
// in the node, a short-lived lookup client holds none.
func (g *globals) withChain(cmd *cobra.Command, fn func(ctx context.Context, api node.API) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	home, err := g.resolveHome()
	if err != nil {
		return err
	}
	client, _, err := runningNode(ctx, home)
	if err != nil {
		return fmt.Errorf("no node is running in %s (%w); the chain is kept by a running node", home.Dir, err)
	}
	return fn(ctx, client)
}

// jsonFlag adds the --json flag every chain command has.
func jsonFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "json", false, "print JSON")
}

func newChainHeadCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "head",
		Short: "The chain's head and final block, the next leaders and the pools",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				h, err := api.ChainHead(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), h)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintf(w, "chain:\t%s (genesis %s)\n", h.ChainID, h.Genesis)
				fmt.Fprintf(w, "head:\t%d, slot %d, %s\n", h.Height, h.Slot, stamp(h.Time))
				fmt.Fprintf(w, "hash:\t%s\n", h.Hash)
				fmt.Fprintf(w, "proposer:\t%s\n", h.Proposer)
				fmt.Fprintf(w, "state root:\t%s\n", h.StateRoot)
				fmt.Fprintf(w, "final:\t%d (%s)\n", h.FinalHeight, h.FinalHash)
				fmt.Fprintf(w, "current slot:\t%d\n", h.CurrentSlot)
				fmt.Fprintf(w, "next leaders:\t%s\n", dash(strings.Join(h.NextLeaders, ", ")))
				fmt.Fprintf(w, "pending:\t%d transactions, %d proofs\n", h.Mempool, h.Proofs)
				return w.Flush()
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func newChainBlockCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "block <height|hash>",
		Short: "One block: by height on the chosen chain, or by hash (64 hex characters)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p node.ChainBlockParams
			if h, err := strconv.ParseUint(args[0], 10, 64); err == nil && len(args[0]) != 64 {
				p.Height = &h
			} else {
				p.Hash = args[0]
			}
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				b, err := api.ChainBlock(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), b)
				}
				return printBlock(cmd.OutOrStdout(), b)
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printBlock(out io.Writer, b nodechain.BlockInfo) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	status := "not on the chosen chain"
	switch {
	case b.Final:
		status = "final"
	case b.Canonical:
		status = "on the chosen chain, not final yet"
	}
	fmt.Fprintf(w, "height:\t%d, slot %d, %s\n", b.Height, b.Slot, stamp(b.Time))
	fmt.Fprintf(w, "hash:\t%s\n", b.Hash)
	fmt.Fprintf(w, "prev:\t%s\n", b.Prev)
	fmt.Fprintf(w, "status:\t%s\n", status)
	fmt.Fprintf(w, "proposer:\t%s\n", b.Proposer)
	fmt.Fprintf(w, "state root:\t%s\n", b.StateRoot)
	fmt.Fprintf(w, "tx root:\t%s\n", b.TxRoot)
	fmt.Fprintf(w, "proof root:\t%s\n", b.ProofRoot)
	fmt.Fprintf(w, "size:\t%d bytes, %d transactions, %d work proofs\n", b.Size, len(b.Txs), b.Proofs)
	for _, m := range b.Misses {
		fmt.Fprintf(w, "missed:\tslot %d by %s\n", m.Slot, m.Entity)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(b.Txs) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tHASH\tTYPE\tSENDER\tNONCE\tCODE\tERROR")
	for _, t := range b.Txs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", t.Index, t.Hash, t.Type, shortPeer(t.Sender), t.Nonce, t.Code, dash(t.Error))
	}
	return w.Flush()
}

func newChainTxCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tx <hash>",
		Short: "One transaction: pending, included or final, with its receipt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				t, err := api.ChainTx(ctx, node.ChainTxParams{Hash: args[0]})
				if err != nil {
					return err
				}
				return printTx(cmd.OutOrStdout(), t, asJSON)
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// printTx shows a transaction and, once a block holds it, its receipt.
// A failed receipt is shown, not returned as an error: the command did its
// job, the chain refused the transaction.
func printTx(out io.Writer, t nodechain.TxInfo, asJSON bool) error {
	if asJSON {
		return printJSON(out, t)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "hash:\t%s\n", t.Hash)
	fmt.Fprintf(w, "status:\t%s\n", t.Status)
	if t.Type != "" {
		fmt.Fprintf(w, "type:\t%s\n", t.Type)
		fmt.Fprintf(w, "sender:\t%s (nonce %d)\n", t.Sender, t.Nonce)
	}
	keys := make([]string, 0, len(t.Body))
	for k := range t.Body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s:\t%v\n", k, t.Body[k])
	}
	if t.Block != "" {
		fmt.Fprintf(w, "block:\t%d (%s), index %d\n", t.Height, t.Block, t.Index)
		receipt := fmt.Sprintf("ok (code 0, gas %d)", t.Gas)
		if t.Code != 0 {
			receipt = fmt.Sprintf("failed, code %d: %s", t.Code, t.Error)
		}
		fmt.Fprintf(w, "receipt:\t%s\n", receipt)
	} else if t.Error != "" {
		fmt.Fprintf(w, "error:\t%s\n", t.Error)
	}
	return w.Flush()
}

func newChainProofCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "proof <session>",
		Short: "Prove a session's registration on the chain, and check the proof here",
		Long: `Proof fetches the inclusion proof of a session's registration (its
manifest hash, Merkle root and chunk count) in the state of a block, and
verifies it locally against that block's state root: the node is trusted
for the root, not for the record.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				p, err := api.ChainProof(ctx, node.ChainProofParams{Session: args[0]})
				if err != nil {
					return err
				}
				if err := verifyProof(p); err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), p)
				}
				final := "not final yet"
				if p.Final {
					final = "final"
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintf(w, "session:\t%s\n", p.Session)
				fmt.Fprintf(w, "manifest:\t%s\n", p.Manifest)
				fmt.Fprintf(w, "root:\t%s\n", p.Root)
				fmt.Fprintf(w, "chunks:\t%d\n", p.Chunks)
				fmt.Fprintf(w, "owner:\t%s\n", p.Owner)
				fmt.Fprintf(w, "registrant:\t%s\n", p.Registrant)
				fmt.Fprintf(w, "block:\t%d (%s), %s\n", p.Height, p.Block, stamp(p.BlockTime))
				fmt.Fprintf(w, "tx:\t%s\n", dash(p.Tx))
				fmt.Fprintf(w, "final:\t%s\n", final)
				fmt.Fprintf(w, "proof leads to:\tblock %d (%s), state root %s\n", p.ProofHeight, p.ProofBlock, p.StateRoot)
				fmt.Fprintf(w, "verified:\tyes, the proof leads to that state root (checked here)\n")
				return w.Flush()
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// verifyProof re-checks a session proof the node sent: the encoded proof
// must lead to the state root it names, and the record in it must be the
// one the node describes (else the description could lie while the proof
// is honest about something else).
func verifyProof(p nodechain.SessionProofInfo) error {
	raw, err := hex.DecodeString(p.Proof)
	if err != nil {
		return fmt.Errorf("proof of %s: not hex: %w", p.Session, err)
	}
	proof, err := vm.DecodeSessionProof(raw)
	if err != nil {
		return fmt.Errorf("proof of %s: %w", p.Session, err)
	}
	root, err := hex.DecodeString(p.StateRoot)
	if err != nil || len(root) != 32 {
		return fmt.Errorf("proof of %s: state root %q is not 32 hex bytes", p.Session, p.StateRoot)
	}
	if err := vm.VerifySessionProof([32]byte(root), proof); err != nil {
		return fmt.Errorf("proof of %s does not verify against the state root of block %d: %w", p.Session, p.ProofHeight, err)
	}
	r := proof.Record
	for _, c := range []struct{ what, got, want string }{
		{"session", hex.EncodeToString(proof.Session[:]), p.Session},
		{"manifest", hex.EncodeToString(r.Manifest[:]), p.Manifest},
		{"root", hex.EncodeToString(r.Root[:]), p.Root},
		{"chunks", strconv.FormatUint(r.Chunks, 10), strconv.FormatUint(p.Chunks, 10)},
		{"height", strconv.FormatUint(r.Height, 10), strconv.FormatUint(p.Height, 10)},
	} {
		if c.got != c.want {
			return fmt.Errorf("proof of %s: the proven record has %s %s, the node said %s", p.Session, c.what, c.got, c.want)
		}
	}
	return nil
}

func newChainParamsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "params",
		Short: "Parameters in effect at the head with their bounds, proposals and voters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				p, err := api.ChainParams(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), p)
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "parameters at height %d:\n", p.Height)
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tVALUE\tMIN\tMAX\tGOVERNED\tDOC")
				for _, x := range p.Params {
					gov := "yes"
					if x.Immutable {
						gov = "no (fixed)"
					}
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\n", x.Name, x.Value, x.Min, x.Max, gov, dash(x.Doc))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(out)
				if len(p.Proposals) == 0 {
					fmt.Fprintln(out, "proposals: none")
				} else {
					w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "ID\tNAME\tVALUE\tSTATUS\tYES\tNO\tQUORUM\tELECTORATE\tDEADLINE\tAPPLY AT\tPROPOSER")
					for _, x := range p.Proposals {
						fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", x.ID, x.Name, x.Value, x.Status, x.Yes, x.No,
							x.Quorum, x.Electorate, x.Deadline, x.ApplyAt, shortPeer(x.Proposer))
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				fmt.Fprintf(out, "voters (eligible for the next slot): %s\n", dash(strings.Join(p.Voters, ", ")))
				return nil
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func newChainProposeCmd(g *globals) *cobra.Command {
	var (
		asJSON, wait bool
	)
	cmd := &cobra.Command{
		Use:   "propose-param <name> <value>",
		Short: "Propose a new value for a governed parameter, signed by this node",
		Long: `Propose-param submits a ProposeParam transaction signed by this node's key.
The name and value are checked against the registry first (see chain
params). Only nodes eligible to lead may propose: the receipt says so
otherwise. With --wait the command returns once a block holds the
transaction (at most a minute).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("value %q: want a non-negative integer: %w", args[1], err)
			}
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				t, err := api.ChainProposeParam(ctx, node.ChainProposeParams{Name: args[0], Value: v, Wait: wait})
				if err != nil {
					return err
				}
				return printTx(cmd.OutOrStdout(), t, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until a block includes the transaction")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func newChainVoteCmd(g *globals) *cobra.Command {
	var asJSON, wait bool
	cmd := &cobra.Command{
		Use:   "vote <proposal-id> yes|no",
		Short: "Vote on a proposal, signed by this node",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("proposal %q: want a number: %w", args[0], err)
			}
			var yes bool
			switch strings.ToLower(args[1]) {
			case "yes", "y":
				yes = true
			case "no", "n":
			default:
				return fmt.Errorf("vote %q: want yes or no", args[1])
			}
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				t, err := api.ChainVote(ctx, node.ChainVoteParams{Proposal: id, Yes: yes, Wait: wait})
				if err != nil {
					return err
				}
				return printTx(cmd.OutOrStdout(), t, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until a block includes the transaction")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func newChainSubmitCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "submit <hex>",
		Short: "Submit a transaction signed elsewhere (hex of its encoding)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withChain(cmd, func(ctx context.Context, api node.API) error {
				t, err := api.ChainSubmitTx(ctx, node.ChainSubmitParams{Tx: strings.TrimSpace(args[0])})
				if err != nil {
					return err
				}
				return printTx(cmd.OutOrStdout(), t, asJSON)
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// genesisReport is what `chain genesis` prints.
type genesisReport struct {
	Path    string         `json:"path"`
	Hash    string         `json:"hash"`
	Genesis *chain.Genesis `json:"genesis"`
}

func newChainGenesisCmd(g *globals) *cobra.Command {
	var (
		out, chainID, bootstrap, start string
		params                         []string
		dev, force, asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "genesis",
		Short: "Write a chain's genesis file (no node needed)",
		Long: `Genesis writes the document every node of a chain starts from: the chain
ID, the start of slot 0, the bootstrap node (which proposes the slots
nobody is eligible to lead yet; default this home's node) and the
parameters that differ from the registry defaults. Copy the same file to
every node's home as genesis.json. --dev uses the development parameters
(one-second slots) and allows values outside the governance bounds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			if out == "" {
				out = home.GenesisPath()
			}
			var boot peer.ID
			if bootstrap != "" {
				if boot, err = peer.Decode(bootstrap); err != nil {
					return fmt.Errorf("--bootstrap %q: %w", bootstrap, err)
				}
			} else {
				key, err := home.LoadIdentity()
				if err != nil {
					return fmt.Errorf("no identity in %s to bootstrap the chain (run lucid init, or pass --bootstrap <peer id>): %w", home.Dir, err)
				}
				if boot, err = peer.IDFromPrivateKey(key); err != nil {
					return err
				}
			}
			at := time.Now()
			if start != "" {
				if at, err = time.Parse(time.RFC3339, start); err != nil {
					return fmt.Errorf("--start %q: want RFC 3339 (2006-01-02T15:04:05Z): %w", start, err)
				}
			}
			var gen *chain.Genesis
			if dev {
				gen = chain.DevGenesis(chainID, boot, at)
			} else {
				// Whole milliseconds: the genesis hash commits to them.
				gen = &chain.Genesis{ChainID: chainID, Time: time.UnixMilli(at.UnixMilli()).UTC(), Bootstrap: boot}
			}
			for _, kv := range params {
				name, value, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--param %q: want name=value", kv)
				}
				if _, known := vm.LookupParam(name); !known {
					return fmt.Errorf("--param %q: unknown parameter (see lucid chain params)", kv)
				}
				v, err := strconv.ParseUint(value, 10, 64)
				if err != nil {
					return fmt.Errorf("--param %q: %w", kv, err)
				}
				if gen.Params == nil {
					gen.Params = map[string]uint64{}
				}
				gen.Params[name] = v
			}
			if err := gen.Validate(); err != nil {
				return fmt.Errorf("genesis not written: %w", err)
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s exists; pass --force to replace it (every node of a chain needs the same file)", out)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := gen.Save(out); err != nil {
				return fmt.Errorf("write genesis: %w", err)
			}
			h := gen.Hash()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), genesisReport{Path: out, Hash: hex.EncodeToString(h[:]), Genesis: gen})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "wrote:\t%s\n", out)
			fmt.Fprintf(w, "chain:\t%s (dev: %v)\n", gen.ChainID, gen.Dev)
			fmt.Fprintf(w, "genesis time:\t%s\n", gen.Time.Format(time.RFC3339Nano))
			fmt.Fprintf(w, "bootstrap:\t%s\n", gen.Bootstrap)
			fmt.Fprintf(w, "hash:\t%x\n", h)
			for _, name := range gen.ParamNames() {
				fmt.Fprintf(w, "param:\t%s = %d\n", name, gen.Params[name])
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (default: genesis.json in the home)")
	cmd.Flags().StringVar(&chainID, "chain-id", "lucid-dev", "the chain's name")
	cmd.Flags().StringVar(&bootstrap, "bootstrap", "", "peer ID of the bootstrap node (default: this home's node)")
	cmd.Flags().BoolVar(&dev, "dev", false, "development parameters: one-second slots, short windows and votes")
	cmd.Flags().StringVar(&start, "start", "", "start of slot 0, RFC 3339 (default: now)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "override a parameter, name=value (repeatable)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	jsonFlag(cmd, &asJSON)
	return cmd
}
