package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// ErrNoStateFile is returned by [Open] with [MustExist] when there is no
// state file at the path.
var ErrNoStateFile = errors.New("no state file")

// MustExist makes [Open] refuse a path where there is no state file,
// with an error wrapping [ErrNoStateFile], instead of creating the file
// and its directory: for commands that only look, such as status.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// checkExists is Open's first step with MustExist.
func checkExists(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w at %s: virtsync has not run with this config yet (state.path)", ErrNoStateFile, path)
	case err != nil:
		return fmt.Errorf("open state file %s: %w", path, cause(path, err))
	case fi.IsDir():
		return fmt.Errorf("open state file %s: it is a directory; state.path names the database file", path)
	}
	return nil
}

// create makes the state file's directory (0700) and the file itself
// (0600, empty: an empty file is a valid empty database) unless they
// exist. SQLite would create the file 0644 and gives the -wal and -shm
// files the mode of the database file, so creating the file first keeps
// all three owner-only; the file holds customer ids and the id map.
// Existing directories and files keep their modes (see
// [PermissionWarning]).
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create state directory %s: %w", dir, cause(dir, err))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("cannot create state file %s: %w", path, err)
		}
		return nil
	case errors.Is(err, fs.ErrExist):
		// Already there (or another process made it just now).
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return fmt.Errorf("open state file %s: it is a directory; state.path names the database file", path)
		}
		return nil
	default:
		return fmt.Errorf("cannot create state file %s: %w", path, cause(dir, err))
	}
}

// createError carries the OS error under a readable cause, so that
// errors.Is(err, fs.ErrPermission) still holds.
type createError struct {
	msg string
	err error
}

func (e *createError) Error() string { return e.msg }
func (e *createError) Unwrap() error { return e.err }

// cause says in words why creating something in dir failed: the
// directory is not writable, is on a read-only file system, or a part of
// the path is a file. SQLite itself would only say "unable to open
// database file: no such file or directory".
func cause(dir string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.EACCES, syscall.EPERM:
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "mkdir" {
			return &createError{fmt.Sprintf("directory %s is not writable by this user (%v)", filepath.Dir(pe.Path), errno), err}
		}
		return &createError{fmt.Sprintf("directory %s is not writable by this user (%v)", dir, errno), err}
	case syscall.EROFS:
		return &createError{fmt.Sprintf("directory %s is on a read-only file system", dir), err}
	case syscall.ENOTDIR:
		if file := fileInPath(dir); file != "" {
			return &createError{fmt.Sprintf("%s is a file, not a directory", file), err}
		}
	}
	return err
}

// fileInPath returns the first ancestor of p (or p) that exists and is not
// a directory, "" if there is none.
func fileInPath(p string) string {
	var parts []string
	for q := filepath.Clean(p); ; q = filepath.Dir(q) {
		parts = append(parts, q)
		if q == filepath.Dir(q) {
			break
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		fi, err := os.Stat(parts[i])
		if err != nil {
			return ""
		}
		if !fi.IsDir() {
			return parts[i]
		}
	}
	return ""
}

// PermissionWarning returns a warning, with the command that fixes it,
// when the state file at path or its -wal or -shm file can be read or
// written by users other than its owner; "" otherwise, also when the file
// does not exist. [Open] creates them owner-only, but files made by an
// older virtsync or copied by hand may be 0644. The daemon logs it at
// start; it does not change modes itself, since an operator may share the
// file with a group on purpose.
func PermissionWarning(path string) string {
	if runtime.GOOS == "windows" {
		return "" // no Unix modes
	}
	var loose, names []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		loose = append(loose, fmt.Sprintf("%s (mode %#o)", p, fi.Mode().Perm()))
		names = append(names, shellQuote(p))
	}
	if len(loose) == 0 {
		return ""
	}
	return fmt.Sprintf("state file is open to other users: %s; it holds customer ids and the id map: run chmod 600 %s",
		strings.Join(loose, ", "), strings.Join(names, " "))
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
