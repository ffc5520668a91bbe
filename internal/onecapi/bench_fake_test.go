package onecapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

const fakeSweepRecords = 100_000

// The pair below measures a no-change change-detection run over 100,000
// partners served by the fake 1C, beside a baseline that reads the same
// pages with a bare http.Get and a json.Decoder.Token loop. Both pay the
// fake's cost, so the ratio shows what the client adds.
func fakeFor(b *testing.B) (*onectest.Server, string) {
	b.Helper()
	seed := onectest.DemoSeed(fakeSweepRecords, 0, 1, 1)
	return onectest.StartTest(b, onectest.Options{User: "u", Password: "p"}, onectest.Seed{onectest.SetPartners: seed[onectest.SetPartners]})
}

func BenchmarkFakeNoChangeSweep(b *testing.B) {
	_, base := fakeFor(b)
	c, err := onecapi.New(onecapi.Config{BaseURL: base, User: "u", Password: "p"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	seen, err := c.Sweep(ctx, onectest.SetPartners, "")
	if err != nil || len(seen) != fakeSweepRecords {
		b.Fatalf("sweep: %d records, %v", len(seen), err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cs, err := c.Changes(ctx, onecapi.ChangeQuery{Entity: onectest.SetPartners}, seen)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs.Records) != 0 || len(cs.Deleted) != 0 {
			b.Fatalf("no-change run found %d changed, %d deleted", len(cs.Records), len(cs.Deleted))
		}
	}
}

func BenchmarkFakeNoChangeSweepBaseline(b *testing.B) {
	_, base := fakeFor(b)
	const page = 1000
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for skip := 0; ; skip += page {
			u := base + url.PathEscape(onectest.SetPartners) + "?$format=json&allowedOnly=true&$select=Ref_Key,DataVersion,DeletionMark&$orderby=Ref_Key&$top=" +
				strconv.Itoa(page) + "&$skip=" + strconv.Itoa(skip)
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.SetBasicAuth("u", "p")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			d := json.NewDecoder(resp.Body)
			rows := 0
			for {
				t, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if s, ok := t.(string); ok && s == "Ref_Key" {
					rows++
				}
			}
			resp.Body.Close()
			n += rows
			if rows < page {
				break
			}
		}
		if n != fakeSweepRecords {
			b.Fatalf("read %d rows", n)
		}
	}
}
