package evertask

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestLinearRetry(t *testing.T) {
	p := Linear(3, 500*time.Millisecond)
	for attempt := 1; attempt <= 3; attempt++ {
		if d, ok := p.Retry(attempt, errors.New("x")); !ok || d != 500*time.Millisecond {
			t.Errorf("attempt %d: %v %v", attempt, d, ok)
		}
	}
	if _, ok := p.Retry(4, errors.New("x")); ok {
		t.Error("Linear(3) retried a 4th time")
	}
	if _, ok := NoRetry().Retry(1, errors.New("x")); ok {
		t.Error("NoRetry retried")
	}
	ds := LinearDelays(time.Second, 2*time.Second)
	if d, _ := ds.Retry(2, errors.New("x")); d != 2*time.Second {
		t.Errorf("LinearDelays second delay %v", d)
	}
}

func TestExponentialRetryBoundsAndJitter(t *testing.T) {
	p := Exponential(10, 100*time.Millisecond, time.Second)
	for attempt := 1; attempt <= 10; attempt++ {
		d, ok := p.Retry(attempt, errors.New("x"))
		if !ok {
			t.Fatalf("attempt %d not retried", attempt)
		}
		base := min(100*time.Millisecond<<(attempt-1), time.Second)
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		if d < lo || d > hi {
			t.Errorf("attempt %d: delay %v outside [%v, %v]", attempt, d, lo, hi)
		}
	}
	if _, ok := p.Retry(11, errors.New("x")); ok {
		t.Error("retried past Retries")
	}
	huge := &ExponentialRetry{Retries: 200, Base: time.Hour}
	if d, ok := huge.Retry(200, errors.New("x")); !ok || d <= 0 {
		t.Errorf("no cap, attempt 200: %v %v (overflow?)", d, ok)
	}
}

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprint("code ", e.code) }

func TestRetryFilters(t *testing.T) {
	sentinel := errors.New("sentinel")
	wrapped := fmt.Errorf("wrapped: %w", sentinel)
	typed := fmt.Errorf("wrapped: %w", &codeError{503})
	cases := []struct {
		name string
		p    RetryPolicy
		err  error
		want bool
	}{
		{"OnlyIsWrapped", Linear(1, 0).Only(Is(sentinel)), wrapped, true},
		{"OnlyIsOther", Linear(1, 0).Only(Is(sentinel)), errors.New("other"), false},
		{"OnlyAsWrapped", Linear(1, 0).Only(As[*codeError]()), typed, true},
		{"ExceptAs", Linear(1, 0).Except(As[*codeError]()), typed, false},
		{"ExceptOther", Linear(1, 0).Except(As[*codeError]()), wrapped, true},
		{"If", Exponential(1, 0, 0).If(func(err error) bool { return errors.Is(err, sentinel) }), wrapped, true},
		{"IfNot", Exponential(1, 0, 0).If(func(err error) bool { return false }), wrapped, false},
	}
	for _, tc := range cases {
		if _, got := tc.p.Retry(1, tc.err); got != tc.want {
			t.Errorf("%s: retry = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNeverRetried(t *testing.T) {
	for _, err := range []error{
		context.Canceled, context.DeadlineExceeded, fmt.Errorf("x: %w", context.Canceled),
		Permanent(errors.New("bad input")), &TimeoutError{Timeout: time.Second},
	} {
		if retryable(err) {
			t.Errorf("%v is retryable, want never", err)
		}
	}
	if !retryable(errors.New("plain")) {
		t.Error("a plain error is not retryable")
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	inner := errors.New("inner")
	if !errors.Is(Permanent(inner), inner) {
		t.Error("Permanent hides its error from errors.Is")
	}
}

func TestAttemptsErrorListsEveryAttempt(t *testing.T) {
	a, b := errors.New("first"), errors.New("second")
	err := &AttemptsError{Errs: []error{a, b}}
	want := "all 2 attempts failed:\nattempt 1: first\nattempt 2: second"
	if err.Error() != want {
		t.Errorf("text %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, a) || !errors.Is(err, b) || err.Last() != b {
		t.Error("AttemptsError does not expose its attempts")
	}
}
