package state_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/state"
)

func TestNewFilesAreOwnerOnly(t *testing.T) {
	// A directory that already exists world-readable, as /var/lib often does.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "new", "state.db")
	db, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A write makes SQLite create the -wal and -shm files.
	if err := db.Update(context.Background(), func(tx *state.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		path string
		want os.FileMode
	}{
		{"the directory it creates", filepath.Dir(path), 0o700},
		{"the database", path, 0o600},
		{"the write-ahead log", path + "-wal", 0o600},
		{"the shared-memory index", path + "-shm", 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("%s has mode %#o, want %#o", tt.path, got, tt.want)
			}
		})
	}
}

// TestMain doubles as a helper process: with $VIRTSYNC_STATE_OPEN_AS set
// it only opens that path and prints the error, so that a test running as
// root can watch Open fail as an ordinary user (root may write anywhere).
func TestMain(m *testing.M) {
	if p := os.Getenv("VIRTSYNC_STATE_OPEN_AS"); p != "" {
		db, err := state.Open(p)
		if err == nil {
			db.Close()
		}
		fmt.Print(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMustExist(t *testing.T) {
	t.Run("a missing file is refused and nothing is created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "never-ran")
		path := filepath.Join(dir, "state.db")
		_, err := state.Open(path, state.MustExist())
		if !errors.Is(err, state.ErrNoStateFile) {
			t.Fatalf("err = %v, want ErrNoStateFile", err)
		}
		want := "no state file at " + path + ": virtsync has not run with this config yet (state.path)"
		if err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the directory was created (stat: %v)", err)
		}
	})
	t.Run("an existing file opens with its data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		db, err := state.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetCheckpoint("customers", "v1") })
		db.Close()
		db, err = state.Open(path, state.MustExist())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, err := db.Checkpoint(context.Background(), "customers"); err != nil || got.Cursor != "v1" {
			t.Errorf("checkpoint = %+v, %v; want cursor v1", got, err)
		}
	})
	t.Run("a directory is not a state file", func(t *testing.T) {
		_, err := state.Open(t.TempDir(), state.MustExist())
		if err == nil || !strings.Contains(err.Error(), "it is a directory; state.path names the database file") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestCreateFailuresSayWhy(t *testing.T) {
	t.Run("a path under a regular file names the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := state.Open(filepath.Join(file, "sub", "state.db"))
		want := "cannot create state directory " + filepath.Join(file, "sub") + ": " + file + " is a file, not a directory"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
	t.Run("a file directly under a regular file names the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := state.Open(filepath.Join(file, "state.db"))
		if err == nil || !strings.Contains(err.Error(), file+" is a file, not a directory") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("state.path naming a directory says so", func(t *testing.T) {
		_, err := state.Open(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "it is a directory; state.path names the database file") {
			t.Errorf("err = %v", err)
		}
	})
	for _, tt := range []struct {
		name string
		rel  string // state path relative to the read-only directory
		want string // with %[1]s for the read-only directory
	}{
		{"a new file in a read-only directory", "state.db",
			"cannot create state file %[1]s/state.db: directory %[1]s is not writable by this user (permission denied)"},
		{"a new directory in a read-only directory", "sub/state.db",
			"cannot create state directory %[1]s/sub: directory %[1]s is not writable by this user (permission denied)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, got := openInReadOnlyDir(t, tt.rel)
			if want := fmt.Sprintf(tt.want, dir); got != want {
				t.Errorf("err = %q, want %q", got, want)
			}
		})
	}
}

// openInReadOnlyDir opens rel inside a directory the opener cannot write
// and returns the directory and the error text. Root can write anywhere,
// so as root the open runs in a copy of this test binary as uid 65534 in a
// root-owned 0755 directory; otherwise in-process in a 0555 directory.
func openInReadOnlyDir(t *testing.T, rel string) (dir, errText string) {
	t.Helper()
	if os.Geteuid() != 0 {
		dir = t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		_, err := state.Open(filepath.Join(dir, rel))
		if err == nil {
			t.Fatal("Open succeeded in a read-only directory")
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("err = %v, want it to wrap fs.ErrPermission", err)
		}
		return dir, err.Error()
	}
	// t.TempDir is 0700 under a 0700 parent: the other user could not
	// even reach it. /tmp itself is world-traversable.
	dir, err := os.MkdirTemp("", "virtsync-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runAsOtherUser(t, dir, filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, rel)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the helper created %s (stat: %v): the directory was writable after all", rel, err)
	}
	return dir, out
}

func TestPermissionWarning(t *testing.T) {
	tests := []struct {
		name  string
		file  string // base name of the state file
		modes map[string]os.FileMode
		want  string // with %[1]s for the state file's path; "" for no warning
	}{
		{name: "no file, no warning", file: "state.db"},
		{name: "an owner-only file is fine", file: "state.db", modes: map[string]os.FileMode{"": 0o600, "-wal": 0o600, "-shm": 0o600}},
		{name: "an owner read-only file is fine", file: "state.db", modes: map[string]os.FileMode{"": 0o400}},
		{name: "a world-readable file, as virtsync used to create it", file: "state.db", modes: map[string]os.FileMode{"": 0o644},
			want: "state file is open to other users: %[1]s (mode 0644); it holds customer ids and the id map: run chmod 600 %[1]s"},
		{name: "a group-readable file", file: "state.db", modes: map[string]os.FileMode{"": 0o640},
			want: "state file is open to other users: %[1]s (mode 0640); it holds customer ids and the id map: run chmod 600 %[1]s"},
		{name: "a world-readable write-ahead log beside an owner-only file", file: "state.db", modes: map[string]os.FileMode{"": 0o600, "-wal": 0o644, "-shm": 0o604},
			want: "state file is open to other users: %[1]s-wal (mode 0644), %[1]s-shm (mode 0604); it holds customer ids and the id map: run chmod 600 %[1]s-wal %[1]s-shm"},
		{name: "a path with a space is quoted in the command", file: "my state.db", modes: map[string]os.FileMode{"": 0o644},
			want: "state file is open to other users: %[1]s (mode 0644); it holds customer ids and the id map: run chmod 600 '%[1]s'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			for suffix, mode := range tt.modes {
				if err := os.WriteFile(path+suffix, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				// Chmod: WriteFile's mode is filtered by the umask.
				if err := os.Chmod(path+suffix, mode); err != nil {
					t.Fatal(err)
				}
			}
			want := tt.want
			if want != "" {
				want = fmt.Sprintf(want, path)
			}
			if got := state.PermissionWarning(path); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
	t.Run("a file Open created needs no warning", func(t *testing.T) {
		db, _ := MustOpenDB(t)
		mustUpdate(t, db, func(tx *state.Tx) error { return tx.SetCheckpoint("cards", "x") })
		if got := state.PermissionWarning(db.Path()); got != "" {
			t.Errorf("got %q", got)
		}
	})
}
