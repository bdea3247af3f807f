package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/testenv"
	"github.com/streambatch/streambatch/internal/versitygw"
	"github.com/streambatch/streambatch/wire"
	sbworker "github.com/streambatch/streambatch/worker"
)

// stack is the shared real environment of this package's tests.
type stack struct {
	endpoint // the API's: the suite's way to call it (below)

	dir      string
	dbURL    string
	s3       *versitygw.Server
	bucket   string
	temporal temporalServer
	cfg      config.Config
	app      *app.App
	api      *httptest.Server
	worker   sbworker.Group // nil in the cluster, whose workers are processes
	bin      string         // the streambatch binary, for process-level tests
	cluster  bool           // the production topology (faults_cluster_test.go)
}

// temporalServer is the dev server (testenv.DevServer) or a real one
// (temporalserver.Server).
type temporalServer interface {
	FrontendHostPort() string
	Stop() error
}

var st *stack

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	gin.SetMode(gin.ReleaseMode)
	s, cleanup, err := startStack()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot start the stack:", err)
		cleanup()
		os.Exit(1)
	}
	st = s
	code := m.Run()
	stopCluster()
	cleanup()
	os.Exit(code)
}

func startStack() (*stack, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var cleanups []func()
	cleanup := func() {
		for k := len(cleanups) - 1; k >= 0; k-- {
			cleanups[k]()
		}
	}
	dir, err := os.MkdirTemp("", "streambatch-e2e-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, func() {
		if os.Getenv("STREAMBATCH_KEEP_TEST_DIR") == "" {
			os.RemoveAll(dir)
		}
	})
	s := &stack{dir: dir, bucket: "streambatch-e2e"}

	url, drop, err := testenv.CreateDatabase(ctx, "e2e")
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, drop)
	s.dbURL = url

	if s.s3, err = testenv.StartS3(ctx, filepath.Join(dir, "s3")); err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, s.s3.Stop)

	dev, err := testenv.StartTemporal(ctx, dir, "")
	if err != nil {
		return nil, cleanup, err
	}
	s.temporal = dev
	cleanups = append(cleanups, func() { _ = dev.Stop() })

	s.bin = filepath.Join(dir, "streambatch")
	build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "../cmd/streambatch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, cleanup, fmt.Errorf("build streambatch: %w", err)
	}

	// The API's address is known before the worker starts: the worker
	// writes it into payload references (STREAMBATCH_PAYLOAD_REF_URL).
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, cleanup, err
	}
	s.cfg = s.config("e2e")
	s.cfg.PayloadRefURL = "http://" + apiLn.Addr().String()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("STREAMBATCH_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.Open(ctx, s.cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT, logger)
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, a.Close)
	s.app = a
	if err := a.Blob.EnsureBucket(ctx); err != nil {
		return nil, cleanup, err
	}
	s.worker = a.Worker()
	if err := s.worker.Start(); err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, s.worker.Stop)
	s.api = &httptest.Server{Listener: apiLn, Config: &http.Server{Handler: a.API().Handler()}}
	s.api.Start()
	s.endpoint = endpoint{URL: s.api.URL}
	cleanups = append(cleanups, s.api.Close)
	return s, cleanup, nil
}

// config returns the test configuration on the given task queue.
func (s *stack) config(taskQueue string) config.Config {
	c := config.Default()
	c.DatabaseURL = s.dbURL
	c.TemporalAddress = s.temporal.FrontendHostPort()
	c.TaskQueue = taskQueue
	c.S3Endpoint = s.s3.Endpoint
	c.S3Bucket = s.bucket
	c.S3Region = s.s3.Region
	c.S3AccessKeyID, c.S3SecretAccessKey = s.s3.AccessKey, s.s3.SecretKey
	c.JWTSecret = "e2e-secret-e2e-secret-e2e-secret-e2e"
	c.PayloadKeys = e2ePayloadKeys
	c.DBMaxConns = 12 // many processes share the CI's PostgreSQL (100 connections)
	c.ChunkItems = 100
	c.SealWait = 90 * time.Second
	// The sliced tasks of the sliced-dispatch tests (no other test runs them).
	c.SlicedTasks = map[string]int{"echo-sliced": 5}
	return c
}

// e2ePayloadKeys encrypt the suite's Temporal payloads (a fixed test key).
const e2ePayloadKeys = testenv.PayloadKeys

