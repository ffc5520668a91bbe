package retry

import (
	"errors"
	"testing"
	"time"
)

// clock is a hand-moved time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestBreaker(failures int) (*Breaker, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := NewBreaker(BreakerPolicy{Failures: failures, Cooldown: time.Minute})
	b.now = c.now
	return b, c
}

// call makes one call through b with verdict v; false when refused.
func call(t *testing.T, b *Breaker, v Verdict) bool {
	t.Helper()
	done, err := b.Allow()
	if err != nil {
		var oe *OpenError
		if !errors.As(err, &oe) {
			t.Fatalf("refusal %T, want *OpenError", err)
		}
		return false
	}
	done(v, "HTTP 502")
	return true
}

func TestBreaker(t *testing.T) {
	tests := []struct {
		name string
		// steps: verdicts of calls ('+' healthy, '-' unhealthy, '0'
		// neutral), '>' moves the clock past the cooldown; want is what
		// each call did: 'y' let through, 'n' refused.
		steps, want string
	}{
		{"three failures in a row open it", "---+", "yyyn"},
		{"a success between failures resets the count", "--+--+", "yyyyyy"},
		{"neutral calls neither count nor reset", "-0-0-+", "yyyyyn"},
		{"after the cooldown one trial call closes it when healthy", "---->++", "yyynyy"},
		{"a failed trial call opens it for another cooldown", "---->--", "yyynyn"},
		{"a failed trial call, then a healthy one after the next cooldown", "---->->+", "yyynyy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, c := newTestBreaker(3)
			var got []byte
			for _, s := range tc.steps {
				if s == '>' {
					c.t = c.t.Add(time.Minute + time.Second)
					continue
				}
				v := map[rune]Verdict{'+': Healthy, '-': Unhealthy, '0': Neutral}[s]
				if call(t, b, v) {
					got = append(got, 'y')
				} else {
					got = append(got, 'n')
				}
			}
			if string(got) != tc.want {
				t.Errorf("calls %s: got %s, want %s", tc.steps, got, tc.want)
			}
		})
	}
}

func TestBreakerLetsOneTrialCallAtATime(t *testing.T) {
	b, c := newTestBreaker(1)
	call(t, b, Unhealthy)
	c.t = c.t.Add(2 * time.Minute)
	trial, err := b.Allow()
	if err != nil {
		t.Fatalf("trial refused: %v", err)
	}
	if _, err := b.Allow(); err == nil {
		t.Fatal("a second call went through while the trial was out")
	}
	trial(Neutral, "") // the trial's caller gave up: another may try
	if !call(t, b, Healthy) || !call(t, b, Healthy) {
		t.Fatal("a healthy trial did not close the breaker")
	}
}

func TestBreakerRefusalSaysWhy(t *testing.T) {
	b, c := newTestBreaker(2)
	done, _ := b.Allow()
	done(Unhealthy, "HTTP 500")
	done, _ = b.Allow()
	done(Unhealthy, "HTTP 502 from nginx")
	done(Healthy, "") // a second report of one call is ignored
	_, err := b.Allow()
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Failures != 2 || oe.Last != "HTTP 502 from nginx" || !oe.Until.Equal(c.t.Add(time.Minute)) {
		t.Fatalf("refusal %+v", err)
	}
	if want := "2 requests in a row failed (last: HTTP 502 from nginx)"; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

func TestBreakerDisabledAndDefaults(t *testing.T) {
	if b := NewBreaker(BreakerPolicy{Failures: -1}); b != nil {
		t.Fatal("a negative threshold must disable the breaker")
	}
	var off *Breaker
	for i := 0; i < 100; i++ {
		if !call(t, off, Unhealthy) {
			t.Fatal("a disabled breaker refused a call")
		}
	}
	b := NewBreaker(BreakerPolicy{})
	if b.threshold != 8 || b.cooldown != time.Minute {
		t.Fatalf("defaults %d/%v, want 8/1m", b.threshold, b.cooldown)
	}
}
