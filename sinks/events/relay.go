package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/state"
)

// Outbox is what the relay needs from the state store.
type Outbox interface {
	// PendingEvents returns up to limit events, oldest first.
	PendingEvents(ctx context.Context, limit int) ([]state.Event, error)
	// DeleteEvents removes the events with these ids; unknown ids are ignored.
	DeleteEvents(ctx context.Context, ids []string) error
}

// Defaults of a zero RelayOptions; RelayIntervalDefault is also the
// config's outbox.relay_interval.
const (
	RelayBatchSizeDefault = 256
	RelayIntervalDefault  = time.Second
	PublishTimeoutDefault = 10 * time.Second
	MaxBackoffDefault     = 30 * time.Second
)

// RelayOptions configures a [Relay]. The zero value works.
type RelayOptions struct {
	// BatchSize is how many events are read and published at once.
	// 0 means [RelayBatchSizeDefault].
	BatchSize int

	// Interval is how often the outbox is polled when nothing kicks the
	// relay. 0 means [RelayIntervalDefault].
	Interval time.Duration

	// PublishTimeout bounds the wait for the acks of one batch; events not
	// acked by then stay in the outbox. 0 means [PublishTimeoutDefault].
	PublishTimeout time.Duration

	// MaxBackoff caps the pause after a failure (NATS down, outbox error).
	// The pause starts at 250 ms and doubles, with jitter. 0 means
	// [MaxBackoffDefault].
	// A reconnect ends the pause early.
	MaxBackoff time.Duration

	// Logger receives failures and drops. nil discards them.
	Logger *slog.Logger

	// EnsureStream, if set, makes sure the stream exists: it is called
	// before the first publish and again after a publish finds no stream
	// for its subject (NATS was down when the daemon started, or a server
	// came back without its store). Typically a closure over
	// [Conn.EnsureStream]. Its errors are retried like publish errors.
	EnsureStream func(ctx context.Context) error

	// OnPublished, if set, is called after each batch with the number of
	// events acked and removed from the outbox (for metrics). It runs on
	// the relay's goroutine and must not block.
	OnPublished func(n int)
}

// Relay moves events from the outbox to JetStream: at least once, with the
// event id as Nats-Msg-Id so the stream stores each event once.
//
// Publishing is asynchronous within a batch: all events of a batch are sent
// back to back and the acks awaited together, so a batch costs about one
// round trip instead of one per event. An outbox row is deleted only after
// its own ack; a failed or unknown publish (timeout, ErrDisconnected) keeps
// the row, and the next attempt sends the same id, which the server dedupes.
// Order is kept in the normal case; after a failure a retried event can land
// after events written later.
type Relay struct {
	outbox Outbox
	js     jetstream.JetStream
	opts   RelayOptions
	log    *slog.Logger

	kick chan struct{}
	// streamOK is false until EnsureStream succeeded and again after a
	// publish found no stream. Guarded by busy.
	streamOK bool
	// busy serialises Run's passes and Drain: two publishers of the same
	// rows would only waste acks, but it keeps the log and counts honest.
	busy chan struct{}
}

const minBackoff = 250 * time.Millisecond

// NewRelay returns a relay from outbox to js. js should come from
// [Conn.JetStream]: its publish ack timeout is what frees an unanswered
// publish inside nats.go.
func NewRelay(outbox Outbox, js jetstream.JetStream, opts RelayOptions) (*Relay, error) {
	switch {
	case outbox == nil:
		return nil, errors.New("new relay: nil outbox")
	case js == nil:
		return nil, errors.New("new relay: nil jetstream")
	case opts.BatchSize < 0, opts.Interval < 0, opts.PublishTimeout < 0, opts.MaxBackoff < 0:
		return nil, errors.New("new relay: negative batch size or duration")
	}
	// Negatives were refused above, so only zero is left to fill.
	opts.BatchSize = cmp.Or(opts.BatchSize, RelayBatchSizeDefault)
	opts.Interval = cmp.Or(opts.Interval, RelayIntervalDefault)
	opts.PublishTimeout = cmp.Or(opts.PublishTimeout, PublishTimeoutDefault)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, MaxBackoffDefault)
	return &Relay{
		outbox: outbox,
		js:     js,
		opts:   opts,
		log:    discardIfNil(opts.Logger).With("component", "outbox-relay"),
		kick:   make(chan struct{}, 1),
		busy:   make(chan struct{}, 1),
	}, nil
}

// Kick wakes Run before its next poll, typically right after a commit that
// added events. It never blocks. While Run backs off after a failure, kicks
// are ignored so that a stream of commits does not hammer a dead server.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done, then returns nil. It never gives up: every
// failure is logged and retried after a backoff, so NATS being down only
// makes the outbox grow.
func (r *Relay) Run(ctx context.Context) error {
	// A reconnect should end a backoff at once rather than up to
	// MaxBackoff later.
	reconnected := r.js.Conn().StatusChanged(nats.CONNECTED)
	defer r.js.Conn().RemoveStatusListener(reconnected)

	var backoff time.Duration
	for {
		_, err := r.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.opts.Interval
		kickable := true
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), r.opts.MaxBackoff)
			// Jitter from half to the full backoff.
			wait = backoff/2 + rand.N(backoff/2+1)
			kickable = false
			r.log.Warn("relay events: will retry", "err", err, "retry_in", wait.Round(time.Millisecond))
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-reconnected:
			t.Stop()
		case <-r.kickCh(kickable):
			t.Stop()
		}
	}
}

