package mapping

import (
	"regexp"
	"strings"
	"testing"
)

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	russian = regexp.MustCompile(`^\+7[34789][0-9]{9}$`)
)

// FuzzNormalizePhone checks that whatever 1C users typed, an accepted phone
// is E.164-shaped and a Russian one has exactly 10 national digits.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"8 (912) 345-67-89", "+7 912 345 6789", "9123456789", "+375 29 123-45-67", "22-33-4", "нет", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := NormalizePhone(s)
		if !ok {
			return
		}
		if !e164.MatchString(p) {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", s, p)
		}
		// Without an explicit '+' only the Russian rules apply, and a +7
		// number always has 10 national digits.
		if (!strings.HasPrefix(strings.TrimSpace(s), "+") || strings.HasPrefix(p, "+7")) && !russian.MatchString(p) {
			t.Fatalf("NormalizePhone(%q) = %q, want +7 and 10 digits", s, p)
		}
	})
}
