package events_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/sinks/events"
)

// Two servers on one JetStream directory overwrite each other's files and
// lose acknowledged events; the second one must not start, and the first
// must not notice.
func TestSecondEmbeddedOnOneStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	first := mustStartEmbedded(t, dir)
	c := mustConnectEmbedded(t, first)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.EnsureStream(ctx, "S", []string{"s.>"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JetStream().Publish(ctx, "s.x", []byte("before")); err != nil {
		t.Fatal(err)
	}

	second, err := events.StartEmbedded(events.Options{StoreDir: dir, Logger: quietLogger(t)})
	if err == nil {
		second.Shutdown()
		t.Fatal("a second embedded server started on a store that is in use")
	}
	if !errors.Is(err, events.ErrStoreLocked) {
		t.Fatalf("error %v does not match ErrStoreLocked", err)
	}
	var le *events.StoreLockedError
	if !errors.As(err, &le) {
		t.Fatalf("error %T is not a *StoreLockedError", err)
	}
	host, _ := os.Hostname()
	if le.PID != os.Getpid() || le.Host != host || le.Dir != dir || time.Since(le.Since) > time.Minute {
		t.Errorf("lock error names pid %d host %q dir %q since %s; want pid %d host %q dir %q, just now",
			le.PID, le.Host, le.Dir, le.Since, os.Getpid(), host, dir)
	}
	for _, want := range []string{"another virtsync process", fmt.Sprintf("pid %d", os.Getpid()), dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// The refused start touched nothing: the owner publishes on.
	if _, err := c.JetStream().Publish(ctx, "s.x", []byte("after")); err != nil {
		t.Fatalf("owner cannot publish after the refused start: %v", err)
	}
	if n := streamMsgs(t, c.JetStream(), "S"); n != 2 {
		t.Fatalf("stream has %d messages, want 2", n)
	}

	// Once the owner is gone the store is free, with both messages in it.
	first.Shutdown()
	next := mustStartEmbedded(t, dir)
	if n := streamMsgs(t, mustConnectEmbedded(t, next).JetStream(), "S"); n != 2 {
		t.Fatalf("stream has %d messages after the hand-over, want 2", n)
	}
}

func TestStoreLockErrors(t *testing.T) {
	t.Run("a lock file without owner lines still gives a clear refusal", func(t *testing.T) {
		// The owner is between its lock and its write.
		dir := t.TempDir()
		f, err := os.OpenFile(filepath.Join(dir, events.LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		_, err = events.StartEmbedded(events.Options{StoreDir: dir, Logger: quietLogger(t)})
		var le *events.StoreLockedError
		if !errors.As(err, &le) || le.PID != 0 {
			t.Fatalf("error %v, want a StoreLockedError without pid", err)
		}
		if !strings.Contains(err.Error(), "another virtsync process owns the embedded NATS store "+dir) {
			t.Errorf("error %q", err)
		}
	})
	t.Run("a failed start releases the lock", func(t *testing.T) {
		dir := t.TempDir()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, err = events.StartEmbedded(events.Options{
			StoreDir: dir, Listen: l.Addr().String(), User: testUser, Password: testPassword,
			ReadyTimeout: 2 * time.Second, Logger: quietLogger(t),
		})
		l.Close()
		if err == nil || errors.Is(err, events.ErrStoreLocked) {
			t.Fatalf("start on a taken port: %v, want a listen error", err)
		}
		mustStartEmbedded(t, dir)
	})
	t.Run("the store directory is created private", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new", "nats")
		mustStartEmbedded(t, dir)
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o700 {
			t.Errorf("store dir mode %o, want 700", perm)
		}
	})
}

// lockChildEnv makes the test binary a child that holds the lock of the
// store named by the variable until it is killed.
const lockChildEnv = "VIRTSYNC_TEST_LOCK_CHILD_STORE"

// A kill -9 leaves no stale lock: the kernel drops it with the process.
func TestStoreLockReleasedWhenOwnerIsKilled(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		holdLockUntilKilled(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreLockReleasedWhenOwnerIsKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	cmd.Stderr = t.Output()
	stdin, err := cmd.StdinPipe() // closed with the parent: the child never outlives the test
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "locked" {
	}
	if sc.Err() != nil || sc.Text() != "locked" {
		t.Fatalf("child did not report the lock (%v)", sc.Err())
	}

	_, err = events.StartEmbedded(events.Options{StoreDir: dir, Logger: quietLogger(t)})
	var le *events.StoreLockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("start while the child owns the store: %v, want a lock error naming pid %d", err, cmd.Process.Pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly; want killed")
	}
	srv := mustStartEmbedded(t, dir)
	c := mustConnectEmbedded(t, srv)
	if n := streamMsgs(t, c.JetStream(), "S"); n != 1 {
		t.Errorf("stream has %d messages after the owner was killed, want the 1 it published", n)
	}
}

// holdLockUntilKilled runs in the child: own the store, publish one
// message, say so, then wait for a kill (or the parent's end).
func holdLockUntilKilled(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "lock child:", err)
		os.Exit(2)
	}
	srv, err := events.StartEmbedded(events.Options{StoreDir: dir, SyncAlways: true})
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := srv.Connect(ctx, events.ConnOptions{})
	if err != nil {
		fail(err)
	}
	if _, err := c.EnsureStream(ctx, "S", []string{"s.>"}, 0); err != nil {
		fail(err)
	}
	if _, err := c.JetStream().Publish(ctx, "s.x", []byte("from the child")); err != nil {
		fail(err)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString(0)
	os.Exit(3) // the parent went away without killing: not a pass
}

// A daemon that starts during a one-shot run gets the store when the run
// ends, and one that is stopped meanwhile says what it waited for.
func TestStartEmbeddedWhenFree(t *testing.T) {
	t.Run("the waiter gets the store once the owner shuts down", func(t *testing.T) {
		dir := t.TempDir()
		owner := mustStartEmbedded(t, dir)
		var log syncbuf.Buffer
		type result struct {
			srv *events.Embedded
			err error
		}
		done := make(chan result, 1)
		go func() {
			srv, err := events.StartEmbeddedWhenFree(t.Context(), events.Options{
				StoreDir: dir, Logger: slog.New(slog.NewTextHandler(&log, nil)),
			}, 20*time.Millisecond)
			done <- result{srv, err}
		}()
		eventually(t, 10*time.Second, "the waiter to log that it waits", func() bool {
			return strings.Contains(log.String(), "owned by another process")
		})
		select {
		case r := <-done:
			t.Fatalf("waiter returned while the store is owned: %v", r.err)
		default:
		}
		owner.Shutdown()
		var r result
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("waiter did not get the store after the owner shut down")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(r.srv.Shutdown)
		c := mustConnectEmbedded(t, r.srv)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(log.String(), "owned by another process"); n != 1 {
			t.Errorf("the wait was logged %d times, want once", n)
		}
	})
	t.Run("a cancelled wait names the owner and the cancellation", func(t *testing.T) {
		dir := t.TempDir()
		mustStartEmbedded(t, dir)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := events.StartEmbeddedWhenFree(ctx, events.Options{StoreDir: dir}, time.Hour)
		if !errors.Is(err, events.ErrStoreLocked) || !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want both ErrStoreLocked and context.Canceled", err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("error %q does not name the owner", err)
		}
	})
	t.Run("other errors return at once", func(t *testing.T) {
		_, err := events.StartEmbeddedWhenFree(t.Context(), events.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}, time.Hour)
		if err == nil || errors.Is(err, events.ErrStoreLocked) {
			t.Fatalf("error %v, want the missing credentials", err)
		}
	})
}
