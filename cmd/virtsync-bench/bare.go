package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/mapping"
)

// bareClient is the least work the two protocols allow, written plainly:
// page each 1C set once ($top/$skip, fixed $orderby) and make one virtpos
// write per record with a fixed number of workers. It keeps no state
// between records and retries nothing, so its time is the floor virtsync
// is measured against.
type bareClient struct {
	http        *http.Client
	onecURL     string
	virtposURL  string
	concurrency int
	pageSize    int
	sets        synced
}

// synced names what virtsync's profile reads from 1C: the bare client and
// the check read the very same sets.
type synced struct {
	partners, filter, cards string
}

func syncedSets() (synced, error) {
	p, err := mapping.LoadProfile(profile)
	if err != nil {
		return synced{}, fmt.Errorf("profile %s: %w", profile, err)
	}
	return synced{partners: p.Customers.Entity, filter: p.Customers.Filter, cards: p.Cards.Entity}, nil
}

func newBareClient(onecURL, virtposURL string, concurrency int, sets synced) *bareClient {
	return &bareClient{
		http: &http.Client{
			Timeout:   time.Minute,
			Transport: &http.Transport{MaxIdleConnsPerHost: concurrency + 2, MaxIdleConns: concurrency + 4},
		},
		onecURL: onecURL, virtposURL: virtposURL, concurrency: concurrency, pageSize: 1000, sets: sets,
	}
}

// page reads one entity set in full, $top at a time, calling each with
// every element of every page. A page shorter than $top is the last.
func (c *bareClient) page(ctx context.Context, set, filter, sel string, each func(*json.Decoder) error) error {
	for skip := 0; ; skip += c.pageSize {
		q := url.Values{"$format": {"json"}, "$orderby": {"Ref_Key"},
			"$top": {strconv.Itoa(c.pageSize)}, "$skip": {strconv.Itoa(skip)}}
		if filter != "" {
			q.Set("$filter", filter)
		}
		if sel != "" {
			q.Set("$select", sel)
		}
		n, err := c.onePage(ctx, c.onecURL+"/"+url.PathEscape(set)+"?"+q.Encode(), each)
		if err != nil {
			return fmt.Errorf("1C %s at $skip=%d: %w", set, skip, err)
		}
		if n < c.pageSize {
			return nil
		}
	}
}

func (c *bareClient) onePage(ctx context.Context, u string, each func(*json.Decoder) error) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(onecUser, onecPassword)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	dec := json.NewDecoder(resp.Body)
	if err := seekArray(dec, "value"); err != nil {
		return 0, err
	}
	n := 0
	for dec.More() {
		if err := each(dec); err != nil {
			return n, fmt.Errorf("row %d: %w", n, err)
		}
		n++
	}
	return n, nil
}

// seekArray reads the top-level object up to the opening bracket of its
// array member name, so the rows are decoded one at a time.
func seekArray(dec *json.Decoder, name string) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want a JSON object, got %v (%v)", t, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if t == name {
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return fmt.Errorf("%s: want an array, got %v (%v)", name, t, err)
			}
			return nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return fmt.Errorf("no %q array in the answer", name)
}

