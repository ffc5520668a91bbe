package schedule

import (
	"strings"
	"testing"
)

func TestSchedules(t *testing.T) {
	tests := []struct {
		name, spec string
		wantErr    string // "" when the schedule is accepted
	}{
		{"an interval", "@every 10m", ""},
		{"an interval of exactly one second", "@every 1s", ""},
		{"an interval in mixed units", "@every 1m30s", ""},
		{"a named descriptor", "@hourly", ""},
		{"five fields", "*/5 * * * *", ""},
		{"six fields with seconds", "0 */5 * * * *", ""},
		{"a zone prefix", "CRON_TZ=Europe/Moscow 0 3 * * *", ""},
		{"a zone prefix before an interval", "CRON_TZ=Europe/Moscow @every 2s", ""},
		{"empty", "", "empty spec string"},
		{"words", "every ten minutes", "expected 5 to 6 fields"},
		{"too few fields", "* * *", "expected 5 to 6 fields"},
		{"an unknown zone", "CRON_TZ=Nowhere/City 0 3 * * *", "bad location"},
		{"a zone with no schedule does not panic", "CRON_TZ=Europe/Moscow", "a time zone prefix needs a schedule after it"},
		{"a zone with only spaces after it", "TZ=UTC   ", "a time zone prefix needs a schedule after it"},
		{"a zero interval", "@every 0s", "an @every interval must be a whole number of seconds, at least 1s, got 0s"},
		{"a negative interval", "@every -1s", "at least 1s, got -1s"},
		{"an interval below a second", "@every 500ms", "at least 1s, got 500ms"},
		{"a fractional interval, which cron would round down", "@every 1500ms", "whole number of seconds, at least 1s, got 1.5s"},
		{"a zero interval behind a zone", "CRON_TZ=UTC @every 0s", "at least 1s, got 0s"},
		{"an interval that is not a duration", "@every often", "failed to parse duration"},
		{"a minute out of range", "61 * * * *", "end of range (61) above maximum (59)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.spec)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Parse(%q) = %v, want it accepted", tt.spec, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Parse(%q) = %v, want an error containing %q", tt.spec, err, tt.wantErr)
			}
		})
	}
}
