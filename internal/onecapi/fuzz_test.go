package onecapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The three decoders of what 1C sends: error bodies, collection pages and
// $metadata. Whatever arrives, they return (no panic, no hang) with either
// a value or a typed error.

func addTestdata(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseError(f *testing.F) {
	addTestdata(f, "error_app_page.html", "error_exception_bom.json", "error_odata_bad_value.json",
		"error_odata_not_found.json", "error_odata_posting.json")
	f.Add([]byte(`{"odata.error":{"code":"9","message":{"lang":"ru","value":"Объект не найден"}}}`))
	f.Add([]byte("\xef\xbb\xbf{\"#exception\":{\"descr\":\"x\"}}"))
	f.Add([]byte(`<html><title>1C:Enterprise 8 application error</title><script>x</script></html>`))
	f.Add([]byte{0xff, 0xfe, '{'})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ct := range []string{"application/json", "text/html", ""} {
			e := parseError(500, ct, body)
			if e == nil {
				t.Fatal("parseError returned nil")
			}
			msg := e.Error()
			if len(msg) > 4096+len(body) {
				t.Fatalf("error text of %d bytes for a body of %d", len(msg), len(body))
			}
		}
	})
}

func FuzzDecodeValues(f *testing.F) {
	addTestdata(f, "partners_page.json")
	f.Add([]byte(`{"odata.metadata":"x","odata.count":"3","value":[{"Ref_Key":"a"},{"Ref_Key":"b"}]}`))
	f.Add([]byte(`{"value":{}}`))
	f.Add([]byte(`{"value":[1,[2],{"3":4}], "value":[]}`))
	f.Add([]byte("\xef\xbb\xbf{\"value\":[]}"))
	f.Add([]byte(`{"value":[` + strings.Repeat(" ", 100) + `]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := 0
		_, err := decodeValues(bytes.NewReader(body), func(dec *json.Decoder) error {
			var v map[string]any
			n++
			return dec.Decode(&v)
		})
		if err == nil && !json.Valid(bytes.TrimPrefix(body, utf8BOM)) && utf8.Valid(body) {
			// A page the decoder accepted must have been JSON.
			t.Fatalf("accepted %q as a page of %d values", body, n)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	addTestdata(f, "metadata_small.xml")
	if b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "onec", "trade_demo_8.5", "msg001_metadata.xml")); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Add([]byte(`<edmx:Edmx><edmx:DataServices><Schema><EntityType Name="Catalog_X"><Property Name="A" Type="Edm.String"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>`))
	f.Add([]byte(`<EntityType Name="x"><EntityType Name="y">`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMetadata(bytes.NewReader(body))
		if err == nil && m == nil {
			t.Fatal("no metadata and no error")
		}
	})
}
