package chain

import (
	"fmt"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/node/poot"
)

// Standing is an entity's line in the tally the chain's schedule reads for
// the next slot, with its rank among the eligible entities.
type Standing struct {
	TallySlot uint64
	Entry     consensus.TallyEntry
	Ranked    bool // the entity has a line
	Rank      int  // 1-based among eligible entities, 0 if not ranked
	Entities  int
	Eligibles int
}

// Standing reads the entity's standing on the head's branch.
func (s *Service) Standing(entity consensus.EntityID) (Standing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.eng.Head()
	p := s.eng.HeadParams()
	next := max(p.SlotAt(s.cfg.Now()), head.Slot) + 1
	r, err := s.eng.Tally(head.Hash(), next)
	if err != nil || r == nil {
		return Standing{}, err
	}
	st := Standing{TallySlot: uint64(r.Slot), Entities: len(r.Entries)}
	st.Entry, st.Ranked = r.Entry(entity)
	seed, ok := s.eng.HeadSeed(next)
	if !ok {
		return st, nil
	}
	for i, e := range consensus.Ranking(r, seed, next) {
		st.Eligibles++
		if e == entity {
			st.Rank = i + 1
		}
	}
	return st, nil
}

// Schedule lists the leaders of the next n slots on the head's branch,
// marking entity's place, in the form `lucid poot schedule` shows
// without a chain. Slots up to lookahead past the head are final
// (their seed block is in); later ones are projected as if no block came
// before them.
func (s *Service) Schedule(n int, entity consensus.EntityID) ([]poot.ScheduledSlot, error) {
	if n < 1 || n > 1000 {
		return nil, fmt.Errorf("chain: schedule of %d slots: want 1..1000", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.eng.Head()
	p := s.eng.HeadParams()
	from := max(p.SlotAt(s.cfg.Now()), head.Slot+1)
	out := make([]poot.ScheduledSlot, 0, n)
	for t := from; t < from+consensus.Slot(n); t++ {
		l, err := s.eng.Leaders(head.Hash(), t)
		if err != nil {
			return nil, err
		}
		ss := poot.ScheduledSlot{Slot: uint64(t), Start: p.SlotStart(t), Primary: poot.EntityText(l.Primary),
			Final: uint64(t) <= uint64(head.Slot)+p.Lookahead}
		if l.Primary == "" {
			// The bootstrap node leads slots nobody is eligible for.
			ss.Primary = poot.EntityText(consensus.NodeEntity(s.cfg.Genesis.Bootstrap))
		}
		for _, f := range l.Fallbacks {
			ss.Fallbacks = append(ss.Fallbacks, poot.EntityText(f))
		}
		if r, ok := l.Rank(entity); ok {
			ss.MyRank, ss.Mine = r+1, r == 0
		} else if l.Primary == "" && entity == consensus.NodeEntity(s.cfg.Genesis.Bootstrap) {
			ss.MyRank, ss.Mine = 1, true
		}
		out = append(out, ss)
	}
	return out, nil
}
