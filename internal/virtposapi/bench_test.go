package virtposapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"sync"
	"testing"
)

const benchOrders = 100_000

var benchBodies sync.Map // format -> []byte; generated once per process

func benchBody(b *testing.B, format string) []byte {
	if v, ok := benchBodies.Load(format); ok {
		return v.([]byte)
	}
	var buf bytes.Buffer
	if err := writeOrders(&buf, format, benchOrders); err != nil {
		b.Fatal(err)
	}
	benchBodies.Store(format, buf.Bytes())
	return buf.Bytes()
}

// The baselines walk the same bytes with the bare standard-library token
// loop and do nothing else: our decoder's cost is reported beside them.
func BenchmarkOrdersXMLBaselineToken(b *testing.B) {
	body := benchBody(b, "xml")
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(body))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkOrdersXMLDecode(b *testing.B) {
	body := benchBody(b, "xml")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := DecodeOrdersXML(bytes.NewReader(body), func(*Order) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != benchOrders {
			b.Fatalf("decoded %d orders", n)
		}
	}
}

func BenchmarkOrdersJSONBaselineToken(b *testing.B) {
	body := benchBody(b, "json")
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		d := json.NewDecoder(bytes.NewReader(body))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkOrdersJSONDecode(b *testing.B) {
	body := benchBody(b, "json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := DecodeOrdersJSON(bytes.NewReader(body), func(*Order) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != benchOrders {
			b.Fatalf("decoded %d orders", n)
		}
	}
}