// envPayloadKeys returns the key set of environment env's task workers
// (what `streambatch payload-key --env` prints), derived from the suite's.
func envPayloadKeys(t *testing.T, env string) string {
	t.Helper()
	keys, err := codec.ParseKeys(e2ePayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.EnvKeys(env)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// env returns the process environment for a streambatch subprocess.
func (s *stack) env(c config.Config) []string {
	return append(os.Environ(), c.Env()...)
}

// withConfig returns a copy of the stack whose API runs with cfg (sharing
// the connections); the caller's worker must serve cfg.TaskQueue.
func (s *stack) withConfig(t *testing.T, cfg config.Config) *stack {
	t.Helper()
	return s.withApp(t, &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s.app.Store, Blob: s.app.Blob, Temporal: s.app.Temporal})
}

// withApp returns a copy of the stack whose API is a's.
func (s *stack) withApp(t *testing.T, a *app.App) *stack {
	t.Helper()
	srv := httptest.NewServer(a.API().Handler())
	t.Cleanup(srv.Close)
	other := *s
	other.api = srv
	other.endpoint = endpoint{URL: srv.URL}
	return &other
}

// step runs one behaviour of a test whose steps share its setup and follow
// each other: a failure names the behaviour and ends the test.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// requireStack skips in -short mode.
func requireStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs PostgreSQL, Temporal and S3 (run without -short)")
	}
	return st
}

// newKey creates a fresh environment and API key for one test.
func (s *stack) newKey(t *testing.T) (env, key string) {
	t.Helper()
	ctx := context.Background()
	env = "t" + batch.NewStreamID()
	e, err := s.app.Store.EnsureEnvironment(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	key, err = s.app.Store.CreateAPIKey(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	return env, key
}

// The suite's one HTTP vocabulary. Every test reaches the API through an
// endpoint (a server's base URL; the shared stack embeds its own): call for
// any request, and createBatch, mustCreate, stream, streamWhole,
// batchStatus, runs and getJSON for the common ones, each decoding into the
// public wire types. send is the primitive underneath, for requests a test
// shapes itself (its own client, headers or URL); tests of the Go client
// use package client instead.

// reply is one HTTP answer, with its {"error": ...} message if it has one.
type reply struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Msg        string
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.StatusCode, cut(string(r.Body), 300))
}

// want requires the status and decodes a JSON answer into out (if
// non-nil).
func (r reply) want(t *testing.T, status int, out any) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("answer %s, want %d", r, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("answer %s: %v", r, err)
		}
	}
}

// cut shortens s to n bytes for a failure message.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// boundedClient bounds a request, so a hang fails the test instead of the
// whole package.
var boundedClient = &http.Client{Timeout: 2 * time.Minute}

// noRedirectClient is boundedClient without following redirects (to see a
// 3xx).
var noRedirectClient = &http.Client{Timeout: 2 * time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends one request with c; each edit sets headers and the like.
func send(t *testing.T, c *http.Client, method, url string, body io.Reader, edits ...func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, cut(url, 120), err)
	}
	for _, edit := range edits {
		if edit != nil {
			edit(req)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, cut(url, 120), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, cut(url, 120), err)
	}
	r := reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}
	var e wire.ErrorBody
	if json.Unmarshal(raw, &e) == nil {
		r.Msg = e.Error
	}
	return r
}

// withKey sets the Bearer key and the content type, each when not empty.
func withKey(key, ct string) func(*http.Request) {
	return func(r *http.Request) {
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
	}
}

// chunked hides the length of body, so the request is sent chunked.
func chunked(body []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(body)} }

// endpoint is one streambatch API server, by its base URL.
type endpoint struct {
	URL string
}

// call sends a request to path with the key and content type (each when not
// empty) and decodes a JSON answer into out (if non-nil).
func (e endpoint) call(t *testing.T, method, path, key string, body io.Reader, contentType string, out any) reply {
	t.Helper()
	r := send(t, http.DefaultClient, method, e.URL+path, body, withKey(key, contentType))
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, r.StatusCode, r.Body, err)
		}
	}
	return r
}

// getJSON GETs path with the key within 30 s and decodes a 200 answer.
func (e endpoint) getJSON(t *testing.T, key, path string, out any) {
	t.Helper()
	r := send(t, &http.Client{Timeout: 30 * time.Second}, http.MethodGet, e.URL+path, nil, withKey(key, ""))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.StatusCode, r.Body)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		t.Fatalf("GET %s: %v in %q", path, err, r.Body)
	}
}

// createResp is Phase 1's answer, or its error body.
type createResp struct {
	wire.CreateBatchResponse
	wire.ErrorBody
}

