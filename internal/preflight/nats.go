package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/sinks/events"
)

// The test event's subject is <prefix>.check.ping: under the prefix, so the
// stream stores it as it stores virtsync's events, but of a kind no
// virtsync event has (customer, card, order, run), so consumers that
// subscribe to those kinds never see it. It is deleted from the stream once
// acknowledged.
const (
	pingKind = "check"
	pingWhat = "ping"
)

func checkNATS(ctx context.Context, in Inputs, ls *lines) {
	cfg := in.Config
	if cfg.NATS.URL == "" {
		checkStoreDir(cfg, ls)
		return
	}
	const reach = "NATS reachable"
	where := "nats.url " + displayNATS(cfg.NATS.URL)
	timeout := cfg.NATS.ConnectTimeout.D()
	if timeout <= 0 {
		timeout = events.ConnectTimeoutDefault
	}
	// No reconnects and no retry on a failed connect, unlike the daemon:
	// the check wants a yes or no now.
	nc, err := nats.Connect(cfg.NATS.URL, nats.Name("virtsync-check"), nats.Timeout(timeout),
		nats.MaxReconnects(0), nats.NoCallbacksAfterClientClose())
	if err != nil {
		fix := "start the NATS server, or correct nats.url; an empty nats.url runs NATS inside virtsync"
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "authorization") {
			fix = "correct the user and password (or token) in nats.url for this NATS server"
		}
		ls.fail(reach, where+": "+err.Error(), fix)
		ls.skip("NATS stream "+cfg.NATS.Stream, "NATS is not reachable")
		return
	}
	defer nc.Close()
	ls.ok(reach, where+": connected")
	checkStream(ctx, in, nc, ls)
}

// checkStream checks that the stream takes virtsync's events: JetStream is
// on, the stream (or the account's room for it) is there, no other stream
// holds the subjects, and a test event is stored.
func checkStream(ctx context.Context, in Inputs, nc *nats.Conn, ls *lines) {
	c := in.Config.NATS
	name := "NATS stream " + c.Stream
	subjects := c.SubjectPrefix + ".>"
	js, err := jetstream.New(nc)
	if err != nil {
		ls.fail(name, err.Error(), "see the message")
		return
	}
	acct, err := js.AccountInfo(ctx)
	if err != nil {
		fix := "see the message"
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			fix = "enable JetStream on the NATS server (nats-server -js, or a jetstream {} block in its config) " +
				"and for the account of the user in nats.url"
		}
		ls.fail(name, "JetStream: "+err.Error(), fix)
		return
	}
	ping := c.SubjectPrefix + "." + pingKind + "." + pingWhat
	other := func() (string, bool) {
		n, err := js.StreamNameBySubject(ctx, ping)
		return n, err == nil && n != c.Stream
	}
	s, err := js.Stream(ctx, c.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if o, ok := other(); ok {
			ls.fail(name, fmt.Sprintf("does not exist, and stream %s already holds %s: virtsync could not create %s beside it",
				o, subjects, c.Stream), fmt.Sprintf("set nats.stream: %s, or a nats.subject_prefix no stream holds", o))
			return
		}
		if m := acct.Limits.MaxStreams; m > 0 && acct.Streams >= m {
			ls.fail(name, fmt.Sprintf("does not exist, and the account has its maximum of %d streams", m),
				"raise the account's max_streams, or set nats.stream to an existing stream for "+subjects)
			return
		}
		ls.ok(name, fmt.Sprintf("does not exist yet: the first run creates it (file storage, subjects %s, "+
			"duplicate window %s); JetStream is on for this account", subjects, c.DedupeWindow))
		return
	case err != nil:
		ls.fail(name, err.Error(), "see the message; the user in nats.url needs the JetStream API ($JS.API.>)")
		return
	}
	if got := s.CachedInfo().Config.Subjects; !slices.Equal(got, []string{subjects}) {
		if o, ok := other(); ok {
			ls.fail(name, fmt.Sprintf("exists with subjects %s, and stream %s holds %s: the first run could not move "+
				"them to %s", strings.Join(got, " "), o, subjects, c.Stream),
				fmt.Sprintf("set nats.stream: %s, or a nats.subject_prefix no stream holds", o))
			return
		}
		if !covers(got, ping) {
			ls.ok(name, fmt.Sprintf("exists with subjects %s: the first run sets them to %s (no test event sent)",
				strings.Join(got, " "), subjects))
			return
		}
	}
	env, err := events.New(events.DefaultSource(), "", c.SubjectPrefix, pingKind, pingWhat, nil, in.Now())
	if err != nil {
		ls.fail(name, err.Error(), "check nats.subject_prefix")
		return
	}
	body, _ := json.Marshal(env)
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: env.Subject, Data: body}, jetstream.WithMsgID(env.ID))
	if err != nil {
		ls.fail(name, "publishing a test event to "+env.Subject+": "+err.Error(),
			"the user in nats.url needs publish permission on "+subjects+", and the stream room for messages "+
				"(max_bytes/max_msgs with discard new, or an account storage limit, refuse them; a sealed stream too)")
		return
	}
	if ack.Stream != c.Stream {
		ls.fail(name, fmt.Sprintf("a test event to %s was stored by stream %s, not %s", env.Subject, ack.Stream, c.Stream),
			fmt.Sprintf("set nats.stream: %s, or a nats.subject_prefix no other stream holds", ack.Stream))
		return
	}
	d := fmt.Sprintf("takes events: a test event (CloudEvents type %s) to %s was stored as message %d", env.Type, env.Subject, ack.Sequence)
	if err := s.DeleteMsg(ctx, ack.Sequence); err != nil {
		d += " and stays there (deleting it: " + err.Error() + ")"
	} else {
		d += " and deleted"
	}
	ls.ok(name, d)
}

// covers reports whether one of the stream's subjects matches subject.
func covers(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, t := range ft {
		switch {
		case t == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case t != "*" && t != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

// displayNATS is nats.url without credentials (user:password or a token),
// for every server of a comma-separated list.
func displayNATS(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if j := strings.Index(p, "://"); j >= 0 && j < at {
				scheme = p[:j+3]
			}
			p = scheme + "***@" + p[at+1:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
