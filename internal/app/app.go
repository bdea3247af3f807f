// Package app wires streambatch's components from a config.Config: the
// PostgreSQL store, the S3 blob store, the Temporal client, the API server
// and the worker. The cmd/streambatch subcommands and the end-to-end tests
// both build on it, so they run the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/sethvargo/go-retry"
	ingestact "github.com/streambatch/streambatch/activities/ingest"
	runsact "github.com/streambatch/streambatch/activities/runs"
	sweepact "github.com/streambatch/streambatch/activities/sweep"
	"github.com/streambatch/streambatch/api"
	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/sealbox"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/worker"
	"github.com/streambatch/streambatch/workflows/flow"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// App is a connected set of components. Fields are nil when the Need given
// to Open did not ask for them.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Store    *store.Store
	Blob     *blob.Store
	Temporal client.Client
	// Metrics is the process's Prometheus registry (nil when the App was
	// assembled by hand, as tests do).
	Metrics *metrics.Metrics
}

// NewLogger returns the JSON logger of the given level, writing to stderr.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// Open validates cfg for need and connects what it needs. PostgreSQL
// migrations are applied (under an advisory lock) whenever the database is
// needed.
func Open(ctx context.Context, cfg config.Config, need config.Need, logger *slog.Logger) (*App, error) {
	if err := cfg.Validate(need); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: logger, Metrics: metrics.New()}
	a.Metrics.SetLogger(logger)
	if need&config.NeedDatabase != 0 {
		st, err := store.Open(ctx, cfg.DatabaseURL, cfg.MaxConns())
		if err != nil {
			return nil, err
		}
		a.Store = st
		if cfg.JWTSecret != "" {
			// API key secrets are kept sealed under a key derived from the
			// JWT secret, so tokens the trigger.dev SDK signs verify.
			box, err := sealbox.New(cfg.JWTSecret)
			if err != nil {
				a.Close()
				return nil, fmt.Errorf("%s: %w", config.EnvJWTSecret, err)
			}
			st.UseSealer(box)
		}
		a.Metrics.Register(metrics.NewBatchStates(st.CountBatchesByState))
		a.Metrics.Register(metrics.NewRunsWaiting(waitingByQueue(st)))
		applied, err := st.Migrate(ctx)
		if err != nil {
			a.Close()
			return nil, err
		}
		if len(applied) > 0 {
			logger.Info("applied migrations", "versions", applied)
		}
	}
	if need&config.NeedS3 != 0 {
		b, err := blob.New(ctx, blob.Config{Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Region: cfg.S3Region,
			AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey, PublicEndpoint: cfg.S3PublicEndpoint})
		if err != nil {
			a.Close()
			return nil, err
		}
		a.Blob = b
	}
	if need&config.NeedTemporal != 0 {
		opts := client.Options{
			HostPort:       cfg.TemporalAddress,
			Namespace:      cfg.TemporalNamespace,
			Logger:         log.NewStructuredLogger(logger.With("component", "temporal")),
			MetricsHandler: a.Metrics.TemporalHandler(),
		}
		keys, err := codec.ParseKeys(cfg.PayloadKeys)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("%s: %w", config.EnvPayloadKeys, err)
		}
		codec.Apply(&opts, keys)
		if err := temporalOptions(cfg, &opts); err != nil {
			a.Close()
			return nil, err
		}
		c, err := client.DialContext(ctx, opts)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("temporal: connect to %s (%s): %w", cfg.TemporalAddress, config.EnvTemporalAddress, err)
		}
		a.Temporal = c
		if err := worker.EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace, time.Minute, logger); err != nil {
			if errors.Is(err, worker.ErrNoNamespace) {
				a.Close()
				return nil, err
			}
			// Permission denied (Temporal Cloud registers them with tcld)
			// or a server that lacks the operator API: say what to do.
			logger.Warn("search attributes not registered; register BatchId, BatchState, BatchEnv (Keyword) yourself", "error", err)
		}
	}
	return a, nil
}

// SetMemoryLimit applies the configuration's soft memory limit for role,
// unless GOMEMLIMIT is set (the runtime then already applied it).
func SetMemoryLimit(cfg config.Config, role string, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := cfg.SoftMemoryLimit(role)
	debug.SetMemoryLimit(limit)
	logger.Debug("soft memory limit", "bytes", limit)
}

