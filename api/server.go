package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/workflows/flow"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// Options are the API's settings (see config.Config).
type Options struct {
	MaxItems       int
	SealTimeout    time.Duration
	SealWait       time.Duration
	AbortWait      time.Duration
	WorkflowWindow int
	// RunsHere lets a small batch's BatchIngest execute its runs itself
	// (nil: every batch's runs go to a BatchRuns workflow).
	RunsHere  *flow.RunsHere
	JWTSecret string
	// CreateRate and CreateBurst are each environment's token bucket for
	// batch creation, counted in runs (runs per second, bucket size), kept
	// in PostgreSQL and shared by every replica; 0 rate disables it.
	CreateRate  float64
	CreateBurst int
	// BodyIdleTimeout ends a Phase 2 request whose body sends nothing for
	// this long (408); 0 disables it.
	BodyIdleTimeout time.Duration
	// ReadTimeout bounds the time to send a request's body, Phase 2's
	// excepted (0: unbounded; see deadlines).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time a client takes to read an answer from
	// its first byte, Phase 2's excepted (0: unbounded).
	WriteTimeout time.Duration
	// ReadPageBytes is the byte budget of one page of a read route (stored
	// payload, output, options and error of its runs; default 4 MiB): a
	// page ends before the run that would pass it, and its cursor goes on
	// from there.
	ReadPageBytes int
	// ReadConcurrency is how many heavy reads each environment may have in
	// flight at once across replicas (beyond: 429 with Retry-After); 0
	// means no limit.
	ReadConcurrency int
	// RealtimeLive is how many live realtime requests (long polls of
	// subscriptions) each environment may have at once on this server
	// (beyond: 429 with Retry-After); 0 means 100.
	RealtimeLive int
	// RealtimeWait is how long a live realtime request waits for a change
	// before it answers up-to-date alone (0: 20 s); RealtimePoll is how
	// often it looks for one meanwhile (0: 500 ms).
	RealtimeWait, RealtimePoll time.Duration
	// PayloadRefs verifies the payload references task workers present
	// (the worker signs them with the same server secret); nil refuses
	// every reference.
	PayloadRefs *batch.PayloadRefSigner
}

// Checker is a readiness probe of one dependency.
type Checker func(ctx context.Context) error

// Deps are the API's collaborators.
type Deps struct {
	Store     *store.Store
	Workflows *ingestwf.Client
	// Runs starts, signals and waits for BatchRuns workflows.
	Runs     *runswf.Client
	Ingester *ingest.Ingester
	// Packets presigns client uploads of large payloads.
	Packets Presigner
	// Ready lists named readiness checks (PostgreSQL, Temporal, S3).
	Ready map[string]Checker
	Log   *slog.Logger
	// Metrics records request metrics and serves /metrics (nil: neither).
	Metrics *metrics.Metrics
	// Reads bounds each environment's heavy reads in flight (nil:
	// NewSharedReadGate of Options.ReadConcurrency on Store).
	Reads ReadGate
}

// Server holds the handlers' dependencies.
type Server struct {
	opts     Options
	store    batchStore
	wf       ingestWorkflows
	runs     runWorkflows
	queues   queueStore
	waker    queueWaker
	ingester itemIngester
	packets  Presigner
	ready    map[string]Checker
	log      *slog.Logger
	metrics  *metrics.Metrics
	creates  *createLimiter
	reads    ReadGate
	// eachRun streams a page of runs (store.EachRun; a fake in tests).
	eachRun func(ctx context.Context, batchID string, filter store.RunFilter, after, limit, maxBytes int, fn func(*store.Run) bool) (bool, error)
	// eachEnvRun streams a page of an environment's runs
	// (store.EachEnvRun; a fake in tests).
	eachEnvRun func(ctx context.Context, envID int64, filter store.RunFilter, after string, limit, maxBytes int, fn func(*store.Run) bool) (bool, error)
	// eachRunBefore and eachEnvRunBefore stream the page before a run
	// (store.EachRunBefore, store.EachEnvRunBefore; fakes in tests).
	eachRunBefore    func(ctx context.Context, batchID string, filter store.RunFilter, before, limit, maxBytes int, fn func(*store.Run) bool) (bool, error)
	eachEnvRunBefore func(ctx context.Context, envID int64, filter store.RunFilter, before string, limit, maxBytes int, fn func(*store.Run) bool) (bool, error)
	// runChanges reads a page of the runs changed since an offset
	// (store.RunChanges; a fake in tests).
	runChanges func(ctx context.Context, q store.ChangeQuery, at store.ChangeOffset, limit, maxBytes int,
		fn func(*store.RunChange) bool) (store.ChangeOffset, bool, error)
	// live counts each environment's live realtime requests.
	live      *liveLimiter
	jwtSecret []byte
	// sealPoll is the seal wait's polling schedule (zero: the defaults).
	sealPoll sealPolling
}

