package poot

import (
	"context"
	"fmt"
	"time"

	"github.com/lucidnet/lucid/consensus"
)

// Status is what `lucid poot status` shows: this node's work and standing.
type Status struct {
	Entity    string    `json:"entity"`
	Slot      uint64    `json:"slot"`
	SlotStart time.Time `json:"slot_start"`
	// TallySlot is the latest final slot (past the acceptance window):
	// credits and rank are the tally of the window ending there.
	TallySlot   uint64         `json:"tally_slot"`
	WindowSlots uint64         `json:"window_slots"`
	SentSlot    map[string]int `json:"sent_this_slot"`
	SeenSlot    map[string]int `json:"accepted_this_slot"`
	SentWindow  map[string]int `json:"sent_in_window"`
	Credits     Credits        `json:"credits"`
	// UptimeScore and LiveScore in millionths: 1000000 = 1.0.
	UptimeScore uint64 `json:"uptime_score"`
	LiveScore   uint64 `json:"live_score"`
	Eligible    bool   `json:"eligible"`
	Rank        int    `json:"rank,omitempty"` // 1-based among eligible entities; 0 if not ranked
	Entities    int    `json:"entities"`       // entities in the tally
	Eligibles   int    `json:"eligible_entities"`
	// InDatabase: this node's proofs in the window by type, as MongoDB's
	// task_proofs aggregates them (when configured).
	InDatabase map[string]int64 `json:"in_database,omitempty"`
}

// Credits are in whole credits (the tally keeps micro-credits).
type Credits struct {
	Relay      float64 `json:"relay"`
	Storage    float64 `json:"storage"`
	Validation float64 `json:"validation"`
	Total      float64 `json:"total"`
}

func credits(micro uint64) float64 { return float64(micro) / consensus.Micro }

// CreditsOf converts a tally line's micro-credits.
func CreditsOf(e consensus.TallyEntry) Credits {
	return Credits{Relay: credits(e.Relay), Storage: credits(e.Storage), Validation: credits(e.Validation), Total: credits(e.Credits)}
}

// finalSlot is the latest slot whose proofs can no longer arrive.
func (s *Service) finalSlot(now consensus.Slot) consensus.Slot {
	return consensus.Slot(max(int64(now)-int64(s.cfg.Params.AcceptWindow)-1, 0))
}

// Status reports this node's work, credits and rank.
func (s *Service) Status(ctx context.Context) (Status, error) {
	st, err := s.status()
	if err != nil || s.cfg.DB == nil {
		return st, err
	}
	from := consensus.Slot(max(int64(st.Slot)-int64(st.WindowSlots)+1, 0))
	counts, err := s.cfg.DB.Counts(ctx, from)
	if err != nil {
		return st, err
	}
	st.InDatabase = counts[s.self.String()]
	return st, nil
}

func (s *Service) status() (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cfg.Params
	now := p.SlotAt(s.cfg.Now())
	s.advance(now)
	final := s.finalSlot(now)
	st := Status{
		Entity: s.entity.String(), Slot: uint64(now), SlotStart: p.SlotStart(now), TallySlot: uint64(final), WindowSlots: p.WindowSlots,
		SentSlot: names(s.sent[now]), SeenSlot: names(s.seen[now]), SentWindow: map[string]int{},
	}
	for sl, byType := range s.sent {
		if uint64(sl)+p.WindowSlots > uint64(now) {
			for t, n := range byType {
				st.SentWindow[t.String()] += n
			}
		}
	}
	tally, err := s.tally.Compute(final)
	if err != nil {
		return st, fmt.Errorf("poot: tally at slot %d: %w", final, err)
	}
	st.Entities = len(tally.Entries)
	if e, ok := tally.Entry(s.entity); ok {
		st.Credits = CreditsOf(e)
		st.UptimeScore, st.LiveScore, st.Eligible = e.Uptime, e.LiveScore, e.Eligible
	}
	seed, _ := s.chain.Seed(final)
	for i, e := range consensus.Ranking(tally, seed, final) {
		st.Eligibles++
		if e == s.entity {
			st.Rank = i + 1
		}
	}
	return st, nil
}

