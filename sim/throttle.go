package sim

import (
	"errors"
	"math"
	"time"
)

// TokenBucket is an API rate limit as AWS applies them: a bucket of Burst tokens refilled
// at PerSecond tokens a second; each call (or, for instance launches, each instance) takes
// a token, and a call finding the bucket empty is throttled. A negative Burst means no
// limit.
type TokenBucket struct {
	Burst     int     `json:"burst"`
	PerSecond float64 `json:"perSecond"`
}

// Unlimited is a TokenBucket that never throttles.
var Unlimited = TokenBucket{Burst: -1}

func (b TokenBucket) unlimited() bool { return b.Burst < 0 }

func (b TokenBucket) validate(name string) error {
	if !b.unlimited() && (b.Burst < 1 || !(b.PerSecond > 0) || math.IsInf(b.PerSecond, 0)) {
		return errors.New(name + ": want burst >= 1 and perSecond > 0 (or burst -1: no limit)")
	}
	return nil
}

// bucket is a TokenBucket's state in virtual time. It starts full.
type bucket struct {
	TokenBucket
	tokens float64
	at     time.Duration
}

func newBucket(tb TokenBucket) *bucket { return &bucket{TokenBucket: tb, tokens: float64(tb.Burst)} }

func (b *bucket) refill(now time.Duration) {
	if now > b.at {
		b.tokens = min(float64(b.Burst), b.tokens+b.PerSecond*(now-b.at).Seconds())
		b.at = now
	}
}

// take takes a token at now, or reports that the call is throttled.
func (b *bucket) take(now time.Duration) bool {
	if b.unlimited() {
		return true
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// next is when a token will be there (now if one is).
func (b *bucket) next(now time.Duration) time.Duration {
	if b.unlimited() {
		return now
	}
	b.refill(now)
	if b.tokens >= 1 {
		return now
	}
	return now + time.Duration(math.Ceil((1-b.tokens)/b.PerSecond*float64(time.Second)))
}

// reserve takes a token that may not be there yet and returns when it is: a caller that
// waits for it (an Auto Scaling group launching the instances it was asked for) goes in
// the order it reserved.
func (b *bucket) reserve(now time.Duration) time.Duration {
	if b.unlimited() {
		return now
	}
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return now
	}
	return now + time.Duration(math.Ceil(-b.tokens/b.PerSecond*float64(time.Second)))
}
