package reason

import (
	"errors"
	"fmt"
	"testing"
)

func TestTableOf(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	tab := Table{{a, "label_a"}, {b, "label_b"}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{a, "label_a"},
		{fmt.Errorf("wrapped: %w", b), "label_b"},
		{errors.Join(b, a), "label_a"}, // table order decides
		{errors.New("c"), Other},
		{nil, Other},
	} {
		if got := tab.Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
