package events

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFileName is the file in [Options.StoreDir] whose lock marks the
// process that owns the embedded store.
const LockFileName = "virtsync-nats.lock"

// ErrStoreLocked matches (errors.Is) the [*StoreLockedError] of
// [StartEmbedded] when another process owns the store directory.
var ErrStoreLocked = errors.New("embedded NATS store is locked by another process")

// StoreLockedError says that another process (or another [Embedded] in this
// one) holds the lock on the embedded store. Two nats-servers on one
// JetStream directory overwrite each other's files and lose acknowledged
// messages, so the second one never starts; its events stay in the outbox
// for the owner's relay.
//
// PID, Host and Since come from the lock file and are zero when the owner
// had not written them yet.
type StoreLockedError struct {
	Dir   string
	PID   int
	Host  string
	Since time.Time
}

func (e *StoreLockedError) Error() string {
	var b strings.Builder
	b.WriteString("another virtsync process")
	if e.PID > 0 {
		fmt.Fprintf(&b, " (pid %d", e.PID)
		if e.Host != "" {
			fmt.Fprintf(&b, " on %s", e.Host)
		}
		if !e.Since.IsZero() {
			fmt.Fprintf(&b, ", since %s", e.Since.Format(time.RFC3339))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " owns the embedded NATS store %s; only one process may run the embedded server on it", e.Dir)
	return b.String()
}

// Is makes errors.Is(err, ErrStoreLocked) true.
func (e *StoreLockedError) Is(target error) bool { return target == ErrStoreLocked }

// storeLock is an flock(2) on the lock file. The kernel drops it when the
// descriptor is closed, including on kill -9, so a crashed owner never
// leaves a stale lock behind.
type storeLock struct {
	f *os.File
}

// lockStore takes the exclusive lock on dir's lock file without waiting.
//
// The file is never removed: unlinking it while another process has it
// open would let two processes lock two different inodes of one name.
func lockStore(dir string) (*storeLock, error) {
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock embedded NATS store: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			le := &StoreLockedError{Dir: dir}
			le.PID, le.Host, le.Since = readOwner(f)
			return nil, le
		}
		return nil, fmt.Errorf("lock embedded NATS store %s: %w", path, err)
	}
	if err := writeOwner(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock embedded NATS store %s: write owner: %w", path, err)
	}
	return &storeLock{f: f}, nil
}

// unlock releases the lock. The owner lines are left in the file: the next
// owner overwrites them, and a reader only looks while the file is locked.
func (l *storeLock) unlock() error {
	// Closing the only descriptor of this open file releases the flock.
	return l.f.Close()
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func writeOwner(f *os.File) error {
	host, _ := os.Hostname()
	content := fmt.Sprintf("pid=%d\nhost=%s\nsince=%s\n",
		os.Getpid(), host, time.Now().UTC().Format(time.RFC3339Nano))
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		return err
	}
	return nil
}

// readOwner parses what the owner wrote. The owner may be between its lock
// and its write, so missing or partial lines give zero values, never an
// error: the message only loses detail.
func readOwner(f *os.File) (pid int, host string, since time.Time) {
	buf := make([]byte, 1024)
	n, _ := f.ReadAt(buf, 0)
	sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "host":
			host = v
		case "since":
			since, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	return pid, host, since
}
