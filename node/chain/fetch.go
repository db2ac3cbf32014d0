package chain

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/canon"
)

// FetchProtocol serves blocks to nodes that missed them or are syncing.
//
// The client writes one request (uvarint length ‖ CBOR map) and half-closes;
// the server answers with frames (uvarint length ‖ bytes) ended by an
// empty frame: for a head request one frame, the head header's encoding
// followed by the final height as 8 bytes big-endian; for blocks, one
// frame per block encoding, in height order.
const FetchProtocol = "/lucid/blocks/fetch/1"

// Request kinds.
const (
	fetchHead  = 1 // the server's head header and final height
	fetchHash  = 2 // one block by hash
	fetchRange = 3 // canonical blocks from height From, up to Count
)

// Limits of one exchange.
const (
	maxFetchRequest  = 256
	maxFetchBlocks   = 64
	maxFetchResponse = 16 << 20
	maxFrame         = 8 << 20
	fetchTimeout     = 20 * time.Second
)

type fetchRequest struct {
	Kind  uint64 `cbor:"1,keyasint"`
	Hash  []byte `cbor:"2,keyasint,omitempty"`
	From  uint64 `cbor:"3,keyasint,omitempty"`
	Count uint64 `cbor:"4,keyasint,omitempty"`
}

// decodeFetchRequest is the strict decoder of a request.
func decodeFetchRequest(b []byte) (fetchRequest, error) {
	var r fetchRequest
	if len(b) > maxFetchRequest {
		return r, fmt.Errorf("chain: fetch request of %d bytes", len(b))
	}
	if err := canon.Decode(encMode, decMode, b, &r); err != nil {
		return r, fmt.Errorf("chain: fetch request: %w", err)
	}
	switch r.Kind {
	case fetchHead:
	case fetchHash:
		if len(r.Hash) != 32 {
			return r, errors.New("chain: fetch request: hash of wrong length")
		}
	case fetchSnapshot:
	case fetchRange, fetchHistory:
		if r.Count == 0 || r.Count > maxFetchBlocks {
			return r, fmt.Errorf("chain: fetch request: count %d outside [1, %d]", r.Count, maxFetchBlocks)
		}
	default:
		return r, fmt.Errorf("chain: fetch request: unknown kind %d", r.Kind)
	}
	return r, nil
}

func writeFrame(w io.Writer, b []byte) error {
	if _, err := w.Write(binary.AppendUvarint(nil, uint64(len(b)))); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("chain: frame of %d bytes, limit %d", n, limit)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// serveFetch answers one request.
func (s *Service) serveFetch(st network.Stream) {
	defer st.Close()
	if !s.reachable(st.Conn().RemotePeer()) {
		_ = st.Reset()
		return
	}
	_ = st.SetDeadline(time.Now().Add(fetchTimeout))
	br := bufio.NewReader(st)
	raw, err := readFrame(br, maxFetchRequest)
	if err != nil {
		_ = st.Reset()
		return
	}
	req, err := decodeFetchRequest(raw)
	if err != nil {
		s.met.fetchBad.Inc()
		_ = st.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	bw := bufio.NewWriter(st)
	var frames [][]byte
	switch req.Kind {
	case fetchHead:
		s.mu.Lock()
		h, f := s.eng.Head(), s.eng.Final().Height
		s.mu.Unlock()
		frames = append(frames, binary.BigEndian.AppendUint64(h.Encode(), f))
	case fetchHash:
		if b, err := s.blockByHash(ctx, [32]byte(req.Hash)); err == nil {
			frames = append(frames, b.Encode())
		}
	case fetchSnapshot, fetchHistory:
		frames = s.snapshotFrames(ctx, req)
	case fetchRange:
		size := 0
		for h := req.From; h < req.From+req.Count && size < maxFetchResponse; h++ {
			b, err := s.canonicalBlock(ctx, h)
			if err != nil {
				break
			}
			enc := b.Encode()
			frames = append(frames, enc)
			size += len(enc)
		}
	}
	for _, f := range frames {
		if err := writeFrame(bw, f); err != nil {
			return
		}
	}
	if writeFrame(bw, nil) == nil {
		_ = bw.Flush()
	}
	s.met.served.Add(float64(len(frames)))
}

// fetch sends a request to p and returns the response frames.
func (s *Service) fetch(ctx context.Context, p peer.ID, req fetchRequest) ([][]byte, error) {
	return s.exchange(ctx, p, req, fetchTimeout, maxFetchBlocks+1, maxFetchResponse+maxFrame, func(int) int { return maxFrame })
}

// exchange runs one request/response of the fetch protocol: at most
// maxFrames frames of at most frameLimit(i) bytes each, maxTotal bytes in
// all.
func (s *Service) exchange(ctx context.Context, p peer.ID, req fetchRequest, timeout time.Duration, maxFrames, maxTotal int, frameLimit func(i int) int) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := s.cfg.Network.Host.NewStream(ctx, p, FetchProtocol)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := writeFrame(st, canon.MustMarshal(encMode, &req)); err != nil {
		_ = st.Reset()
		return nil, err
	}
	if err := st.CloseWrite(); err != nil {
		_ = st.Reset()
		return nil, err
	}
	br := bufio.NewReader(st)
	var out [][]byte
	total := 0
	for i := 0; ; i++ {
		f, err := readFrame(br, frameLimit(i))
		if err != nil {
			_ = st.Reset()
			return nil, fmt.Errorf("chain: fetch from %s: %w", p, err)
		}
		if len(f) == 0 {
			return out, nil
		}
		if total += len(f); i >= maxFrames || total > maxTotal {
			_ = st.Reset()
			return nil, fmt.Errorf("chain: fetch from %s: response too large", p)
		}
		out = append(out, f)
	}
}

// peerHead asks p for its head header and final height.
func (s *Service) peerHead(ctx context.Context, p peer.ID) (consensus.BlockHeader, uint64, error) {
	fs, err := s.fetch(ctx, p, fetchRequest{Kind: fetchHead})
	if err != nil {
		return consensus.BlockHeader{}, 0, err
	}
	if len(fs) != 1 || len(fs[0]) < 8 {
		return consensus.BlockHeader{}, 0, fmt.Errorf("chain: head from %s: malformed answer", p)
	}
	f := fs[0]
	h, err := consensus.DecodeBlockHeader(f[:len(f)-8])
	if err != nil {
		return consensus.BlockHeader{}, 0, err
	}
	return h, binary.BigEndian.Uint64(f[len(f)-8:]), nil
}
