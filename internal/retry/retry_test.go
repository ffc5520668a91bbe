package retry

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestBackoffGrowsWithinBounds(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}.WithDefaults(5)
	cases := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second}, // capped
	}
	for _, tc := range cases {
		for range 50 {
			if d := p.Backoff(tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

func TestWithDefaults(t *testing.T) {
	p := Policy{}.WithDefaults(6)
	if p.MaxAttempts != 6 || p.Initial != 500*time.Millisecond || p.Max != 30*time.Second || p.MaxElapsed != 2*time.Minute {
		t.Fatalf("defaults = %+v", p)
	}
	if q := (Policy{MaxAttempts: 1, Initial: time.Millisecond}).WithDefaults(6); q.MaxAttempts != 1 || q.Initial != time.Millisecond {
		t.Fatalf("set fields were overwritten: %+v", q)
	}
}

func TestAfter(t *testing.T) {
	cases := map[string]time.Duration{"": 0, "3": 3 * time.Second, " 7 ": 7 * time.Second, "0": 0, "-1": 0, "soon": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0}
	for in, want := range cases {
		if got := After(in); got != want {
			t.Errorf("After(%q) = %s, want %s", in, got, want)
		}
	}
	if got := After(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 59*time.Minute {
		t.Errorf("a date an hour ahead gave %s", got)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
}
