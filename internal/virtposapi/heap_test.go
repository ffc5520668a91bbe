//go:build !race

package virtposapi

import (
	"runtime"
	"testing"
)

// TestHeapBound decodes a 1,000,000-order response streamed from a
// generator and samples the live heap as it goes: memory must not grow with
// the size of the window. (Not under -race: the detector's shadow memory
// and slowdown would measure the tool, not the decoder. `make test` runs it
// in a plain pass.)
func TestHeapBoundOneMillionOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a million orders")
	}
	const n = 1_000_000
	const limit = 32 << 20
	for _, format := range []string{"xml", "json"} {
		t.Run(format, func(t *testing.T) {
			r := ordersReader(format, n)
			defer r.Close()
			var ms runtime.MemStats
			var peak uint64
			count := 0
			decode := DecodeOrdersJSON
			if format == "xml" {
				decode = DecodeOrdersXML
			}
			err := decode(r, func(o *Order) error {
				count++
				// No forced GC: the figure is the heap the process really
				// holds, garbage included, as an operator would see it.
				if count%50_000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if count != n {
				t.Fatalf("decoded %d orders, want %d", count, n)
			}
			t.Logf("%s: %d orders, peak heap in use %.1f MiB", format, n, float64(peak)/(1<<20))
			if peak > limit {
				t.Errorf("live heap reached %d MiB, limit %d MiB", peak>>20, limit>>20)
			}
		})
	}
}