// kickCh returns the kick channel, or nil (never ready) while backing off.
func (r *Relay) kickCh(enabled bool) <-chan struct{} {
	if enabled {
		return r.kick
	}
	return nil
}

// Drain publishes until the outbox is empty or ctx ends. It is meant for
// shutdown, with a bounded ctx; events left over stay in the outbox for the
// next start. It can run while Run is running.
func (r *Relay) Drain(ctx context.Context) error {
	var lastErr error
	backoff := minBackoff
	for {
		empty, err := r.pass(ctx)
		if err == nil && empty {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("drain outbox: %w", errors.Join(ctx.Err(), lastErr))
		}
		if err != nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("drain outbox: %w", errors.Join(ctx.Err(), lastErr))
			case <-t.C:
			}
			backoff = min(2*backoff, r.opts.MaxBackoff)
		}
	}
}

// pass publishes batches until the outbox is empty (empty = true) or a batch
// fails. Each batch's acked rows are deleted before the next read.
func (r *Relay) pass(ctx context.Context) (empty bool, err error) {
	select {
	case r.busy <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-r.busy }()

	for {
		evs, err := r.outbox.PendingEvents(ctx, r.opts.BatchSize)
		if err != nil {
			return false, fmt.Errorf("read outbox: %w", err)
		}
		if len(evs) == 0 {
			return true, nil
		}
		// Publishing while disconnected fails anyway; checking first
		// avoids an error per event in the log.
		if !r.js.Conn().IsConnected() {
			return false, fmt.Errorf("publish %d pending events: nats %s", len(evs), r.js.Conn().Status())
		}
		if !r.streamOK && r.opts.EnsureStream != nil {
			if err := r.opts.EnsureStream(ctx); err != nil {
				return false, fmt.Errorf("ensure stream: %w", err)
			}
		}
		r.streamOK = true
		done, pubErr := r.publish(ctx, evs)
		if errors.Is(pubErr, jetstream.ErrNoStreamResponse) {
			r.streamOK = false
		}
		if len(done) > 0 {
			// Acked events are in the stream: remove them even when ctx
			// was cancelled meanwhile, or the next start re-sends them.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := r.outbox.DeleteEvents(dctx, done)
			cancel()
			if err != nil {
				return false, errors.Join(pubErr, fmt.Errorf("delete %d published events: %w", len(done), err))
			}
			if r.opts.OnPublished != nil {
				r.opts.OnPublished(len(done))
			}
		}
		if pubErr != nil {
			return false, pubErr
		}
		if len(evs) < r.opts.BatchSize {
			return true, nil
		}
	}
}

// publish sends evs and waits for their acks. It returns the ids that may
// leave the outbox: acked ones, and ones that can never be published (too
// large), which are logged and dropped so that they cannot wedge the relay.
func (r *Relay) publish(ctx context.Context, evs []state.Event) (done []string, err error) {
	type sent struct {
		ev  state.Event
		ack jetstream.PubAckFuture
	}
	futures := make([]sent, 0, len(evs))
	var errs []error
	for _, ev := range evs {
		msg := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: nats.Header{}}
		msg.Header.Set("Content-Type", "application/cloudevents+json")
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID))
		if tooLarge(err) {
			r.log.Error("dropping event larger than the server's max payload",
				"id", ev.ID, "subject", ev.Subject, "bytes", len(ev.Data))
			done = append(done, ev.ID)
			continue
		}
		if err != nil {
			// The connection went away: what was sent may still be
			// acked, the rest waits for the next pass.
			errs = append(errs, fmt.Errorf("publish %s: %w", ev.ID, err))
			break
		}
		futures = append(futures, sent{ev, f})
	}

	timeout := time.NewTimer(r.opts.PublishTimeout)
	defer timeout.Stop()
	var acked, dups int
wait:
	for i, s := range futures {
		select {
		case ack := <-s.ack.Ok():
			done = append(done, s.ev.ID)
			acked++
			if ack.Duplicate {
				dups++
			}
		case err := <-s.ack.Err():
			if tooLarge(err) {
				r.log.Error("dropping event the stream rejects as too large",
					"id", s.ev.ID, "subject", s.ev.Subject, "bytes", len(s.ev.Data), "err", err)
				done = append(done, s.ev.ID)
				continue
			}
			errs = append(errs, fmt.Errorf("publish %s to %s: %w", s.ev.ID, s.ev.Subject, err))
		case <-timeout.C:
			errs = append(errs, fmt.Errorf("publish: %d acks missing after %s", len(futures)-i, r.opts.PublishTimeout))
			break wait
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("publish: %w", ctx.Err()))
			break wait
		}
	}
	if acked > 0 {
		r.log.Debug("published events", "n", acked, "duplicates", dups)
	}
	if len(errs) > 0 {
		// One outage fails every event the same way: report the first and
		// a count rather than hundreds of identical lines.
		return done, fmt.Errorf("%d of %d events not published: %w", len(evs)-len(done), len(evs), errs[0])
	}
	return done, nil
}

// tooLarge reports the one publish failure that retrying cannot fix: the
// event exceeds the server's max payload or the stream's max message size.
func tooLarge(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}