// push makes one virtpos call per set of parameters produce sends, with
// c.concurrency workers, and stops at the first failure.
func (c *bareClient) push(ctx context.Context, path string, produce func(send func(url.Values) error) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan url.Values, 2*c.concurrency)
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() {
			for p := range jobs {
				if err := c.write(ctx, path, p); err != nil {
					cancel(err)
				}
			}
		})
	}
	err := produce(func(p url.Values) error {
		select {
		case jobs <- p:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(jobs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// write is one virtpos call; an answer other than success=1 is an error
// naming the record (its 1C key, never its personal fields).
func (c *bareClient) write(ctx context.Context, path string, p url.Values) error {
	key := p.Get("external_id")
	p.Set("apikey", virtposKey)
	p.Set("format", "json")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.virtposURL+path+"?"+p.Encode(), nil)
	if err != nil {
		return fmt.Errorf("virtpos %s for %s: %w", path, key, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL carries the apikey: say what failed without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("virtpos %s for %s: %w", path, key, err)
	}
	defer resp.Body.Close()
	var r struct {
		Success int    `json:"success"`
		Info    string `json:"info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("virtpos %s for %s: HTTP %d, undecodable answer: %w", path, key, resp.StatusCode, err)
	}
	if r.Success != 1 {
		return fmt.Errorf("virtpos %s for %s: rejected: %s", path, key, r.Info)
	}
	return nil
}

// partnerRow is what the bare client takes from a full partner record.
type partnerRow struct {
	Ref         string `json:"Ref_Key"`
	Description string `json:"Description"`
	Contacts    []struct {
		Type  string `json:"Тип"`
		Phone string `json:"НомерТелефона"`
		Email string `json:"АдресЭП"`
	} `json:"КонтактнаяИнформация"`
}

// customerParams is a customer/update that creates: the 1C key as
// external_id, the name split into its three parts, phone and e-mail.
func (p partnerRow) customerParams() url.Values {
	v := url.Values{"create_if_not_exist": {"1"}, "external_id": {p.Ref}}
	for i, part := range strings.Fields(p.Description) {
		if i < 3 {
			v.Set([]string{"lname", "fname", "mname"}[i], part)
		}
	}
	for _, c := range p.Contacts {
		switch {
		case c.Type == "Телефон" && c.Phone != "":
			v.Set("phone", digits(c.Phone))
		case c.Type == "АдресЭлектроннойПочты" && c.Email != "":
			v.Set("email", strings.ToLower(strings.TrimSpace(c.Email)))
		}
	}
	return v
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// cardRow is what the bare client takes from a full card record.
type cardRow struct {
	Ref      string `json:"Ref_Key"`
	Barcode  string `json:"Штрихкод"`
	Magnetic string `json:"МагнитныйКод"`
	Status   string `json:"Статус"`
	Partner  string `json:"Партнер_Key"`
	Kind     string `json:"Owner_Key"`
}

type kindRow struct {
	Ref         string `json:"Ref_Key"`
	Description string `json:"Description"`
}

// cardParams is an updateCard that creates, with the fields a POS needs:
// uid, status, kind and owner (by the owner's 1C key).
func (c cardRow) cardParams(kinds map[string]string) url.Values {
	uid := c.Barcode
	if uid == "" {
		uid = c.Magnetic
	}
	status := "ACTIVE"
	if c.Status == "НеДействует" {
		status = "BLOCKED"
	}
	v := url.Values{"create_if_not_exist": {"1"}, "external_id": {c.Ref}, "uid": {uid}, "status": {status},
		"customer_external_id": {c.Partner}}
	if k := kinds[c.Kind]; k != "" {
		v.Set("type_name", k)
	}
	return v
}

// fullLoad is the bare first load: customers, then cards (a card names its
// owner, who must exist by then), as virtsync orders its jobs.
func (c *bareClient) fullLoad(ctx context.Context) error {
	err := c.push(ctx, "/customer/update", func(send func(url.Values) error) error {
		return c.page(ctx, c.sets.partners, c.sets.filter, "", func(dec *json.Decoder) error {
			var p partnerRow
			if err := dec.Decode(&p); err != nil {
				return err
			}
			return send(p.customerParams())
		})
	})
	if err != nil {
		return fmt.Errorf("customers: %w", err)
	}
	// A handful of kinds: the only thing the bare client holds.
	kinds := map[string]string{}
	err = c.page(ctx, onectest.SetCardKinds, "", "", func(dec *json.Decoder) error {
		var k kindRow
		if err := dec.Decode(&k); err != nil {
			return err
		}
		kinds[k.Ref] = k.Description
		return nil
	})
	if err != nil {
		return fmt.Errorf("card kinds: %w", err)
	}
	err = c.push(ctx, "/card/update", func(send func(url.Values) error) error {
		return c.page(ctx, c.sets.cards, "", "", func(dec *json.Decoder) error {
			var r cardRow
			if err := dec.Decode(&r); err != nil {
				return err
			}
			return send(r.cardParams(kinds))
		})
	})
	if err != nil {
		return fmt.Errorf("cards: %w", err)
	}
	return nil
}

// keyRow is a sweep's row.
type keyRow struct {
	Ref         string `json:"Ref_Key"`
	DataVersion string `json:"DataVersion"`
}

// keyPaging is the least an unchanged rerun must read: every key and
// version of the synced partners and of the cards, once.
func (c *bareClient) keyPaging(ctx context.Context) error {
	for _, s := range []struct{ set, filter string }{{c.sets.partners, c.sets.filter}, {c.sets.cards, ""}} {
		err := c.page(ctx, s.set, s.filter, "Ref_Key,DataVersion", func(dec *json.Decoder) error {
			var k keyRow
			return dec.Decode(&k)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