// createBatch sends Phase 1 with body encoded as JSON.
func (e endpoint) createBatch(t *testing.T, key string, body any) (reply, createResp) {
	t.Helper()
	raw, _ := json.Marshal(body)
	var out createResp
	r := e.call(t, http.MethodPost, "/api/v3/batches", key, bytes.NewReader(raw), "application/json", &out)
	return r, out
}

// mustCreate creates a batch of runCount items and returns its id.
func (e endpoint) mustCreate(t *testing.T, key string, runCount int) string {
	t.Helper()
	r, out := e.createBatch(t, key, map[string]any{"runCount": runCount})
	if r.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("create batch: %d %+v", r.StatusCode, out)
	}
	return out.ID
}

// mustTrigger creates a batch of n items, line(i) being item i's NDJSON
// line (without its newline), streams them in one request and returns the
// batch id once the answer is sealed.
func (e endpoint) mustTrigger(t *testing.T, key string, n int, line func(i int) string) string {
	t.Helper()
	var body bytes.Buffer
	for i := range n {
		body.WriteString(line(i))
		body.WriteByte('\n')
	}
	id := e.mustCreate(t, key, n)
	if code, res, raw := e.stream(t, key, id, body.Bytes()); code != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	return id
}

// streamResp is Phase 2's answer, or its error body.
type streamResp struct {
	wire.StreamItemsResponse
	wire.ErrorBody
}

// itemsPath is the Phase 2 path of a batch.
func itemsPath(batchID string) string { return "/api/v3/batches/" + batchID + "/items" }

// stream sends an NDJSON body with chunked transfer encoding (as the
// trigger.dev SDK does) and returns the status and decoded answer.
func (e endpoint) stream(t *testing.T, key, batchID string, body []byte) (int, streamResp, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		// Write in pieces so the server sees a real stream.
		for off := 0; off < len(body); off += 256 << 10 {
			end := min(off+256<<10, len(body))
			if _, err := pw.Write(body[off:end]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	r := e.call(t, http.MethodPost, itemsPath(batchID), key, pr, "application/x-ndjson", nil)
	var out streamResp
	_ = json.Unmarshal(r.Body, &out)
	return r.StatusCode, out, r.Body
}

// streamWhole sends a whole NDJSON body (Content-Length known) within
// 3 minutes and returns the status and decoded answer.
func (e endpoint) streamWhole(t *testing.T, key, batchID string, body []byte) (int, streamResp, []byte) {
	t.Helper()
	r := send(t, &http.Client{Timeout: 3 * time.Minute}, http.MethodPost, e.URL+itemsPath(batchID), bytes.NewReader(body), withKey(key, "application/x-ndjson"))
	var out streamResp
	_ = json.Unmarshal(r.Body, &out)
	return r.StatusCode, out, r.Body
}

// batchStatus GETs a batch and requires 200.
func (e endpoint) batchStatus(t *testing.T, key, batchID string) wire.BatchStatus {
	t.Helper()
	var b wire.BatchStatus
	r := e.call(t, http.MethodGet, "/api/v3/batches/"+batchID, key, nil, "", &b)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("get batch: %d %s", r.StatusCode, r.Body)
	}
	return b
}

// runs lists every run of a batch through the paginated endpoint.
func (e endpoint) runs(t *testing.T, key, batchID string) []wire.Run {
	t.Helper()
	var all []wire.Run
	cursor := ""
	for {
		var page wire.RunsPage
		p := "/api/v3/batches/" + batchID + "/runs?limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		e.getJSON(t, key, p, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}

// missing GETs the missing indexes of a batch and requires 200.
func (e endpoint) missing(t *testing.T, key, batchID string) wire.Missing {
	t.Helper()
	var m wire.Missing
	r := send(t, boundedClient, http.MethodGet, e.URL+"/api/v3/batches/"+batchID+"/missing", nil, withKey(key, ""))
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &m) != nil {
		t.Fatalf("missing of %s: %s", batchID, r)
	}
	return m
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// item is one NDJSON line as a client sends it.
type item struct {
	Index   int            `json:"index"`
	Task    string         `json:"task"`
	Payload any            `json:"payload,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// ndjson encodes items one per line.
func ndjson(items []item) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// randomText returns n printable bytes, different for each seed.
func randomText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 42))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:-_"
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// simpleItems returns n items with small string payloads.
func simpleItems(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{Index: i, Task: "email", Payload: fmt.Sprintf(`{"n":%d}`, i)}
	}
	return out
}
