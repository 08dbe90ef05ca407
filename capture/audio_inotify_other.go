// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package capture

import (
	"context"
	"errors"
)

// devWake needs Linux's inotify; elsewhere the audio guard only polls.
func devWake(context.Context, string) (<-chan struct{}, error) {
	return nil, errors.New("audio guard: watching device nodes needs Linux inotify; polling only")
}
