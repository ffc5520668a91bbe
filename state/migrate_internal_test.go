package state

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    []int
		wantErr string
	}{
		{"ordered by number, not name", fstest.MapFS{
			"migrations/0002_b.sql": file("B"), "migrations/0010_c.sql": file("C"),
			"migrations/0001_a.sql": file("A"), "migrations/0003_x.sql": file("X"),
			"migrations/0004_x.sql": file("X"), "migrations/0005_x.sql": file("X"),
			"migrations/0006_x.sql": file("X"), "migrations/0007_x.sql": file("X"),
			"migrations/0008_x.sql": file("X"), "migrations/0009_x.sql": file("X"),
		}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ""},
		{"gap", fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/0003_c.sql": file("C")}, nil, "expected version 2"},
		{"duplicate", fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/1_b.sql": file("B")}, nil, "expected version 2"},
		{"bad name", fstest.MapFS{"migrations/init.sql": file("A")}, nil, "NNNN_description.sql"},
		{"zero", fstest.MapFS{"migrations/0000_a.sql": file("A")}, nil, "NNNN_description.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.fs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("versions = %v, want %v", got, tt.want)
				}
			}
		})
	}

	if ms, err := loadMigrations(migrationFS); err != nil || len(ms) == 0 {
		t.Errorf("embedded migrations: %d, %v", len(ms), err)
	}
}

// TestTimeText: stored times must sort as text in time order, which
// time.RFC3339Nano (dropping trailing zeros) would break.
func TestTimeText(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(time.Second), base.Add(time.Second + time.Nanosecond)}
	for i := 1; i < len(times); i++ {
		a, b := fmtTime(times[i-1]), fmtTime(times[i])
		if a >= b {
			t.Errorf("%q >= %q", a, b)
		}
	}
	var s stamp
	in := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("MSK", 3*3600))
	if err := s.Scan(fmtTime(in)); err != nil || !time.Time(s).Equal(in) || time.Time(s).Location() != time.UTC {
		t.Errorf("round trip = %v, %v", time.Time(s), err)
	}
	if fmtTime(time.Time{}) != "" {
		t.Error("zero time not stored as ''")
	}
	for _, v := range []any{nil, "", []byte("")} {
		if err := s.Scan(v); err != nil || !time.Time(s).IsZero() {
			t.Errorf("Scan(%#v) = %v, %v", v, time.Time(s), err)
		}
	}
	if err := s.Scan("yesterday"); err == nil {
		t.Error("bad text accepted")
	}
}
