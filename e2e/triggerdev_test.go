package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The unchanged trigger.dev SDK (@trigger.dev/core and @trigger.dev/sdk)
// against the real stack, at both ends of the supported range: the newest
// version (pinned in compat/triggerdev/package.json) and the lowest
// (compat/triggerdev/sdk-lowest/package.json). The same Node tests
// (compat/triggerdev/test) run with `node --test`, one of them through a proxy
// that cuts the first items stream in the middle of its body.
func TestTriggerDevSDK(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	node, npm := requireNode(t)
	suite, err := filepath.Abs(filepath.Join("..", "compat", "triggerdev"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("newest", func(t *testing.T) {
		npmInstall(t, npm, suite)
		runSDKSuite(t, s, node, suite)
		// The React hooks exist at the newest version only (none at 4.5.8).
		runReactRealtime(t, s, node, suite)
	})
	t.Run("lowest", func(t *testing.T) {
		dir := filepath.Join(suite, "sdk-lowest")
		npmInstall(t, npm, dir)
		// The tests resolve the SDK from the folder they sit in: a copy of
		// them beside the lowest version's node_modules (ignored by git).
		for _, sub := range []string{"test", "lib"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(suite, sub))); err != nil {
				t.Fatal(err)
			}
		}
		runSDKSuite(t, s, node, dir)
	})
}

// runSDKSuite runs `node --test` in dir, a folder holding the compatibility
// tests and the SDK they import, and checks what the cut-stream test did.
func runSDKSuite(t *testing.T, s *stack, node, dir string) {
	t.Helper()
	_, key := s.newKey(t)

	const items, cutAfterLines = 2000, 1000 // the Node test streams 2,000 items
	proxy := newCutProxy(t, s.URL, cutAfterLines)

	// The suite configures the SDK explicitly; TRIGGER_* variables of the
	// machine (an API URL, a secret key, a branch) stay out of it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRIGGER_") {
			env = append(env, kv)
		}
	}
	// The read-side test executes its runs on a task worker of its own
	// environment; another environment checks isolation.
	execEnv, execKey := s.newKey(t)
	startTaskWorker(t, s, execEnv)
	_, otherKey := s.newKey(t)
	env = append(env,
		"STREAMBATCH_URL="+s.URL,
		"STREAMBATCH_API_KEY="+key,
		"STREAMBATCH_EXEC_API_KEY="+execKey,
		"STREAMBATCH_OTHER_API_KEY="+otherKey,
		"STREAMBATCH_PROXY_URL="+proxy.srv.URL,
		"NO_COLOR=1",
	)
	// The test files are named: node --test alone would also find the copy
	// of them in sdk-lowest/ a run of the lowest version left.
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s: %v", dir, err)
	}
	start := time.Now()
	// A bound for a hung SDK, not a speed target: the files take about
	// 1.5 min on an idle machine and over 3 min on a loaded one.
	out, err := runTool(t, dir, 10*time.Minute, env, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	t.Logf("node --test (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("node --test in %s: %v", dir, err)
	}

	// The proxy really cut one request, and it was the Node test's batch.
	m := regexp.MustCompile(`CUT_BATCH_ID=(batch_[0-9a-z]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("the Node output names no CUT_BATCH_ID=batch_…")
	}
	id := string(m[1])
	cuts, cutBatch, itemsRequests := proxy.stats()
	if cuts != 1 || cutBatch != id {
		t.Fatalf("proxy cut %d request(s), of batch %q; want 1 of %s", cuts, cutBatch, id)
	}
	if itemsRequests < 2 {
		t.Fatalf("%d items request(s) through the proxy: the cut one was not retried", itemsRequests)
	}
	total, failed, err := s.app.Store.CountRuns(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if total != items || failed != 0 {
		t.Fatalf("batch %s has %d runs (%d failed), want %d", id, total, failed, items)
	}
	if b := s.batchStatus(t, key, id); b.Status != "PROCESSING" || !b.Sealed || b.EnqueuedCount != items {
		t.Fatalf("batch %s: %+v", id, b)
	}
}

// requireNode finds node (20 or later) and npm. It fails instead of skipping:
// CI must run this test.
func requireNode(t *testing.T) (node, npm string) {
	t.Helper()
	const install = "install Node.js 20 or later with npm (e.g. apt-get install nodejs npm, or the NodeSource Node 20 packages)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found on PATH: %v; %s", err, install)
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm not found on PATH: %v; %s", err, install)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v; %s", err, install)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if major < 20 {
		t.Fatalf("node %s is too old; %s", v, install)
	}
	return node, npm
}

// npmInstall runs npm ci in dir unless its node_modules already holds
// exactly what package.json pins.
func npmInstall(t *testing.T, npm, dir string) {
	t.Helper()
	why := nodeModulesStale(dir)
	if why == "" {
		return
	}
	t.Logf("npm ci in %s: %s", dir, why)
	start := time.Now()
	out, err := runTool(t, dir, 5*time.Minute, nil, npm, "ci", "--no-audit", "--no-fund")
	if err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci took %s", time.Since(start).Round(time.Millisecond))
	if why := nodeModulesStale(dir); why != "" {
		t.Fatalf("after npm ci in %s: %s", dir, why)
	}
}

// nodeModulesStale says why dir's node_modules does not hold exactly the
// versions package.json pins ("" when it does): missing, or installed before
// the pins changed.
func nodeModulesStale(dir string) string {
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return err.Error()
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		return "package.json: " + err.Error()
	}
	if pkg.Dependencies == nil {
		pkg.Dependencies = map[string]string{}
	}
	maps.Copy(pkg.Dependencies, pkg.DevDependencies)
	for name, want := range pkg.Dependencies {
		var got struct {
			Version string `json:"version"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
		if err != nil {
			return name + " is not installed"
		}
		if err := json.Unmarshal(raw, &got); err != nil || got.Version != want {
			return fmt.Sprintf("%s %s is installed, package.json pins %s", name, got.Version, want)
		}
	}
	return ""
}

