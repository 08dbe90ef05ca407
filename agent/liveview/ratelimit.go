// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"sync"
	"time"
)

// limiter is a token bucket per remote address that only failures drain:
// an address with an empty bucket is refused (429) until it refills.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// throttledKey is the one bucket of the global limiter on verifications
// for throttled addresses.
const throttledKey = "*"

// throttledVerifyRate and throttledVerifyBurst are the global budget of
// failed verifications for addresses that are themselves throttled (see
// handleOffer): a valid token from such an address is still accepted
// while the budget lasts; an Ed25519 verification costs well under a
// millisecond on a Pi.
const (
	throttledVerifyRate  = 50
	throttledVerifyBurst = 100
)

// maxBuckets bounds the map; beyond it, full (idle) buckets are forgotten.
const maxBuckets = 4096

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: perSecond, burst: float64(burst), now: now, m: map[string]*bucket{}}
}

func (l *limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxBuckets {
			for k, o := range l.m {
				if o.tokens+now.Sub(o.at).Seconds()*l.rate >= l.burst {
					delete(l.m, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
		return b
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = min(l.burst, b.tokens+d*l.rate)
	}
	b.at = now
	return b
}

// allow reports whether key may try now (its bucket holds a token).
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxBuckets {
		if _, ok := l.m[key]; !ok {
			// Under a flood of addresses, do not grow; new addresses share
			// one bucket.
			key = "*"
		}
	}
	return l.refill(key).tokens >= 1
}

// fail takes a token from key's bucket.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxBuckets {
		if _, ok := l.m[key]; !ok {
			key = "*"
		}
	}
	b := l.refill(key)
	b.tokens = max(0, b.tokens-1)
}
