package engine

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// KnownMap is a Known held in memory: committed versions and the keys
// marked so far. It is for tests and for sources small enough to hold;
// the engine gives sources one backed by the state store.
type KnownMap struct {
	mu       sync.Mutex
	versions map[string]string
	marked   map[string]bool
	forced   bool
}

// NewKnownMap returns a KnownMap over versions (nil for none); forced
// makes it a resync's view.
func NewKnownMap(versions map[string]string, forced bool) *KnownMap {
	return &KnownMap{versions: maps.Clone(versions), marked: map[string]bool{}, forced: forced}
}

// Count implements Known.
func (k *KnownMap) Count(context.Context) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.versions), nil
}

// Forced implements Known.
func (k *KnownMap) Forced() bool { return k.forced }

// Versions implements Known.
func (k *KnownMap) Versions(_ context.Context, keys []string) (map[string]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]string, len(keys))
	for _, key := range keys {
		if v, ok := k.versions[key]; ok {
			if k.forced {
				v = ""
			}
			out[key] = v
		}
	}
	return out, nil
}

// Changed implements Known.
func (k *KnownMap) Changed(_ context.Context, keys, versions []string) ([]string, []bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var changed []string
	var stored []bool
	for i, key := range keys {
		v, ok := k.versions[key]
		if ok && !k.forced && v != "" && v == versions[i] {
			continue
		}
		changed, stored = append(changed, key), append(stored, ok)
	}
	return changed, stored, nil
}

// Mark implements Known.
func (k *KnownMap) Mark(_ context.Context, keys []string) ([]bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fresh := make([]bool, len(keys))
	for i, key := range keys {
		fresh[i] = !k.marked[key]
		k.marked[key] = true
	}
	return fresh, nil
}

// Unmarked implements Known.
func (k *KnownMap) Unmarked(ctx context.Context, n int, fn func(keys []string) error) error {
	k.mu.Lock()
	var keys []string
	for key := range k.versions {
		if !k.marked[key] {
			keys = append(keys, key)
		}
	}
	k.mu.Unlock()
	slices.Sort(keys)
	for chunk := range slices.Chunk(keys, max(n, 1)) {
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return ctx.Err()
}
