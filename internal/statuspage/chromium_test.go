package statuspage_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync"
	"github.com/virtsync/virtsync/internal/statuspage"
)

// requireChromium is the variable CI sets so that a missing browser fails
// the test instead of skipping it.
const requireChromium = "VIRTSYNC_REQUIRE_CHROMIUM"

// chromium finds Debian's chromium (or Ubuntu's chromium-browser);
// $VIRTSYNC_CHROMIUM names another binary.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("VIRTSYNC_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium or chromium-browser on PATH (Debian: apt-get install chromium; or set VIRTSYNC_CHROMIUM)"
	if os.Getenv(requireChromium) == "1" {
		t.Fatalf("%s, and %s=1 requires it", msg, requireChromium)
	}
	t.Skipf("%s: skipping the headless-browser test; .ci/run installs it and sets %s=1", msg, requireChromium)
	return ""
}

// headless runs chromium on url with args and returns its stdout and
// stderr. Its profile, cache and home are in a temporary directory.
func headless(t *testing.T, bin, url string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	base := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--user-data-dir=" + filepath.Join(home, "profile"),
		// Console messages, CSP violations among them, go to stderr.
		"--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	// Chromium's helper processes may hold the pipes after it exits.
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", bin, err, errb.String())
	}
	return out.String(), errb.String()
}

// The demo's state, served as the daemon would and rendered by a real
// browser: the three jobs' rows and sections, and each chart's bars, are
// in the DOM the browser built, and the browser blocked nothing.
func TestChromiumRendersTheDemoJobs(t *testing.T) {
	bin := chromium(t)
	if v, err := exec.Command(bin, "--version").Output(); err == nil {
		t.Logf("%s: %s", bin, strings.TrimSpace(string(v)))
	}
	_, src, now := filled(t)
	srv := httptest.NewServer(statuspage.New(src, statuspage.Options{Now: func() time.Time { return now }}))
	defer srv.Close()

	start := time.Now()
	dom, stderr := headless(t, bin, srv.URL+"/", "--dump-dom")
	t.Logf("chromium --dump-dom took %s", time.Since(start).Round(time.Millisecond))

	for _, job := range virtsync.Jobs() {
		for _, want := range []string{`<tr data-job="` + job + `">`, `id="job-` + job + `"`,
			"Durations of the last "} {
			if !strings.Contains(dom, want) {
				t.Errorf("rendered DOM lacks %q", want)
			}
		}
	}
	if n := strings.Count(dom, "<svg "); n != 3 {
		t.Errorf("%d svg charts in the DOM, want 3", n)
	}
	if n := len(regexp.MustCompile(`<rect [^>]*height="\d+"[^>]*><title>`).FindAllString(dom, -1)); n != 12 {
		t.Errorf("%d bars with a tooltip in the DOM, want 12", n)
	}
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("a script element in the DOM")
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "Content Security Policy") {
			t.Errorf("the browser blocked part of the page: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	// A picture for a person to look at: VIRTSYNC_STATUSPAGE_SCREENSHOT=page.png.
	if shot := os.Getenv("VIRTSYNC_STATUSPAGE_SCREENSHOT"); shot != "" {
		abs, err := filepath.Abs(shot)
		if err != nil {
			t.Fatal(err)
		}
		headless(t, bin, srv.URL+"/", "--screenshot="+abs, "--window-size=1200,2000", "--hide-scrollbars")
		if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
			t.Errorf("no screenshot at %s: %v", abs, err)
		}
	}
}
