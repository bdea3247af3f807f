package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/devstack"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/store"
)

// Stack is a streambatch started for the benchmark: PostgreSQL, versitygw
// and Temporal (package devstack), the latency proxy in front of S3, and
// `streambatch serve` and `streambatch worker` as their own processes so
// their memory can be measured.
type Stack struct {
	Services *devstack.Stack
	Proxy    *LatencyProxy
	Config   config.Config // as given to serve and worker
	APIURL   string        // the first replica's
	APIKey   string
	API      *proc.Process // the first replica
	Worker   *proc.Process // the first worker
	// APIURLs, APIs and Workers list every replica and worker
	// (StackOptions).
	APIURLs []string
	APIs    []*proc.Process
	Workers []*proc.Process
	Store   *store.Store
	Objects *blob.Store // through the proxy

	bin string   // the streambatch binary
	env []string // the environment of serve and worker
}

// StackOptions shape the stack: the scale-out runs use the real Temporal
// server and several workers and API replicas.
type StackOptions struct {
	// TemporalServer runs the real Temporal server on PostgreSQL instead
	// of the in-memory dev server.
	TemporalServer bool
	// Workers and Replicas count `streambatch worker` and `streambatch
	// serve` processes (default 1 each).
	Workers, Replicas int
}

// StartStack brings the stack up with data under dir. bin is the
// streambatch binary; base holds the settings to pass on (tuning knobs).
func StartStack(ctx context.Context, dir, bin string, base config.Config, opts StackOptions, log *slog.Logger) (s *Stack, err error) {
	s = &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	opts.Workers, opts.Replicas = max(opts.Workers, 1), max(opts.Replicas, 1)
	if s.Services, err = devstack.Start(ctx, devstack.Options{DataDir: dir, DatabaseURL: base.DatabaseURL, Log: log,
		TemporalInMemory: !opts.TemporalServer, TemporalServer: opts.TemporalServer}); err != nil {
		return s, err
	}
	if s.Proxy, err = NewLatencyProxy(s.Services.S3Endpoint); err != nil {
		return s, err
	}
	cfg := base
	cfg.DatabaseURL = s.Services.DatabaseURL
	cfg.TemporalAddress = s.Services.TemporalAddress
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = s.Proxy.URL, s.Services.S3AccessKey, s.Services.S3SecretKey
	if cfg.S3Bucket == "" {
		cfg.S3Bucket = "streambatch-bench"
	}
	cfg.JWTSecret = "bench-bench-bench-bench-bench-bench-bench"
	// The scenarios time Phase 2 until every run exists, as the baselines
	// do: the API waits for the seal instead of answering on acceptance.
	cfg.SealWait = 2 * time.Minute
	if cfg.PayloadKeys, err = codec.NewKey("bench"); err != nil {
		return s, err
	}
	cfg.LogLevel = "debug" // to files under the stack's logs folder
	if cfg.HTTPAddr, err = proc.FreeAddr(); err != nil {
		return s, err
	}
	if cfg.PayloadRefURL == "" {
		// Payloads go by reference unless STREAMBATCH_PAYLOAD_REF_THRESHOLD
		// is 0: the bench's task worker reaches the first API.
		cfg.PayloadRefURL = "http://" + cfg.HTTPAddr
	}
	s.Config = cfg
	if s.Objects, err = blob.New(ctx, blob.Config{Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Region: cfg.S3Region,
		AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey}); err != nil {
		return s, err
	}
	if err = s.Objects.EnsureBucket(ctx); err != nil {
		return s, err
	}
	if s.Store, err = store.Open(ctx, cfg.DatabaseURL, 32); err != nil {
		return s, err
	}
	if _, err = s.Store.Migrate(ctx); err != nil {
		return s, err
	}
	env := append(os.Environ(), cfg.Env()...)
	s.bin, s.env = bin, env
	// With STREAMBATCH_BENCH_PPROF set, serve and worker expose profiles on
	// 127.0.0.1:6061 and :6062 (further replicas and workers: +2 each).
	debug := func(port string) []string {
		if os.Getenv("STREAMBATCH_BENCH_PPROF") == "" {
			return nil
		}
		return []string{config.EnvDebugAddr + "=127.0.0.1:" + port}
	}
	for k := range opts.Workers {
		p, err := proc.StartProcess(filepath.Join(s.Services.LogDir, fmt.Sprintf("bench-worker%d.log", k+1)), append(env, debug(fmt.Sprint(6062+2*k))...), bin, "worker")
		if err != nil {
			return s, err
		}
		s.Workers = append(s.Workers, p)
	}
	s.Worker = s.Workers[0]
	for k := range opts.Replicas {
		addr := cfg.HTTPAddr
		if k > 0 {
			if addr, err = proc.FreeAddr(); err != nil {
				return s, err
			}
		}
		p, err := proc.StartProcess(filepath.Join(s.Services.LogDir, fmt.Sprintf("bench-serve%d.log", k+1)),
			append(append(slices.Clone(env), debug(fmt.Sprint(6061+2*k))...), config.EnvHTTPAddr+"="+addr), bin, "serve")
		if err != nil {
			return s, err
		}
		s.APIs = append(s.APIs, p)
		url := "http://" + addr
		if err = waitReady(ctx, url+"/readyz", p); err != nil {
			return s, err
		}
		s.APIURLs = append(s.APIURLs, url)
	}
	s.API, s.APIURL = s.APIs[0], s.APIURLs[0]
	e, err := s.Store.EnsureEnvironment(ctx, "bench")
	if err != nil {
		return s, err
	}
	s.APIKey, err = s.Store.CreateAPIKey(ctx, e)
	return s, err
}

// StartAPI starts one more `streambatch serve` beside the stack's, with
// extra settings (KEY=VALUE), and returns its base URL; Stop stops it.
func (s *Stack) StartAPI(ctx context.Context, name string, extra ...string) (string, *proc.Process, error) {
	return s.StartAPIFrom(ctx, name, s.bin, extra...)
}

// StartAPIFrom is StartAPI with another streambatch binary (another
// version, to compare).
func (s *Stack) StartAPIFrom(ctx context.Context, name, bin string, extra ...string) (string, *proc.Process, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	env := append(append(slices.Clone(s.env), extra...), config.EnvHTTPAddr+"="+addr)
	p, err := proc.StartProcess(filepath.Join(s.Services.LogDir, "bench-"+name+".log"), env, bin, "serve")
	if err != nil {
		return "", nil, err
	}
	url := "http://" + addr
	if err := waitReady(ctx, url+"/readyz", p); err != nil {
		p.Stop(10 * time.Second)
		return "", nil, err
	}
	return url, p, nil
}

func waitReady(ctx context.Context, url string, p *proc.Process) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			log, _ := os.ReadFile(p.Log)
			return fmt.Errorf("streambatch serve exited: %s", log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("streambatch serve not ready at %s after 60 s (see %s)", url, p.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops everything the stack started.
func (s *Stack) Stop() {
	for _, p := range slices.Concat(s.APIs, s.Workers) {
		p.Stop(10 * time.Second)
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.Proxy != nil {
		s.Proxy.Close()
	}
	if s.Services != nil {
		s.Services.Stop()
	}
}