// New returns the API server; Handler gives its http.Handler.
func New(opts Options, deps Deps) *Server {
	reads := deps.Reads
	if reads == nil && opts.ReadConcurrency > 0 {
		reads = NewSharedReadGate(deps.Store, opts.ReadConcurrency, deps.Log)
	}
	var waker queueWaker
	if deps.Runs != nil {
		waker = deps.Runs
	}
	return &Server{opts: opts, store: deps.Store, wf: deps.Workflows, runs: deps.Runs, queues: deps.Store, waker: waker, ingester: deps.Ingester,
		packets: deps.Packets, ready: deps.Ready, log: deps.Log, metrics: deps.Metrics,
		creates: newCreateLimiter(opts.CreateRate, opts.CreateBurst, deps.Store.TakeCreateTokens), reads: reads, eachRun: deps.Store.EachRun,
		eachEnvRun: deps.Store.EachEnvRun, eachRunBefore: deps.Store.EachRunBefore, eachEnvRunBefore: deps.Store.EachEnvRunBefore,
		runChanges: deps.Store.RunChanges, live: newLiveLimiter(realtimeLiveLimit(opts.RealtimeLive)),
		jwtSecret: []byte(opts.JWTSecret)}
}

// realtimeLiveLimit is Options.RealtimeLive with its default.
func realtimeLiveLimit(n int) int {
	if n <= 0 {
		return defaultRealtimeLive
	}
	return n
}

// Handler builds the Gin engine with every route; serve it with
// NewHTTPServer.
func (s *Server) Handler() http.Handler { return s.engine() }

