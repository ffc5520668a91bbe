// Package schedule parses job schedules: the config checks them with it and
// the scheduler runs them with it, so what loads is what runs.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads five fields, an optional leading seconds field,
// descriptors (@every 10m, @hourly) and a CRON_TZ= prefix.
func cronParser() cron.Parser {
	return cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// Parse parses a job schedule the way the daemon runs it: five or six
// (with seconds) cron fields or a descriptor ("@every 1m", "@daily"),
// optionally prefixed "CRON_TZ=Europe/Moscow ".
//
// It is stricter than robfig/cron in two ways: an "@every" interval must
// be a whole number of seconds and at least 1s (cron silently runs "@every
// 0s", "@every -1s" and "@every 1500ms" every second), and a zone prefix
// with nothing after it is an error (cron panics on it).
func Parse(spec string) (cron.Schedule, error) {
	body := spec
	if strings.HasPrefix(body, "TZ=") || strings.HasPrefix(body, "CRON_TZ=") {
		_, rest, ok := strings.Cut(body, " ")
		if !ok || strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("parse schedule %q: a time zone prefix needs a schedule after it, such as \"CRON_TZ=Europe/Moscow 0 3 * * *\"", spec)
		}
		body = strings.TrimSpace(rest)
	}
	if every, ok := strings.CutPrefix(body, "@every "); ok {
		if d, err := time.ParseDuration(every); err == nil && (d < time.Second || d%time.Second != 0) {
			return nil, fmt.Errorf("parse schedule %q: an @every interval must be a whole number of seconds, at least 1s, got %s", spec, d)
		}
	}
	s, err := cronParser().Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("parse schedule %q: %w", spec, err)
	}
	return s, nil
}

// Parser is Parse as a cron.ScheduleParser, for cron.WithParser.
type Parser struct{}

// Parse implements cron.ScheduleParser.
func (Parser) Parse(spec string) (cron.Schedule, error) { return Parse(spec) }