// runTool runs a command in dir with env (nil: this process's) and a
// timeout, returning its combined output. The command runs in its own
// process group, which the timeout (or the test process dying) kills whole:
// node --test runs each test file in a child process.
func runTool(t *testing.T, dir string, timeout time.Duration, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return out.Bytes(), err
}

// cutProxy is a reverse proxy in front of the API that passes every request
// through unchanged except the first POST /api/v3/batches/:id/items: that one
// is forwarded until cutAfterLines NDJSON lines and a few bytes of the next
// have gone upstream, then the upstream request is aborted and the client's
// connection closed without an answer, as a network failure would.
type cutProxy struct {
	srv           *httptest.Server
	cutAfterLines int
	armed         atomic.Bool
	itemsRequests atomic.Int32

	mu       sync.Mutex
	cuts     int
	cutBatch string
}

var itemsRoute = regexp.MustCompile(`^/api/v3/batches/([^/]+)/items$`)

type cutRequestKey struct{}

var errCutBody = errors.New("cut by the test proxy")

func newCutProxy(t *testing.T, target string, cutAfterLines int) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	p := &cutProxy{cutAfterLines: cutAfterLines}
	p.armed.Store(true)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Value(cutRequestKey{}) != nil {
				p.closeClient(t, w, err)
				return
			}
			t.Logf("proxy: %s %s: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := itemsRoute.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
			p.itemsRequests.Add(1)
			if p.armed.CompareAndSwap(true, false) {
				p.mu.Lock()
				p.cutBatch = m[1]
				p.mu.Unlock()
				r.Body = &cutBody{ReadCloser: r.Body, after: p.cutAfterLines, extra: 16}
				r = r.WithContext(context.WithValue(r.Context(), cutRequestKey{}, true))
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
		transport.CloseIdleConnections()
	})
	return p
}

// closeClient hijacks the client's connection and resets it, so the client
// sees a network error rather than an HTTP status.
func (p *cutProxy) closeClient(t *testing.T, w http.ResponseWriter, cause error) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("proxy: cannot hijack the cut request (%v); upstream error %v", err, cause)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST: the client may still be sending
	}
	conn.Close()
	p.mu.Lock()
	p.cuts++
	p.mu.Unlock()
}

func (p *cutProxy) stats() (cuts int, cutBatch string, itemsRequests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts, p.cutBatch, int(p.itemsRequests.Load())
}

// cutBody passes a request body through until `after` newlines and `extra`
// more bytes (part of the next line) have been read, then fails.
type cutBody struct {
	io.ReadCloser
	after, extra int
	lines, tail  int
	cut          bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.cut {
		return 0, errCutBody
	}
	n, err := b.ReadCloser.Read(p)
	for i := 0; i < n; i++ {
		switch {
		case b.lines < b.after:
			if p[i] == '\n' {
				b.lines++
			}
		case b.tail < b.extra:
			b.tail++
		default:
			b.cut = true
			return i, nil
		}
	}
	return n, err
}
