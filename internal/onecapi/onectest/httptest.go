package onectest

import (
	"net/http/httptest"
	"testing"
)

// StartTest runs a fake with the given seed on a loopback port for the
// test's lifetime and returns it with the publication's base URL
// (".../odata/standard.odata/").
func StartTest(tb testing.TB, opts Options, seed Seed) (*Server, string) {
	tb.Helper()
	s := New(opts)
	if err := s.Load(seed); err != nil {
		tb.Fatalf("load seed: %v", err)
	}
	hs := httptest.NewServer(s)
	tb.Cleanup(hs.Close)
	return s, hs.URL + PublicationPath
}

// StartDemo is StartTest with the demo base of LoadDemo: at a million
// partners it starts in seconds where Load(DemoSeed(...)) builds every
// object as a map first.
func StartDemo(tb testing.TB, opts Options, customers, cards, kinds int, seed int64) (*Server, string) {
	tb.Helper()
	s := New(opts)
	if err := s.LoadDemo(customers, cards, kinds, seed); err != nil {
		tb.Fatalf("load demo: %v", err)
	}
	hs := httptest.NewServer(s)
	tb.Cleanup(hs.Close)
	return s, hs.URL + PublicationPath
}