func names(m map[consensus.ProofType]int) map[string]int {
	out := map[string]int{}
	for t, n := range m {
		out[t.String()] = n
	}
	return out
}

// ScheduledSlot is one slot of `lucid poot schedule`.
type ScheduledSlot struct {
	Slot      uint64    `json:"slot"`
	Start     time.Time `json:"start"`
	Primary   string    `json:"primary,omitempty"` // empty: nobody is eligible
	Fallbacks []string  `json:"fallbacks,omitempty"`
	// Mine: this node (or its pool) is the primary; MyRank is its place
	// in the slot's order (1 = primary), 0 if absent.
	Mine   bool `json:"mine"`
	MyRank int  `json:"my_rank,omitempty"`
	// Final: the slot's seed is fixed, so the leaders are too (given the
	// same proofs). Later slots are projected on the current seed and
	// tally.
	Final bool `json:"final"`
}

// Schedule computes the leaders of the next n slots from the current one.
//
// Until the data chain exists, the cooldown history is this node's own
// computed schedule, started CooldownSlots before it came up, and every
// slot without a block keeps the genesis seed: nodes that saw the same
// proofs agree, and the chain will make both chain state.
func (s *Service) Schedule(n int) ([]ScheduledSlot, error) {
	if n < 1 || n > 1000 {
		return nil, fmt.Errorf("poot: schedule of %d slots: want 1..1000", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cfg.Params
	now := p.SlotAt(s.cfg.Now())
	s.advance(now)
	finalUpTo := consensus.Slot(uint64(s.chain.Complete) + p.Lookahead) // seeds known below this
	if s.histNext < finalUpTo {
		leaders, err := s.scheduleFrom(s.histNext, finalUpTo, finalUpTo)
		if err != nil {
			return nil, err
		}
		for _, l := range leaders {
			s.history[l.Slot] = l
		}
		s.histNext = finalUpTo
	}
	end := now + consensus.Slot(n)
	var leaders []consensus.SlotLeaders
	for t := now; t < min(end, finalUpTo); t++ {
		leaders = append(leaders, s.history[t])
	}
	if end > finalUpTo {
		projected, err := s.scheduleFrom(max(now, finalUpTo), end, finalUpTo)
		if err != nil {
			return nil, err
		}
		leaders = append(leaders, projected...)
	}
	out := make([]ScheduledSlot, 0, n)
	for _, l := range leaders {
		ss := ScheduledSlot{Slot: uint64(l.Slot), Start: p.SlotStart(l.Slot), Primary: EntityText(l.Primary), Final: l.Slot < finalUpTo}
		for _, f := range l.Fallbacks {
			ss.Fallbacks = append(ss.Fallbacks, EntityText(f))
		}
		if r, ok := l.Rank(s.entity); ok {
			ss.MyRank, ss.Mine = r+1, r == 0
		}
		out = append(out, ss)
	}
	return out, nil
}

// EntityText shows an entity in `lucid poot` output ("node:<peer ID>",
// "pool:<hex>"); "" for none.
func EntityText(e consensus.EntityID) string {
	if e == "" {
		return ""
	}
	return e.String()
}

// scheduleFrom computes slots [from, end): with known seeds up to
// finalUpTo and the latest known seed after it.
func (s *Service) scheduleFrom(from, end, finalUpTo consensus.Slot) ([]consensus.SlotLeaders, error) {
	p := s.cfg.Params
	recent := make([]consensus.EntityID, 0, p.CooldownSlots)
	for i := min(uint64(from), p.CooldownSlots); i > 0; i-- {
		recent = append(recent, s.history[from-consensus.Slot(i)].Primary) // "" where unknown
	}
	return consensus.Schedule(p, s.tally, projected{s.chain, finalUpTo}, recent, from, int(end-from))
}

// projected gives the chain's seeds where known and, beyond, the last
// known one: what the schedule looks like if no block changes it.
type projected struct {
	chain     *consensus.Chain
	finalUpTo consensus.Slot
}

func (pr projected) Seed(t consensus.Slot) ([32]byte, bool) {
	if t < pr.finalUpTo {
		return pr.chain.Seed(t)
	}
	return pr.chain.Seed(max(pr.finalUpTo, 1) - 1)
}