// Close releases every connection.
func (a *App) Close() {
	if a.Temporal != nil {
		a.Temporal.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
}

// API builds the HTTP API server.
func (a *App) API() *api.Server {
	c := a.Config
	wf := ingestwf.NewClient(a.Temporal, c.TaskQueue)
	ing := ingest.New(ingest.Limits{
		ItemMaxBytes: c.ItemMaxBytes, OffloadThreshold: c.OffloadThreshold, ChunkItems: c.ChunkItems,
		ChunkBytes: c.ChunkBytes, ChunkInlineBytes: c.ChunkInlineBytes, ChunksInFlight: c.ChunksInFlight,
		UploadsInFlight: c.UploadsInFlight, UploadBytesInFlight: c.UploadBytesInFlight, Memory: c.IngestMemory,
	}, a.Blob, recordingSignaler{wf: wf, store: a.Store}, a.chunkSigner(), a.Log, a.Metrics)
	return api.New(api.Options{
		MaxItems: c.MaxItems, SealTimeout: c.SealTimeout, SealWait: c.SealWait, AbortWait: c.AbortWait,
		WorkflowWindow: c.WorkflowWindow, RunsHere: a.runsHere(), JWTSecret: c.JWTSecret, PayloadRefs: a.payloadRefSigner(),
		CreateRate: c.CreateRate, CreateBurst: c.CreateBurst, BodyIdleTimeout: c.BodyIdleTimeout,
		ReadTimeout: c.HTTPReadTimeout, WriteTimeout: c.HTTPWriteTimeout,
		ReadPageBytes: c.ReadPageBytes, ReadConcurrency: c.ReadConcurrency, RealtimeLive: c.RealtimeLive,
	}, api.Deps{
		Store: a.Store, Workflows: wf, Runs: a.Runs(), Ingester: ing, Log: a.Log, Packets: a.Blob, Metrics: a.Metrics,
		Ready: map[string]api.Checker{
			"postgres": a.Store.Ping,
			"s3":       a.Blob.CheckBucket,
			"temporal": func(ctx context.Context) error {
				_, err := a.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			},
		},
	})
}

// EnsureSweepSchedule creates or updates the Temporal Schedule of the
// object sweeper from the configuration.
func (a *App) EnsureSweepSchedule(ctx context.Context) error {
	c := a.Config
	return worker.EnsureSweepSchedule(ctx, a.Temporal, worker.SweepOptions{
		TaskQueue: c.TaskQueue, Every: c.SweepEvery, Grace: c.SweepGrace, Limit: 50,
	})
}

// chunkSigner derives the signer of chunk references from the server
// secret (STREAMBATCH_JWT_SECRET, which serve and worker require); without
// one, nothing signs and every chunk is refused.
// payloadRefSigner verifies payload references in the API (nil without a
// server secret: the payload route then refuses every reference).
func (a *App) payloadRefSigner() *batch.PayloadRefSigner {
	s, err := batch.NewPayloadRefSigner(a.Config.JWTSecret)
	if err != nil {
		return nil
	}
	return s
}

func (a *App) chunkSigner() *batch.ChunkSigner {
	s, err := batch.NewChunkSigner(a.Config.JWTSecret)
	if err != nil {
		return nil
	}
	return s
}

// payloadRefs returns how the worker sends large payloads by reference
// (nil, every payload inline, without STREAMBATCH_PAYLOAD_REF_URL or a
// server secret).
func (a *App) payloadRefs() *runsact.PayloadRefs {
	c := a.Config
	if !c.PayloadsByRef() {
		return nil
	}
	s := a.payloadRefSigner()
	if s == nil {
		return nil
	}
	return &runsact.PayloadRefs{Signer: s, BaseURL: c.PayloadRefURL, Threshold: c.PayloadRefThreshold, TTL: c.PayloadRefTTL}
}

// Runs returns the client of BatchRuns workflows, with the configured run
// defaults.
func (a *App) Runs() *runswf.Client {
	c := a.Config
	return runswf.NewClient(a.Temporal, c.RunsTaskQueue(), runswf.Input{Execution: a.runExecution()})
}

// runsHere is how small batches' BatchIngest executes their runs (nil:
// never, STREAMBATCH_SMALL_BATCH_RUNS=0).
func (a *App) runsHere() *flow.RunsHere {
	if a.Config.SmallBatchRuns == 0 {
		return nil
	}
	return &flow.RunsHere{MaxRuns: a.Config.SmallBatchRuns, Execution: a.runExecution()}
}

// runExecution is the configured window and run defaults.
func (a *App) runExecution() flow.Execution {
	c := a.Config
	return flow.Execution{Concurrency: c.RunConcurrency, MaxAttempts: c.RunMaxAttempts, MaxDuration: c.RunMaxDuration}
}

// recordingSignaler signals a chunk to its batch's workflow, then records
// its indexes in PostgreSQL (store.AcceptedIndexes), where later Phase 2
// requests read what is already accepted. While PostgreSQL is unavailable
// the record is retried for up to recordWait (the stream waits: a restart
// of PostgreSQL does not fail it); a request whose record still fails
// fails, its client re-sends, and the workflow deduplicates what the
// signal delivered.
type recordingSignaler struct {
	wf    *ingestwf.Client
	store *store.Store
}

// recordWait bounds how long a chunk's record waits for PostgreSQL.
const recordWait = 30 * time.Second

func (r recordingSignaler) SignalChunk(ctx context.Context, in ingestwf.Input, ch batch.ChunkRef) error {
	if err := r.wf.SignalChunk(ctx, in, ch); err != nil {
		return err
	}
	backoff := retry.WithMaxDuration(recordWait, retry.WithCappedDuration(2*time.Second, retry.NewExponential(100*time.Millisecond)))
	return retry.Do(ctx, backoff, func(ctx context.Context) error {
		err := r.store.RecordChunk(ctx, in.BatchID, ch.Stream, ch.Seq, ch.Indexes)
		if err != nil && store.Unavailable(err) {
			return retry.RetryableError(err)
		}
		return err
	})
}

// Worker builds the Temporal workers with the workflows and activities.
func (a *App) Worker() worker.Group {
	// The worker's configuration was validated with its payload keys.
	keys, err := codec.ParseKeys(a.Config.PayloadKeys)
	if err != nil {
		keys = nil // NotifyParent then refuses every parent, saying why
	}
	flows := worker.Flows{
		Ingest: &ingestact.Activities{Runs: a.Store, Objects: a.Blob, MaxChunkBytes: 256 << 20, Metrics: a.Metrics,
			Signer: a.chunkSigner(), Dispatcher: a.Runs()},
		Runs: &runsact.Activities{Exec: a.Store, Objects: a.Blob, Temporal: a.Temporal, Parents: a.Temporal, Keys: keys,
			OutputOffloadThreshold: a.Config.OffloadThreshold, RunDefaultTTL: a.Config.RunDefaultTTL, Metrics: a.Metrics,
			Waker: a.Runs(), Starter: a.Runs(), Log: a.Log, Slices: runsact.Slices(a.Config.SlicedTasks), PayloadRefs: a.payloadRefs()},
		Sweep: &sweepact.Activities{Store: a.Store, Objects: a.Blob, Ingest: ingestwf.NewClient(a.Temporal, a.Config.TaskQueue), Runs: a.Runs(), Metrics: a.Metrics},
	}
	return worker.NewGroup(a.Temporal, flows, worker.Options{TaskQueue: a.Config.TaskQueue, ActivityConcurrency: a.Config.IngestConcurrency}, a.Config.RunsTaskQueue())
}

// ShutdownTimeout bounds how long in-flight requests may run after a stop
// signal.
const ShutdownTimeout = 60 * time.Second

// Serve runs handler on ln until ctx ends, then lets in-flight requests
// finish for up to ShutdownTimeout.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, logger *slog.Logger) error {
	srv := api.NewHTTPServer(handler, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down HTTP server", "timeout", ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitingByQueue reads the runs waiting for a task worker for the
// streambatch_runs_waiting_for_worker gauges.
func waitingByQueue(st *store.Store) func(ctx context.Context) ([]metrics.QueueWaiting, error) {
	return func(ctx context.Context) ([]metrics.QueueWaiting, error) {
		all, err := st.WaitingByQueue(ctx)
		out := make([]metrics.QueueWaiting, len(all))
		for k, w := range all {
			out[k] = metrics.QueueWaiting{Env: w.Env, Queue: w.Queue, Runs: w.Runs, Since: w.Since}
		}
		return out, err
	}
}
