package events_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/virtsync/virtsync/internal/syncbuf"
	"github.com/virtsync/virtsync/sinks/events"
)

// By default the server opens no socket: the process reaches it in-process
// and nobody else reaches it at all.
func TestStartEmbedded(t *testing.T) {
	dir := t.TempDir()
	before := listeningSockets(t)
	srv, err := events.StartEmbedded(events.Options{StoreDir: dir, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	if u, p := srv.ClientURL(), srv.Port(); u != "" || p != 0 {
		t.Fatalf("default server listens: client url %q, port %d; want none", u, p)
	}
	if after := listeningSockets(t); after != before {
		t.Fatalf("the process listens on %d TCP sockets with the server up, %d before: want no new one", after, before)
	}

	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	js := c.JetStream()
	if _, err := c.EnsureStream(ctx, "S", []string{"s.>"}, 0); err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "s.x", []byte("persisted"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != "S" || ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}
	if msg, err := mustStream(t, js, "S").GetMsg(ctx, 1); err != nil || string(msg.Data) != "persisted" {
		t.Fatalf("read back: %v %q", err, msgData(msg))
	}

	// JetStream files live under StoreDir, nowhere else.
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "$G", "streams", "S")); err != nil {
		t.Fatalf("stream files not under the store dir: %v", err)
	}

	c.Close()
	srv.Shutdown()
	srv.Shutdown() // a second call must not block or panic

	// A new server on the same store finds the stream and its message.
	srv2 := mustStartEmbedded(t, dir)
	s := mustStream(t, mustConnectEmbedded(t, srv2).JetStream(), "S")
	msg, err := s.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "persisted" {
		t.Fatalf("message after restart: %v %q", err, msgData(msg))
	}
}

// Credentials without a listener still guard the in-process door, and
// Embedded.Connect uses them.
func TestEmbeddedConnectLogsInWithCredentials(t *testing.T) {
	srv := mustStart(t, events.Options{StoreDir: t.TempDir(), User: testUser, Password: testPassword})
	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if srv.ClientURL() != "" {
		t.Errorf("client url %q without Listen", srv.ClientURL())
	}
}

// A listener the user asked for takes only clients with the configured
// user and password.
func TestEmbeddedListenerRequiresLogin(t *testing.T) {
	before := listeningSockets(t)
	srv := mustStartListening(t, t.TempDir(), "127.0.0.1:0")
	if after := listeningSockets(t); after != before+1 {
		t.Fatalf("the process listens on %d TCP sockets with the server up, %d before: want one more", after, before)
	}
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") || srv.Port() == 0 {
		t.Fatalf("client url %q, port %d: want loopback with the real port", srv.ClientURL(), srv.Port())
	}
	if strings.Contains(srv.ClientURL(), "@") {
		t.Fatalf("client url %q carries credentials", srv.ClientURL())
	}

	tests := []struct {
		name   string
		user   *url.Userinfo
		wantOK bool
	}{
		{"a client without credentials is refused", nil, false},
		{"a client with the wrong password is refused", url.UserPassword(testUser, "wrong"), false},
		{"a client with the password of another user is refused", url.UserPassword("other", testPassword), false},
		{"a client with the user alone is refused", url.User(testUser), false},
		{"a client with the configured user and password is accepted", url.UserPassword(testUser, testPassword), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := srv.ClientURL()
			if tc.user != nil {
				u = withUser(t, u, tc.user)
			}
			// Plain nats.go without retries: the refusal comes back here.
			nc, err := nats.Connect(u, nats.Timeout(5*time.Second), nats.NoReconnect())
			if tc.wantOK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				defer nc.Close()
				if err := nc.Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
				return
			}
			if err == nil {
				nc.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("error %v, want an authorization violation", err)
			}
		})
	}
}

// A local user who speaks the protocol by hand, without logging in, gets
// nothing into the stream that consumers trust.
func TestForgedPublishNeverReachesStream(t *testing.T) {
	srv := mustStartListening(t, t.TempDir(), "127.0.0.1:0")
	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.EnsureStream(ctx, events.StreamDefault, []string{events.SubjectPrefixDefault + ".>"}, 0); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		connect string
	}{
		{"a client that sends no credentials", `CONNECT {"verbose":false,"pedantic":false}`},
		{"a client with a guessed password", fmt.Sprintf(`CONNECT {"verbose":false,"user":%q,"pass":"guess"}`, testUser)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply := rawSession(t, srv.ClientURL(),
				tc.connect,
				"PUB virtsync.customer.upserted 6",
				"forged",
				"PING")
			if !strings.Contains(reply, "-ERR 'Authorization Violation'") || strings.Contains(reply, "PONG") {
				t.Fatalf("server replied %q, want an authorization violation and no PONG", reply)
			}
		})
	}
	if n := streamMsgs(t, c.JetStream(), events.StreamDefault); n != 0 {
		t.Fatalf("stream has %d messages after the forged publishes, want 0", n)
	}
}

