// SPDX-License-Identifier: Apache-2.0

package gpiotest

import (
	"context"
	"sync"
)

// Button is a fake privacy button.
type Button struct {
	mu      sync.Mutex
	held    int // presses made while nobody listened
	presses feed[struct{}]
}

// Presses emits one value per Press until ctx is done; then the channel is
// closed. Presses made while no channel was open are delivered to the next
// one, so a test need not wait for the code under test to subscribe.
func (b *Button) Presses(ctx context.Context) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	held := make([]struct{}, b.held)
	b.held = 0
	return b.presses.subscribe(ctx, held...)
}

// Press injects one debounced press.
func (b *Button) Press() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.presses.publish(struct{}{}) == 0 {
		b.held++
	}
}
