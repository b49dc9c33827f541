package consensus

import (
	"errors"
	"fmt"
	"testing"
)

// TestQueryErrorMatches: a query's non-zero code matches ErrNotFound or
// ErrQuery as the code says, reads as before the code was kept, and keeps
// the code through wrapping.
func TestQueryErrorMatches(t *testing.T) {
	for _, tc := range []struct {
		err      *QueryError
		notFound bool
		msg      string
	}{
		{&QueryError{Code: NotFoundCode, Log: "epoch 7"}, true, "not found: epoch 7"},
		{&QueryError{Code: 1, Log: `epoch "x" is not a number`}, false, `consensus: query failed: epoch "x" is not a number`},
		{&QueryError{Code: 3, Log: "epoch 3 has not closed yet"}, false, "consensus: query failed: epoch 3 has not closed yet"},
	} {
		err := fmt.Errorf("asking: %w", tc.err)
		if errors.Is(err, ErrNotFound) != tc.notFound || errors.Is(err, ErrQuery) == tc.notFound || tc.err.Error() != tc.msg {
			t.Errorf("code %d: not found %v, query failed %v, %q; want not found %v, %q",
				tc.err.Code, errors.Is(err, ErrNotFound), errors.Is(err, ErrQuery), tc.err.Error(), tc.notFound, tc.msg)
		}
		if qe, ok := errors.AsType[*QueryError](err); !ok || qe.Code != tc.err.Code {
			t.Errorf("code %d: lost through wrapping: %v", tc.err.Code, err)
		}
	}
}
