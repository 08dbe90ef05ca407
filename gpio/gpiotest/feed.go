// SPDX-License-Identifier: Apache-2.0

package gpiotest

import (
	"context"
	"sync"
)

// feed fans values out to subscribers. Each subscriber has an unbounded
// queue, so publishing never blocks, and a goroutine that forwards the
// queue to the subscriber's channel until its context is done.
type feed[T any] struct {
	mu   sync.Mutex
	subs map[*sub[T]]struct{}
}

type sub[T any] struct {
	mu    sync.Mutex
	queue []T
	wake  chan struct{} // capacity 1
}

// subscribe returns a channel that receives first, then every published
// value, until ctx is done; then it is closed.
func (f *feed[T]) subscribe(ctx context.Context, first ...T) <-chan T {
	s := &sub[T]{queue: first, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*sub[T]]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()

	out := make(chan T)
	go func() {
		defer close(out)
		defer func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				select {
				case <-s.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			v := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// publish queues v for every subscriber and reports how many there were.
func (f *feed[T]) publish(v T) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.mu.Lock()
		s.queue = append(s.queue, v)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return len(f.subs)
}
