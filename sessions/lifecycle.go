package sessions

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is a session's lifecycle state. The zero value is not a state, so
// an Info or Lifecycle that was never initialised cannot pass as "created".
type State uint8

// States. Ended and failed are terminal.
const (
	StateCreated State = 1 + iota // request accepted (host) or sent (client), no traffic yet
	StateActive                   // receipt exchanged; tunnels may open
	StateEnded                    // ended by End, a limit or an operator
	StateFailed                   // never became usable, or broke
)

var stateNames = [...]string{StateCreated: "created", StateActive: "active", StateEnded: "ended", StateFailed: "failed"}

// Valid reports whether s is one of the four states.
func (s State) Valid() bool { return s >= StateCreated && s <= StateFailed }

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == StateEnded || s == StateFailed }

func (s State) String() string {
	if s.Valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText renders the state in lowercase words, so JSON shows "active"
// rather than 2; an invalid state is an error.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses what MarshalText writes.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if name != "" && name == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown state %q", ErrMalformed, b)
}

// MaxReasonLen bounds Lifecycle.Reason and Info.Reason.
const MaxReasonLen = 512

// Lifecycle is a session's state machine:
//
//	created → active → ended
//	created → failed, active → failed
//
// Any other transition, including any from a terminal state, returns
// ErrInvalidTransition and changes nothing. Time is an argument. Stored
// times never run backwards (a wall clock stepped back yields the previous
// time again), so durations computed from them are never negative.
type Lifecycle struct {
	State                         State
	Reason                        string // why it ended or failed, in words
	CreatedAt, StartedAt, EndedAt time.Time
}

// NewLifecycle starts a lifecycle in StateCreated.
func NewLifecycle(now time.Time) Lifecycle {
	return Lifecycle{State: StateCreated, CreatedAt: now}
}

func (l *Lifecycle) transition(to State) error {
	return fmt.Errorf("%w: %s → %s", ErrInvalidTransition, l.State, to)
}

// Activate moves created → active.
func (l *Lifecycle) Activate(now time.Time) error {
	if l.State != StateCreated {
		return l.transition(StateActive)
	}
	l.State, l.StartedAt = StateActive, notBefore(now, l.CreatedAt)
	return nil
}

// End moves active → ended. Reason records the reason in words, followed by
// detail if any.
func (l *Lifecycle) End(reason EndReason, detail string, now time.Time) error {
	if l.State != StateActive {
		return l.transition(StateEnded)
	}
	text := reason.String()
	if detail != "" {
		text += ": " + detail
	}
	l.State, l.Reason, l.EndedAt = StateEnded, sanitize(text, MaxReasonLen), notBefore(now, l.StartedAt)
	return nil
}

// Fail moves created or active → failed.
func (l *Lifecycle) Fail(reason string, now time.Time) error {
	if l.State != StateCreated && l.State != StateActive {
		return l.transition(StateFailed)
	}
	l.State, l.Reason, l.EndedAt = StateFailed, sanitize(reason, MaxReasonLen), notBefore(notBefore(now, l.CreatedAt), l.StartedAt)
	return nil
}

func notBefore(t, floor time.Time) time.Time {
	if t.Before(floor) {
		return floor
	}
	return t
}

// sanitize replaces non-printing characters with '?' and cuts s to limit bytes
// at a rune boundary. Reasons often come from error strings and the other
// peer; they end up in terminals and in the persisted Info, whose decoder
// insists on printable text.
func sanitize(s string, limit int) string {
	var b []byte
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if len(b)+utf8.RuneLen(r) > limit {
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
