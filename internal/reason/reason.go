// Package reason names refusals for metric labels: each shell (metadata,
// PoOT, chain) keeps a table from its sentinel errors to labels, and a
// refusal is counted under the first sentinel it wraps.
package reason

import "errors"

// Entry labels one sentinel. It is an alias of an unnamed struct so that
// the tables can list pairs positionally ({ErrX, "x"}).
type Entry = struct {
	Err   error
	Label string
}

// Table is searched in order: put a more specific sentinel before one it
// wraps.
type Table []Entry

// Other is the label of an error no entry matches.
const Other = "other"

// Of returns the label of err.
func (t Table) Of(err error) string {
	for _, e := range t {
		if errors.Is(err, e.Err) {
			return e.Label
		}
	}
	return Other
}
