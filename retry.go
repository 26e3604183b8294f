package evertask

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// RetryPolicy decides whether a failed attempt is tried again.
//
// The engine never retries an error that is, or wraps, context.Canceled,
// context.DeadlineExceeded (a timeout) or a Permanent error, whatever the
// policy says.
type RetryPolicy interface {
	// Retry is called after attempt (1-based) failed with err. It returns
	// the delay before the next attempt and whether there is one.
	Retry(attempt int, err error) (delay time.Duration, ok bool)
}

// ErrorMatcher tells whether an error belongs to a class; see Is, As and
// the Only, Except and If methods of the built-in policies.
type ErrorMatcher func(error) bool

// Is matches errors for which errors.Is(err, target) holds.
func Is(target error) ErrorMatcher { return func(err error) bool { return errors.Is(err, target) } }

// As matches errors for which errors.As finds an E in the chain.
func As[E error]() ErrorMatcher {
	return func(err error) bool {
		var e E
		return errors.As(err, &e)
	}
}

// retryFilter is the error filter shared by the built-in policies: only
// these, all but these, or a predicate.
type retryFilter struct {
	only   []ErrorMatcher
	except []ErrorMatcher
	pred   func(error) bool
}

func (f *retryFilter) allows(err error) bool {
	if f.pred != nil {
		return f.pred(err)
	}
	if len(f.only) > 0 {
		return matchAny(f.only, err)
	}
	return !matchAny(f.except, err)
}

func matchAny(ms []ErrorMatcher, err error) bool {
	for _, m := range ms {
		if m(err) {
			return true
		}
	}
	return false
}

// LinearRetry retries after fixed delays: one retry per entry of Delays.
type LinearRetry struct {
	Delays []time.Duration
	filter retryFilter
}

// Linear retries up to retries times, waiting delay before each. Linear(3,
// d) runs a task at most 4 times. The engine's default is Linear(3, 500ms).
func Linear(retries int, delay time.Duration) *LinearRetry {
	ds := make([]time.Duration, max(retries, 0))
	for i := range ds {
		ds[i] = delay
	}
	return &LinearRetry{Delays: ds}
}

// LinearDelays retries once per delay, waiting that delay.
func LinearDelays(delays ...time.Duration) *LinearRetry {
	return &LinearRetry{Delays: append([]time.Duration(nil), delays...)}
}

// NoRetry never retries.
func NoRetry() *LinearRetry { return &LinearRetry{} }

// Retry implements RetryPolicy.
func (p *LinearRetry) Retry(attempt int, err error) (time.Duration, bool) {
	if attempt < 1 || attempt > len(p.Delays) || !p.filter.allows(err) {
		return 0, false
	}
	return max(p.Delays[attempt-1], 0), true
}

// Only returns a copy of p that retries only errors matching one of ms.
func (p *LinearRetry) Only(ms ...ErrorMatcher) *LinearRetry {
	c := *p
	c.filter = retryFilter{only: ms}
	return &c
}

// Except returns a copy of p that retries every error except those matching
// one of ms.
func (p *LinearRetry) Except(ms ...ErrorMatcher) *LinearRetry {
	c := *p
	c.filter = retryFilter{except: ms}
	return &c
}

// If returns a copy of p that retries the errors for which pred is true.
func (p *LinearRetry) If(pred func(error) bool) *LinearRetry {
	c := *p
	c.filter = retryFilter{pred: pred}
	return &c
}

// ExponentialRetry retries with delays Base, 2*Base, 4*Base... capped at
// Max, each spread by Jitter.
type ExponentialRetry struct {
	Retries int
	Base    time.Duration
	Max     time.Duration // 0: no cap
	// Jitter in [0, 1] randomizes each delay within ±Jitter of itself, so
	// many failing tasks do not retry in lockstep.
	Jitter float64
	filter retryFilter
}

// Exponential retries up to retries times starting at base, doubling up to
// maxDelay, with 20% jitter.
func Exponential(retries int, base, maxDelay time.Duration) *ExponentialRetry {
	return &ExponentialRetry{Retries: retries, Base: base, Max: maxDelay, Jitter: 0.2}
}

// Retry implements RetryPolicy.
func (p *ExponentialRetry) Retry(attempt int, err error) (time.Duration, bool) {
	if attempt < 1 || attempt > p.Retries || !p.filter.allows(err) {
		return 0, false
	}
	d := p.Base
	for i := 1; i < attempt && (p.Max <= 0 || d < p.Max); i++ {
		if d > time.Duration(1<<62)/2 {
			break // would overflow
		}
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if j := min(max(p.Jitter, 0), 1); j > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 - j + 2*j*rand.Float64()))
	}
	return max(d, 0), true
}

// Only returns a copy of p that retries only errors matching one of ms.
func (p *ExponentialRetry) Only(ms ...ErrorMatcher) *ExponentialRetry {
	c := *p
	c.filter = retryFilter{only: ms}
	return &c
}

// Except returns a copy of p that retries every error except those matching
// one of ms.
func (p *ExponentialRetry) Except(ms ...ErrorMatcher) *ExponentialRetry {
	c := *p
	c.filter = retryFilter{except: ms}
	return &c
}

// If returns a copy of p that retries the errors for which pred is true.
func (p *ExponentialRetry) If(pred func(error) bool) *ExponentialRetry {
	c := *p
	c.filter = retryFilter{pred: pred}
	return &c
}

// Permanent marks err as not worth retrying: the engine fails the task at
// once, whatever the retry policy. errors.Is and errors.As see through it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryable applies the rules no policy can override.
func retryable(err error) bool {
	var p *permanentError
	return !errors.As(err, &p) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// AttemptsError is the error of a task whose every attempt failed. Its text,
// stored with the task, lists each attempt; Unwrap gives all of them.
type AttemptsError struct {
	Errs []error
}

func (e *AttemptsError) Error() string {
	if len(e.Errs) == 1 {
		return e.Errs[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "all %d attempts failed:", len(e.Errs))
	for i, err := range e.Errs {
		fmt.Fprintf(&b, "\nattempt %d: %v", i+1, err)
	}
	return b.String()
}

// Unwrap returns the error of every attempt.
func (e *AttemptsError) Unwrap() []error { return e.Errs }

// Last returns the error of the last attempt.
func (e *AttemptsError) Last() error { return e.Errs[len(e.Errs)-1] }