func (s *Server) engine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.deadlines, s.requestLog(), gin.CustomRecovery(func(c *gin.Context, err any) {
		s.log.ErrorContext(c.Request.Context(), "panic", "error", err, "request_id", requestID(c))
		fail(c, http.StatusInternalServerError, "Something went wrong")
	}))
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "Not found") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "Method not allowed") })

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.metrics != nil {
		r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	}

	v3 := r.Group("/api/v3")
	v3.POST("/batches", s.authenticateCreate, s.createBatch)
	// Content type is checked before authentication, as trigger.dev does.
	r.POST(itemsRoute, s.drainAfterEarlyAnswer, s.requireNDJSON, s.authenticateScopedOr(true, batchTarget, s.grantTokenStream), s.streamItems)
	v3.GET("/batches/:batchId/items", func(c *gin.Context) {
		fail(c, http.StatusMethodNotAllowed, "Method not allowed. Use POST to stream batch items as NDJSON.")
	})
	read := s.authenticateScoped(false, batchTarget)
	v3.GET("/batches/:batchId", read, s.getBatch)
	// Heavy reads (pages of runs, results, run ids, a run with its
	// payload and output) count against the environment's reads in flight.
	v3.GET("/batches/:batchId/runs", read, s.heavyRead, s.listRuns)
	v3.POST("/batches/:batchId/abort", s.authenticate, s.abortBatch)
	v3.GET("/batches/:batchId/missing", read, s.missingIndexes)
	v3.POST("/batches/:batchId/replay", s.authenticate, s.replayBatch)
	v3.POST("/runs/:runId/cancel", s.authenticate, s.cancelRun)
	// Task workers read payloads sent by reference; the signed reference
	// authenticates (payloadref.go).
	r.GET(payloadRefRoute, s.runPayload)

	r.PUT("/api/v2/packets/*filename", s.authenticateUpload, s.presignPacket)

	// The trigger.dev SDK's read side (triggerdev.go).
	v3.GET("/runs/:runId", s.authenticateScopedOr(false, runTarget, s.grantRunRead), s.heavyRead, s.tdRetrieveRun)
	r.GET("/api/v1/batches/:batchId", read, s.heavyRead, s.tdRetrieveBatch(false))
	r.GET("/api/v2/batches/:batchId", read, s.heavyRead, s.tdRetrieveBatch(true))
	r.GET("/api/v1/batches/:batchId/results", read, s.heavyRead, s.tdBatchResults)
	r.GET("/api/v1/runs/:runId/result", s.authenticateScopedOr(false, runTarget, s.grantRunRead), s.tdRunResult)
	r.GET("/api/v1/runs", s.authenticateScopedOr(false, listTarget, grantListRead), s.heavyRead, s.tdListRuns)
	r.POST("/api/v2/runs/:runId/cancel", s.authenticate, s.tdCancelRun)
	r.POST("/api/v1/runs/:runId/replay", s.authenticate, s.tdReplayRun)
	r.POST("/api/v1/runs/:runId/reschedule", s.authenticate, s.tdRescheduleRun)
	r.POST("/api/v1/runs/:runId/tags", s.authenticate, s.tdAddTags)
	r.GET("/api/v1/runs/:runId/metadata", s.authenticate, s.tdGetMetadata)
	r.PUT("/api/v1/runs/:runId/metadata", s.authenticate, s.tdUpdateMetadata)
	r.POST("/api/v1/idempotencyKeys/:key/reset", s.authenticate, s.tdResetIdempotencyKey)
	r.POST("/api/v1/auth/jwt/claims", s.authenticate, s.jwtClaims)
	r.GET("/api/v1/queues", s.tdQueueRead, s.heavyRead, s.tdListQueues)
	r.GET("/api/v1/queues/:queue", s.tdQueueRead, s.heavyRead, s.tdRetrieveQueue)
	r.POST("/api/v1/queues/:queue/pause", s.authenticate, s.tdPauseQueue)
	r.POST("/api/v1/queues/:queue/concurrency/override", s.authenticate, s.tdOverrideQueueLimit)
	r.POST("/api/v1/queues/:queue/concurrency/reset", s.authenticate, s.tdResetQueueLimit)

	// The SDK's realtime subscriptions (realtime.go), for browsers too.
	rt := r.Group("/realtime/v1", realtimeCORS)
	for _, path := range []string{"/runs", "/runs/:runId", "/batches/:batchId"} {
		rt.OPTIONS(path, func(*gin.Context) {}) // answered by realtimeCORS
	}
	rt.GET("/runs/:runId", s.authenticateScopedOr(false, runTarget, s.grantRunRead), s.heavyReadUnlessLive, s.realtimeRun)
	rt.GET("/batches/:batchId", read, s.heavyReadUnlessLive, s.realtimeBatch)
	rt.GET("/runs", s.authenticateScopedOr(false, tagsTarget, grantTagsRead), s.heavyReadUnlessLive, s.realtimeTagged)
	return r
}

// workflowInput derives a batch's workflow input from its row; Phase 1 and
// every Phase 2 request derive the same one.
func (s *Server) workflowInput(b store.Batch) ingestwf.Input {
	return ingestwf.Input{
		BatchID:      b.ID,
		Env:          b.EnvName,
		RunCount:     b.RunCount,
		CreatedAt:    b.CreatedAt,
		SealDeadline: sealDeadline(b, s.opts.SealTimeout),
		Window:       s.opts.WorkflowWindow,
		RunsHere:     s.opts.RunsHere,
	}
}

// sealDeadline is the batch's seal deadline: the one its row holds, or,
// for a batch created before rows held one, its creation plus timeout.
func sealDeadline(b store.Batch, timeout time.Duration) time.Time {
	if b.SealDeadline != nil {
		return *b.SealDeadline
	}
	return b.CreatedAt.Add(timeout)
}

// loadBatch resolves :batchId in the caller's environment; a malformed id,
// a missing batch and another environment's batch all read "not found".
func (s *Server) loadBatch(c *gin.Context, status int) (store.Batch, bool) {
	return s.findBatch(c, envOf(c).ID, c.Param("batchId"), status)
}

// findBatch reads batch id of environment envID, or answers status (not
// found) or 500.
func (s *Server) findBatch(c *gin.Context, envID int64, id string, status int) (store.Batch, bool) {
	if !batch.ValidBatchID(id) {
		fail(c, status, "Batch "+truncate(id, 64)+" not found")
		return store.Batch{}, false
	}
	b, err := s.store.GetBatch(c.Request.Context(), envID, id)
	if err == store.ErrNotFound {
		fail(c, status, "Batch "+id+" not found")
		return store.Batch{}, false
	}
	if err != nil {
		s.failInternal(c, err, true)
		return store.Batch{}, false
	}
	return b, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
