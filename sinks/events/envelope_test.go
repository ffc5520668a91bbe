package events_test

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/sinks/events"
)

func TestNew(t *testing.T) {
	msk := time.FixedZone("MSK", 3*60*60)
	now := time.Date(2026, 6, 7, 10, 14, 42, 123_000_000, msk)

	var pairs []struct{ kind, what string }
	for _, p := range virtsync.Payloads() {
		pairs = append(pairs, struct{ kind, what string }{p.Kind(), p.What()})
	}
	for _, p := range pairs {
		t.Run(p.kind+"."+p.what, func(t *testing.T) {
			data := map[string]any{"external_id": "9f1c", "amount": "976.59"}
			env, err := events.New("virtsync/pos-1", "", "virtsync", p.kind, p.what, data, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := "virtsync." + p.kind + "." + p.what; env.Subject != want {
				t.Errorf("subject %q, want %q", env.Subject, want)
			}
			ev, err := env.Event()
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != env.ID || ev.Subject != env.Subject || !ev.CreatedAt.Equal(now) {
				t.Errorf("event row %+v does not match envelope %+v", ev, env)
			}

			// The wire form, field by field, as a CloudEvents consumer
			// that knows nothing of Go would read it.
			var wire map[string]json.RawMessage
			if err := json.Unmarshal(ev.Data, &wire); err != nil {
				t.Fatal(err)
			}
			wantKeys := []string{"data", "datacontenttype", "id", "source", "specversion", "time", "type"}
			if keys := slices.Sorted(maps.Keys(wire)); !slices.Equal(keys, wantKeys) {
				t.Errorf("keys %v, want %v", keys, wantKeys)
			}
			str := func(k string) string {
				var s string
				if err := json.Unmarshal(wire[k], &s); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				return s
			}
			if got := str("specversion"); got != "1.0" {
				t.Errorf("specversion %q", got)
			}
			if got := str("type"); got != "virtsync."+p.kind+"."+p.what {
				t.Errorf("type %q", got)
			}
			if got := str("source"); got != "virtsync/pos-1" {
				t.Errorf("source %q", got)
			}
			if got := str("datacontenttype"); got != "application/json" {
				t.Errorf("datacontenttype %q", got)
			}
			if got := str("id"); got != env.ID {
				t.Errorf("id %q, want %q", got, env.ID)
			}
			if got := str("time"); got != "2026-06-07T10:14:42.123+03:00" {
				t.Errorf("time %q, want RFC 3339 with the +03:00 zone kept", got)
			}
			var gotData map[string]any
			if err := json.Unmarshal(wire["data"], &gotData); err != nil {
				t.Fatal(err)
			}
			if gotData["external_id"] != "9f1c" || gotData["amount"] != "976.59" {
				t.Errorf("data %v", gotData)
			}

			back, err := events.Decode(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != env.ID || back.Type != env.Type || !back.Time.Equal(now) || string(back.Data) != string(env.Data) {
				t.Errorf("decoded %+v, want %+v", back, env)
			}
		})
	}
}

func TestNewOptionalParts(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t.Run("explicit type and multi-token prefix", func(t *testing.T) {
		env, err := events.New("virtsync/h", "com.acme.order.new", "acme.virtsync", "order", "new", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if env.Type != "com.acme.order.new" || env.Subject != "acme.virtsync.order.new" {
			t.Errorf("type %q subject %q", env.Type, env.Subject)
		}
	})
	t.Run("nil data is omitted", func(t *testing.T) {
		env, err := events.New("virtsync/h", "", "virtsync", "run", "started", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := env.Event()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(ev.Data), `"data"`) {
			t.Errorf("body %s has a data member", ev.Data)
		}
	})
	t.Run("data is copied at creation", func(t *testing.T) {
		data := map[string]string{"status": "ACTIVE"}
		env, err := events.New("virtsync/h", "", "virtsync", "card", "upserted", data, now)
		if err != nil {
			t.Fatal(err)
		}
		data["status"] = "BLOCKED"
		if !strings.Contains(string(env.Data), "ACTIVE") {
			t.Errorf("data %s changed after New", env.Data)
		}
	})
}

func TestNewRejects(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name                       string
		source, prefix, kind, what string
		data                       any
		at                         time.Time
		wantErr                    string
	}{
		{"empty source", "", "virtsync", "order", "new", nil, now, "empty source"},
		{"zero time", "s", "virtsync", "order", "new", nil, time.Time{}, "zero time"},
		{"empty prefix", "s", "", "order", "new", nil, now, "subject prefix"},
		{"prefix with empty token", "s", "a..b", "order", "new", nil, now, "empty token"},
		{"wildcard prefix", "s", "virtsync.>", "order", "new", nil, now, "subject prefix"},
		{"dotted kind", "s", "virtsync", "order.x", "new", nil, now, "kind"},
		{"empty what", "s", "virtsync", "order", "", nil, now, "what"},
		{"space in what", "s", "virtsync", "order", "ne w", nil, now, "what"},
		{"unmarshalable data", "s", "virtsync", "order", "new", func() {}, now, "marshal data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.New(tt.source, "", tt.prefix, tt.kind, tt.what, tt.data, tt.at)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEventIDs(t *testing.T) {
	uuidV7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool)
	var prev string
	for i := range 5000 {
		// Every 10th event is a millisecond later: ids sort by time
		// across milliseconds, and stay unique within one.
		at := base.Add(time.Duration(i/10) * time.Millisecond)
		env, err := events.New("s", "", "virtsync", "order", "new", nil, at)
		if err != nil {
			t.Fatal(err)
		}
		if !uuidV7.MatchString(env.ID) {
			t.Fatalf("id %q is not a UUIDv7", env.ID)
		}
		if seen[env.ID] {
			t.Fatalf("duplicate id %q after %d events", env.ID, i)
		}
		seen[env.ID] = true
		if i%10 == 0 && prev != "" && env.ID <= prev {
			t.Fatalf("id %q at %v does not sort after %q", env.ID, at, prev)
		}
		prev = env.ID
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":      `{`,
		"wrong version": `{"specversion":"0.3","id":"1","source":"s","type":"t"}`,
		"no id":         `{"specversion":"1.0","source":"s","type":"t"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := events.Decode([]byte(body)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestDefaultSource(t *testing.T) {
	if s := events.DefaultSource(); !strings.HasPrefix(s, "virtsync") {
		t.Fatalf("source %q", s)
	}
}

func TestBuilder(t *testing.T) {
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	t.Run("configured", func(t *testing.T) {
		b := events.Builder{Source: "virtsync/shop-2", SubjectPrefix: "acme", Now: func() time.Time { return at }}
		ev, err := b.Event(virtsync.KindCard, virtsync.CardDeleted{}.What(), map[string]string{"uid": "2000000000015"})
		if err != nil {
			t.Fatal(err)
		}
		env, err := events.Decode(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Subject != "acme.card.deleted" || env.Source != "virtsync/shop-2" ||
			env.Type != "virtsync.card.deleted" || !env.Time.Equal(at) || env.ID != ev.ID {
			t.Errorf("row %q %q, envelope %+v", ev.ID, ev.Subject, env)
		}
	})
	t.Run("zero value", func(t *testing.T) {
		ev, err := events.Builder{}.Event(virtsync.KindRun, virtsync.RunStarted{}.What(), nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := events.Decode(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Subject != "virtsync.run.started" || env.Source != events.DefaultSource() || time.Since(env.Time) > time.Minute {
			t.Errorf("row %q, envelope %+v", ev.Subject, env)
		}
	})
	t.Run("bad kind", func(t *testing.T) {
		if _, err := (events.Builder{}).Event("order.x", "new", nil); err == nil {
			t.Fatal("accepted")
		}
	})
}