// rawSession sends lines to the server at natsURL over a bare TCP
// connection and returns all it answers until it closes the connection.
func rawSession(t *testing.T, natsURL string, lines ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(natsURL, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if info, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(info, "INFO ") {
		t.Fatalf("greeting %q: %v", info, err)
	}
	if _, err := conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server kept the unauthenticated connection open; it said %q", b.String())
			}
			return b.String()
		}
	}
}

func TestStartEmbeddedRejects(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts events.Options
		want string // in the error
	}{
		{"no store dir is refused", events.Options{}, "StoreDir is required"},
		{"a listener without credentials is refused",
			events.Options{Listen: "127.0.0.1:0"},
			"needs a user and a password"},
		{"a listener with a user and no password is refused",
			events.Options{Listen: "127.0.0.1:0", User: testUser},
			"set both or neither"},
		{"a password without a user is refused",
			events.Options{Password: testPassword},
			"set both or neither"},
		{"a bcrypt hash as password is refused",
			events.Options{Listen: "127.0.0.1:0", User: testUser, Password: "$2a$11$abcdefghijklmnopqrstuuv"},
			"bcrypt"},
		{"a listen address without a port is refused",
			events.Options{Listen: "127.0.0.1", User: testUser, Password: testPassword},
			`listen address "127.0.0.1"`},
		{"a listen port out of range is refused",
			events.Options{Listen: "127.0.0.1:65536", User: testUser, Password: testPassword},
			"from 0 to 65535"},
		{"a negative ready timeout is refused",
			events.Options{ReadyTimeout: -time.Second},
			"negative ReadyTimeout"},
		{"a listen address in use is refused naming it",
			events.Options{Listen: taken.Addr().String(), User: testUser, Password: testPassword, ReadyTimeout: 2 * time.Second},
			taken.Addr().String()},
		{"a store dir that is a file is refused",
			events.Options{StoreDir: file},
			file},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.StoreDir == "" && tc.want != "StoreDir is required" {
				tc.opts.StoreDir = t.TempDir()
			}
			tc.opts.Logger = quietLogger(t)
			srv, err := events.StartEmbedded(tc.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.opts.Password != "" && strings.Contains(err.Error(), tc.opts.Password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// Every log line of the server, at the most verbose level virtsync gives
// it, while clients log in right and wrong and events flow: no password,
// no event payload.
func TestEmbeddedLogsNoSecrets(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 8}))
	srv := mustStart(t, events.Options{
		StoreDir: t.TempDir(), Listen: "127.0.0.1:0", User: testUser, Password: testPassword, Logger: log,
	})
	const payload = `{"name":"Зинаида Приватная","phone":"+79990001122"}`

	c := mustConnectEmbedded(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.EnsureStream(ctx, "S", []string{"s.>"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JetStream().Publish(ctx, "s.x", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(authURL(t, srv), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	// A client that sends the right user with a password that contains
	// the real one, so that an echo of it in an error would show.
	rawSession(t, srv.ClientURL(), fmt.Sprintf(`CONNECT {"verbose":false,"user":%q,"pass":%q}`, testUser, testPassword+"x"))
	if nc, err := nats.Connect(srv.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("unauthenticated client accepted")
	}
	c.Close()
	srv.Shutdown()

	out := buf.String()
	if !strings.Contains(out, "authentication error") || !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("the log did not capture the server's debug lines and the failed logins; it holds:\n%s", out)
	}
	for _, secret := range []string{testPassword, strconv.Quote(testPassword), "Приватная", "+79990001122"} {
		if strings.Contains(out, secret) {
			t.Errorf("server log shows %q:\n%s", secret, out)
		}
	}
}

// listeningSockets counts the TCP sockets in LISTEN state this process
// holds, from /proc (the tests run on Linux).
func listeningSockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list open files: %v", err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && mine[f[9]] {
				n++
			}
		}
	}
	return n
}

func mustStream(t *testing.T, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s
}

func msgData(m *jetstream.RawStreamMsg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}
