package app

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/state"
)

// Metrics are virtsync's Prometheus series. Labels are bounded: job,
// result, system, endpoint, status code; never a record key or a person.
type Metrics struct {
	reg         *prometheus.Registry
	state       *stateCollector
	records     *prometheus.CounterVec
	requests    *prometheus.HistogramVec
	runs        *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
}

// BacklogFunc reports the outbox backlog: rows and the oldest row's age.
type BacklogFunc func(ctx context.Context) (int, time.Duration, error)

// DeadLettersFunc reports open dead letters per job.
type DeadLettersFunc func(ctx context.Context) (map[string]int, error)

// NewMetrics registers every series on a registry of its own.
func NewMetrics(backlog BacklogFunc, dead DeadLettersFunc) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "virtsync_records_total",
		Help: "Records processed, by job and result (created, updated, unchanged, deleted, skipped, failed, held).",
	}, []string{"job", "result"})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "virtsync_api_request_duration_seconds",
		Help:    "Time to the response headers of calls to virtpos and 1C, by system, endpoint and HTTP status (0 = no response).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"system", "endpoint", "status"})
	m.runs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "virtsync_run_duration_seconds",
		Help:    "Duration of job runs, by job and final status.",
		Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600},
	}, []string{"job", "status"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "virtsync_last_success_timestamp_seconds",
		Help: "Unix time of the last run of each job that ended without a run error.",
	}, []string{"job"})
	m.reg.MustRegister(m.records, m.requests, m.runs, m.lastSuccess,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.state = &stateCollector{backlog: backlog, dead: dead,
		backlogDesc: prometheus.NewDesc("virtsync_outbox_backlog", "Events in the outbox not yet acknowledged by NATS.", nil, nil),
		ageDesc:     prometheus.NewDesc("virtsync_outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox (0 when empty).", nil, nil),
		deadDesc:    prometheus.NewDesc("virtsync_dead_letters", "Open dead letters, by job.", []string{"job"}, nil),
		natsDesc: prometheus.NewDesc("virtsync_nats_up", "1 when NATS takes events, 0 while it does not "+
			"(syncing goes on; events wait in the outbox).", nil, nil),
	}
	m.reg.MustRegister(m.state)
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// WatchNATS makes /metrics report virtsync_nats_up from ready, checked at
// scrape time.
func (m *Metrics) WatchNATS(ready func(context.Context) error) { m.state.nats.Store(&ready) }

// Record counts one outcome.
func (m *Metrics) Record(job string, r virtsync.Result) {
	m.records.WithLabelValues(job, string(r)).Inc()
}

// Request observes one HTTP exchange.
func (m *Metrics) Request(system, endpoint string, status int, d time.Duration) {
	m.requests.WithLabelValues(system, endpoint, strconv.Itoa(status)).Observe(d.Seconds())
}

// Run observes a finished run.
func (m *Metrics) Run(s engine.Summary) {
	status := "ok"
	switch {
	case s.Err != nil:
		status = "failed"
	case s.Counts[virtsync.Failed] > 0:
		status = "partial"
	}
	m.runs.WithLabelValues(s.Job, status).Observe(s.Duration.Seconds())
	if s.Err == nil {
		m.lastSuccess.WithLabelValues(s.Job).Set(float64(s.Started.Add(s.Duration).Unix()))
	}
}

// stateCollector reads the state store at scrape time, so the figures are
// never stale and nothing polls when nobody scrapes.
type stateCollector struct {
	backlog                                  BacklogFunc
	dead                                     DeadLettersFunc
	nats                                     atomic.Pointer[func(context.Context) error]
	backlogDesc, ageDesc, deadDesc, natsDesc *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlogDesc
	ch <- c.ageDesc
	ch <- c.deadDesc
	ch <- c.natsDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.backlog != nil {
		if n, age, err := c.backlog(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.backlogDesc, prometheus.GaugeValue, float64(n))
			ch <- prometheus.MustNewConstMetric(c.ageDesc, prometheus.GaugeValue, age.Seconds())
		}
	}
	if ready := c.nats.Load(); ready != nil {
		up := 1.0
		if (*ready)(ctx) != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(c.natsDesc, prometheus.GaugeValue, up)
	}
	if c.dead != nil {
		if m, err := c.dead(ctx); err == nil {
			for job, n := range m {
				ch <- prometheus.MustNewConstMetric(c.deadDesc, prometheus.GaugeValue, float64(n), job)
			}
		}
	}
}

func backlogFunc(db *state.DB) BacklogFunc {
	return func(ctx context.Context) (int, time.Duration, error) {
		n, oldest, err := db.OutboxBacklog(ctx)
		if err != nil || n == 0 || oldest.IsZero() {
			return n, 0, err
		}
		return n, time.Since(oldest), nil
	}
}

func deadFunc(db *state.DB) DeadLettersFunc {
	return func(ctx context.Context) (map[string]int, error) {
		dls, err := db.DeadLetters(ctx, "", state.DeadLetterOpen)
		if err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, j := range virtsync.Jobs() {
			out[j] = 0
		}
		for _, d := range dls {
			out[d.Job]++
		}
		return out, nil
	}
}
