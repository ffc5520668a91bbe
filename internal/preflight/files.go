package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/state"
)

// checkState checks that virtsync could create or open the state file and
// the -wal and -shm files SQLite keeps beside it. It neither creates nor
// opens the database: a missing file stays missing, an existing one is not
// migrated.
func checkState(cfg config.Config, ls *lines) {
	const name = "state.path"
	path := cfg.State.Path
	fix := "set state.path to a file in a directory the user virtsync runs as may write " +
		"(or give that user the directory: chown/chmod)"
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		ls.fail(name, path+" is a directory", "state.path names the database file, e.g. "+filepath.Join(path, "virtsync.db"))
	case err == nil:
		// Opening for writing without O_CREATE changes nothing in the file.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			ls.fail(name, fmt.Sprintf("%s exists but cannot be opened for writing: %v", path, errno(err)),
				"give the user virtsync runs as read and write access to "+path+" (chown; chmod 600)")
			return
		}
		_ = f.Close()
		dir := filepath.Dir(path)
		if err := writable(dir); err != nil {
			ls.fail(name, fmt.Sprintf("%s is writable, but its directory %s is not (%v): SQLite keeps its -wal and -shm files there",
				path, dir, err), fix)
			return
		}
		detail := path + " exists and is writable, and so is its directory"
		if w := state.PermissionWarning(path); w != "" {
			detail += "\nwarning: " + w
		}
		ls.ok(name, detail)
	case absent(err):
		dir, missing, err := nearestDir(filepath.Dir(path))
		if err != nil {
			ls.fail(name, fmt.Sprintf("cannot create %s: %v", path, err), fix)
			return
		}
		if err := writable(dir); err != nil {
			ls.fail(name, fmt.Sprintf("%s does not exist and cannot be created: %s is not writable (%v)", path, dir, err), fix)
			return
		}
		detail := path + " does not exist yet; the first run creates it"
		if missing {
			detail += " and its directory (" + dir + " is writable)"
		} else {
			detail += " (" + dir + " is writable)"
		}
		ls.ok(name, detail)
	default:
		ls.fail(name, fmt.Sprintf("%s: %v", path, errno(err)), fix)
	}
}

// checkStoreDir checks that the embedded NATS server could keep its store
// in dir.
func checkStoreDir(cfg config.Config, ls *lines) {
	const name = "NATS embedded store"
	dir := cfg.NATSStoreDir()
	key := "nats.store_dir"
	if cfg.NATS.StoreDir == "" {
		key = "nats.store_dir (default: \"nats\" beside state.path)"
	}
	fix := "set " + key + " to a directory the user virtsync runs as may write, or point nats.url at a NATS server"
	where := "nats.url is empty: virtsync runs NATS in its own process and keeps the stream in " + dir
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		ls.fail(name, where+", which is a file", fix)
	case err == nil:
		if err := writable(dir); err != nil {
			ls.fail(name, fmt.Sprintf("%s, which is not writable (%v)", where, err), fix)
			return
		}
		ls.ok(name, where+" (writable)")
	case absent(err):
		parent, _, err := nearestDir(filepath.Dir(dir))
		if err == nil {
			err = writable(parent)
		}
		if err != nil {
			ls.fail(name, fmt.Sprintf("%s, which cannot be created: %v", where, err), fix)
			return
		}
		ls.ok(name, where+" (created on the first run; "+parent+" is writable)")
	default:
		ls.fail(name, fmt.Sprintf("%s: %v", where, errno(err)), fix)
	}
}

// nearestDir returns dir, or its nearest ancestor that exists when dir does
// not (missing says so). An ancestor that is a file is an error.
func nearestDir(dir string) (string, bool, error) {
	missing := false
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case err == nil && fi.IsDir():
			return d, missing, nil
		case err == nil:
			return "", false, fmt.Errorf("%s is a file, not a directory", d)
		case !absent(err):
			return "", false, errno(err)
		}
		missing = true
		if d == filepath.Dir(d) {
			return "", false, fmt.Errorf("no directory of %s exists", dir)
		}
	}
}

// absent reports a path that does not exist, also because a part of it is
// a file (ENOTDIR): nearestDir then names that file.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// writable creates and removes a temporary file in dir: the only way to
// know, since permission bits do not tell about read-only mounts, ACLs or
// root.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".virtsync-check-*")
	if err != nil {
		return errno(err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove the probe file %s: %w", name, err)
	}
	return nil
}

// errno reduces an *fs.PathError to its reason: the caller names the path.
func errno(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		var en syscall.Errno
		if errors.As(pe.Err, &en) {
			return en
		}
		return pe.Err
	}
	return err
}
