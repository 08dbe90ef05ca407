// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type coded struct {
	code int
	msg  string
}

func (c coded) Error() string { return c.msg }
func (c coded) ExitCode() int { return c.code }

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		printed string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "prog: boom\n"},
		{coded{3, "refused: clinical zone"}, 3, "refused: clinical zone\n"},
		{coded{2, ""}, 2, ""},
		{fmt.Errorf("wrapped: %w", coded{4, "x"}), 4, "x\n"},
	} {
		var b bytes.Buffer
		if got := Report(&b, "prog", tc.err); got != tc.code || b.String() != tc.printed {
			t.Errorf("Report(%v) = %d, %q; want %d, %q", tc.err, got, b.String(), tc.code, tc.printed)
		}
	}
}
