// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
)

// STUB: replaced by the real implementation.
func cmdPrivacy(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return exitError{code: 1, msg: "camctl privacy: not implemented yet"}
}
