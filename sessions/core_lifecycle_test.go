package sessions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLifecycleTransitions(t *testing.T) {
	type op int
	const (
		activate op = iota
		end
		fail
	)
	opNames := map[op]string{activate: "activate", end: "end", fail: "fail"}
	// from state → op → resulting state (0 = ErrInvalidTransition).
	want := map[State]map[op]State{
		0:            {activate: 0, end: 0, fail: 0},
		StateCreated: {activate: StateActive, end: 0, fail: StateFailed},
		StateActive:  {activate: 0, end: StateEnded, fail: StateFailed},
		StateEnded:   {activate: 0, end: 0, fail: 0},
		StateFailed:  {activate: 0, end: 0, fail: 0},
		State(9):     {activate: 0, end: 0, fail: 0},
	}
	t1 := coreT0.Add(time.Second)
	for from, ops := range want {
		for o, to := range ops {
			t.Run(from.String()+"/"+opNames[o], func(t *testing.T) {
				l := Lifecycle{State: from, CreatedAt: coreT0, Reason: "before"}
				before := l
				var err error
				switch o {
				case activate:
					err = l.Activate(t1)
				case end:
					err = l.End(EndClientClosed, "", t1)
				case fail:
					err = l.Fail("dial failed", t1)
				}
				if to == 0 {
					require.ErrorIs(t, err, ErrInvalidTransition)
					coreRequireSentinel(t, err, allSentinels...)
					require.Equal(t, before, l, "a refused transition changes nothing")
					return
				}
				require.NoError(t, err)
				require.Equal(t, to, l.State)
			})
		}
	}
}

func TestLifecycleHappyPath(t *testing.T) {
	l := NewLifecycle(coreT0)
	require.Equal(t, Lifecycle{State: StateCreated, CreatedAt: coreT0}, l)
	require.NoError(t, l.Activate(coreT0.Add(time.Second)))
	require.NoError(t, l.End(EndMaxDuration, "2h", coreT0.Add(2*time.Hour)))
	require.Equal(t, Lifecycle{
		State:     StateEnded,
		Reason:    "maximum duration reached: 2h",
		CreatedAt: coreT0,
		StartedAt: coreT0.Add(time.Second),
		EndedAt:   coreT0.Add(2 * time.Hour),
	}, l)
	require.True(t, l.State.Terminal())

	l = NewLifecycle(coreT0)
	require.NoError(t, l.Fail("host unreachable", coreT0.Add(time.Minute)))
	require.Equal(t, Lifecycle{State: StateFailed, Reason: "host unreachable", CreatedAt: coreT0, EndedAt: coreT0.Add(time.Minute)}, l)

	l = NewLifecycle(coreT0)
	require.NoError(t, l.Activate(coreT0))
	require.NoError(t, l.End(EndClientClosed, "", coreT0))
	require.Equal(t, "closed by the client", l.Reason)
}

func TestLifecycleClockStepsBack(t *testing.T) {
	l := NewLifecycle(coreT0)
	require.NoError(t, l.Activate(coreT0.Add(-time.Hour)))
	require.Equal(t, coreT0, l.StartedAt)
	require.NoError(t, l.End(EndHostClosed, "", coreT0.Add(-2*time.Hour)))
	require.Equal(t, coreT0, l.EndedAt)

	l = NewLifecycle(coreT0)
	require.NoError(t, l.Activate(coreT0.Add(time.Minute)))
	require.NoError(t, l.Fail("x", coreT0))
	require.Equal(t, coreT0.Add(time.Minute), l.EndedAt)
}

func TestLifecycleReasonSanitized(t *testing.T) {
	l := NewLifecycle(coreT0)
	require.NoError(t, l.Fail("read: \x1b[31mboom\n"+strings.Repeat("x", 1000), coreT0))
	require.True(t, strings.HasPrefix(l.Reason, "read: ?[31mboom?xxx"))
	require.Len(t, l.Reason, MaxReasonLen)
	require.True(t, isPrintable(l.Reason))
}

func TestStateText(t *testing.T) {
	for s, name := range map[State]string{StateCreated: "created", StateActive: "active", StateEnded: "ended", StateFailed: "failed"} {
		require.Equal(t, name, s.String())
		b, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, `"`+name+`"`, string(b))
		var back State
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, s, back)
		require.Equal(t, s == StateEnded || s == StateFailed, s.Terminal())
	}
	require.Equal(t, "state(0)", State(0).String())
	_, err := json.Marshal(State(0))
	require.ErrorIs(t, err, ErrMalformed)
	var s State
	require.ErrorIs(t, s.UnmarshalText([]byte("Active")), ErrMalformed)
	require.ErrorIs(t, s.UnmarshalText(nil), ErrMalformed)
}
