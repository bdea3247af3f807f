package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/config"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/testenv"
	"github.com/streambatch/streambatch/internal/versitygw"
	sbworker "github.com/streambatch/streambatch/worker"
)

// stack is the shared real environment of this package's tests.
type stack struct {
	endpoint // the API's, the suite's way to call it (http_test.go)

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
	cluster  bool           // the production topology (cluster_test.go)
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

	s.cfg = s.config("e2e")
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
	s.api = httptest.NewServer(a.API().Handler())
	s.endpoint = endpoint{URL: s.URL}
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
