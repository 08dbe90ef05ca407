// SPDX-License-Identifier: Apache-2.0

// Package ratelimit limits failed attempts (bad tokens, bad credentials)
// per remote address without locking out the good ones: only failures
// drain a bucket. The live view and the recorder stream share it.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter is a token bucket per remote address that only failures drain:
// an address with an empty bucket is refused until it refills.
type Limiter struct {
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

// maxBuckets bounds the map; beyond it, full (idle) buckets are forgotten.
const maxBuckets = 4096

// New returns a limiter of burst failures per key, refilled at perSecond.
func New(perSecond float64, burst int, now func() time.Time) *Limiter {
	return &Limiter{rate: perSecond, burst: float64(burst), now: now, m: map[string]*bucket{}}
}

func (l *Limiter) refill(key string) *bucket {
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

// Allow reports whether key may try now (its bucket holds a token).
func (l *Limiter) Allow(key string) bool {
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

// Fail takes a token from key's bucket.
func (l *Limiter) Fail(key string) {
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
