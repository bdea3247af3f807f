// Package config is streambatch's one configuration struct: every setting,
// its environment variable, its default and its validation live here.
//
// It reads nothing but the environment function it is given and imports no
// other streambatch package.
package config

import (
	"errors"
	"fmt"
	"github.com/streambatch/streambatch/codec"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration of the serve, worker and dev commands.
// Load it with FromEnv; the zero value is not useful (use Default).
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (DATABASE_URL).
	// Required by every command that touches the database.
	DatabaseURL string
	// DBMaxConns caps the pgx pool (STREAMBATCH_DB_MAX_CONNS). Default 0
	// means IngestConcurrency + 8.
	DBMaxConns int

	// TemporalAddress is the frontend host:port (TEMPORAL_ADDRESS, default
	// 127.0.0.1:7233).
	TemporalAddress string
	// TemporalNamespace is the namespace (TEMPORAL_NAMESPACE, default
	// "default").
	TemporalNamespace string
	// TemporalTLS turns on TLS to the Temporal frontend with the system's
	// roots (TEMPORAL_TLS, default false); it is implied by any of the
	// settings below and by TemporalAPIKey.
	TemporalTLS bool
	// TemporalTLSCAFile is a PEM bundle of the CAs that sign the frontend's
	// certificate (TEMPORAL_TLS_CA_FILE; empty = the system's roots).
	TemporalTLSCAFile string
	// TemporalTLSCertFile and TemporalTLSKeyFile are the client certificate
	// and key for mutual TLS (TEMPORAL_TLS_CERT_FILE, TEMPORAL_TLS_KEY_FILE;
	// both or neither).
	TemporalTLSCertFile string
	TemporalTLSKeyFile  string
	// TemporalTLSServerName overrides the name the frontend's certificate
	// is checked against (TEMPORAL_TLS_SERVER_NAME; empty = the host of
	// TemporalAddress).
	TemporalTLSServerName string
	// TemporalAPIKey authenticates to Temporal Cloud (TEMPORAL_API_KEY;
	// sent as a bearer credential over TLS). Never logged.
	TemporalAPIKey string
	// TaskQueue is the Temporal task queue of workflows and activities
	// (STREAMBATCH_TASK_QUEUE, default "streambatch").
	TaskQueue string
	// PayloadKeys encrypt every payload handed to Temporal
	// (STREAMBATCH_PAYLOAD_KEYS: comma-separated id:base64-key pairs of
	// 32-byte AES keys; the first encrypts, all decrypt; see package codec).
	// Required wherever Temporal is; task workers need the same. Never
	// logged.
	PayloadKeys string
	// CodecAddr is where `streambatch codec-server` listens
	// (STREAMBATCH_CODEC_ADDR, default 127.0.0.1:8089).
	CodecAddr string
	// CodecOrigins are the browser origins (Temporal UI) the codec server
	// answers (STREAMBATCH_CODEC_ORIGINS, comma-separated, default
	// http://localhost:8233,http://127.0.0.1:8233).
	CodecOrigins []string
	// CodecToken, when set, is the bearer token the codec server requires
	// (STREAMBATCH_CODEC_TOKEN). Never logged.
	CodecToken string
	// CodecHosts are the names, besides loopback ones, by which browsers
	// and the CLI reach the codec server (STREAMBATCH_CODEC_HOSTS,
	// comma-separated name or name:port, default none): it refuses any
	// other Host with 421, against DNS rebinding.
	CodecHosts []string

	// S3Endpoint is the S3 endpoint URL (S3_ENDPOINT); empty means AWS.
	// Requests use path-style addressing when it is set.
	S3Endpoint string
	// S3PublicEndpoint is the S3 endpoint written into presigned upload
	// URLs (S3_PUBLIC_ENDPOINT); empty means S3Endpoint. Set it when
	// clients reach S3 by another address than streambatch.
	S3PublicEndpoint string
	// S3Bucket is the bucket for packets and staged chunks (S3_BUCKET).
	// Required by serve and worker.
	S3Bucket string
	// S3Region is the signing region (AWS_REGION, default us-east-1).
	S3Region string
	// S3AccessKeyID and S3SecretAccessKey are static S3 credentials
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). When either is empty the
	// standard AWS chain applies (profiles, web identity, instance roles).
	S3AccessKeyID     string
	S3SecretAccessKey string

	// HTTPAddr is the API listen address (STREAMBATCH_HTTP_ADDR, default
	// 127.0.0.1:8080).
	HTTPAddr string
	// JWTSecret is the server secret (STREAMBATCH_JWT_SECRET): it signs the
	// x-trigger-jwt tokens of Phase 1 responses, seals API key secrets, and
	// keys the signatures of the chunks the API signals, which the worker
	// verifies. Required by serve and worker (the same value); at least 32
	// bytes.
	JWTSecret string

	// MaxItems is the largest runCount a batch may have
	// (STREAMING_BATCH_MAX_ITEMS, default 1,000,000).
	MaxItems int
	// ItemMaxBytes is the largest NDJSON line; longer lines become pre-failed
	// PAYLOAD_TOO_LARGE runs (STREAMING_BATCH_ITEM_MAXIMUM_SIZE, default
	// 3 MiB).
	ItemMaxBytes int
	// OffloadThreshold is the payload size from which a payload is stored in
	// S3 and the run holds its key (BATCH_PAYLOAD_OFFLOAD_THRESHOLD, default
	// 512 KiB).
	OffloadThreshold int
	// IngestConcurrency is the worker's MaxConcurrentActivityExecutionSize:
	// how many chunk activities one worker process runs at once
	// (STREAMING_BATCH_INGEST_CONCURRENCY, default 32).
	IngestConcurrency int
	// SealTimeout is how long a batch may stay unsealed before its workflow
	// aborts it (BATCH_SEAL_TIMEOUT, default 30m); the create records the
	// deadline, and the sweeper aborts a batch past it that never received
	// an item (its workflow starts with the first chunk).
	SealTimeout time.Duration
	// SealWait is how long a Phase 2 request that delivered every index
	// waits for the seal (every run created) before answering sealed:true
	// on the strength of the durably accepted items (STREAMBATCH_SEAL_WAIT,
	// default 0: answer as soon as every index is durably accepted, as
	// trigger.dev answers once items are in its queue; GET then shows the
	// batch sealed with status PENDING until the runs exist).
	SealWait time.Duration
	// AbortWait is how long an abort request waits for the batch to be
	// aborted before answering 202 (STREAMBATCH_ABORT_WAIT, default 30s).
	AbortWait time.Duration

	// ChunkItems is the most items one chunk signal carries
	// (STREAMBATCH_CHUNK_ITEMS, default 20000: fewer, larger COPYs and
	// fewer signals, activities and history events per batch).
	ChunkItems int
	// ChunkBytes is the most payload bytes one chunk groups, offloaded
	// packets included (STREAMBATCH_CHUNK_BYTES, default 32 MiB).
	ChunkBytes int
	// ChunkInlineBytes is the encoded size up to which a chunk travels
	// inside its signal; larger chunks are staged in S3 and the signal
	// carries the key (STREAMBATCH_CHUNK_INLINE_BYTES, default 128 KiB). Only
	// a stream's last chunk may travel inline; it is written to workflow
	// history once, as the signal (a local activity enqueues it), and saves
	// the staging PUT, GET and DELETE of a small batch.
	ChunkInlineBytes int
	// ChunksInFlight bounds the chunks one Phase 2 request has between
	// "full" and "signalled" (STREAMBATCH_CHUNKS_IN_FLIGHT, default 4).
	ChunksInFlight int
	// UploadsInFlight bounds concurrent packet uploads per Phase 2 request
	// (STREAMBATCH_UPLOADS_IN_FLIGHT, default 32).
	UploadsInFlight int
	// UploadBytesInFlight bounds the payload bytes held by in-flight uploads
	// of one Phase 2 request (STREAMBATCH_UPLOAD_BYTES_IN_FLIGHT, default
	// 64 MiB). It must be at least ItemMaxBytes.
	UploadBytesInFlight int
	// IngestMemory bounds the bytes all Phase 2 streams of an API process
	// hold at once in chunks and uploads (STREAMBATCH_INGEST_MEMORY,
	// default 128 MiB: 20 concurrent 4 MiB streams then keep whole chunks,
	// 2.8 × the throughput of 48 MiB); a stream that would exceed it sends its partial
	// chunk and waits, which slows its client down.
	IngestMemory int
	// MemoryLimit is the Go runtime's soft memory limit for the process
	// (STREAMBATCH_MEMORY_LIMIT); 0, the default, means IngestMemory +
	// 48 MiB for serve, IngestMemory + 64 MiB for worker (it decodes the
	// chunks the API stages: at 64 MiB, 20 concurrent 4 MiB batches kept
	// its garbage collector running and cost it 4 × the CPU), their sum
	// for dev. The standard GOMEMLIMIT, when set, wins. Near the limit the
	// garbage collector runs more often instead of letting the heap double.
	MemoryLimit int
	// WorkflowWindow bounds the chunk activities one batch workflow has
	// outstanding (STREAMBATCH_WORKFLOW_WINDOW, default 100; the server
	// refuses more than 2,000).
	WorkflowWindow int

	// RunConcurrency bounds the run activities one batch has in flight at
	// once, a slice of a sliced task counting as one
	// (STREAMBATCH_RUN_CONCURRENCY, default 100, at most 1000): the window
	// its BatchRuns workflow keeps scheduled. Task workers bound themselves
	// with their own MaxConcurrentActivityExecutionSize.
	RunConcurrency int
	// SmallBatchRuns is the largest batch whose runs its BatchIngest
	// workflow executes itself, when the batch's items arrive in its first
	// chunk, instead of a BatchRuns workflow of its own: one workflow
	// execution per small batch instead of two
	// (STREAMBATCH_SMALL_BATCH_RUNS, default 100, 0 = never, at most 1000).
	SmallBatchRuns int
	// RunMaxAttempts is a run's attempts when its item sets no maxAttempts
	// (STREAMBATCH_RUN_MAX_ATTEMPTS, default 3, at most 100).
	RunMaxAttempts int
	// RunMaxDuration bounds one attempt of a run (the activity's
	// start-to-close timeout) when its item sets no maxDuration
	// (STREAMBATCH_RUN_MAX_DURATION, default 1h).
	RunMaxDuration time.Duration
	// RunDefaultTTL is how long a dispatched run whose item sets no ttl may
	// wait for a task worker to start it (the activity's schedule-to-start
	// timeout) before it ends EXPIRED (STREAMBATCH_RUN_DEFAULT_TTL, default
	// 0 = waits for ever). Unlike an item's ttl it counts from the dispatch,
	// not from the run's queue time, so runs waiting for their batch's
	// window, and replayed runs, are not expired by it.
	RunDefaultTTL time.Duration
	// SlicedTasks are the tasks whose runs are dispatched up to K at a time
	// in one activity (a slice; package tasks, RegisterSliced), by "task"
	// (every environment) or "env/task" (one, which wins), with their K
	// (STREAMBATCH_SLICED_TASKS, e.g. "send-email=50,prod/resize=20"; read
	// by the worker process; default none).
	SlicedTasks map[string]int
	// PayloadRefThreshold is the payload size from which a run's payload
	// goes to its task worker by reference instead of inside the run's
	// activity input, and so stays out of Temporal's history
	// (STREAMBATCH_PAYLOAD_REF_THRESHOLD, default 4 KiB; 0 = every payload
	// inline). It takes effect only with PayloadRefURL; payloads stored in
	// S3 (OffloadThreshold) always go as a presigned S3 URL.
	PayloadRefThreshold int
	// PayloadRefURL is the API's base URL as task workers reach it
	// (STREAMBATCH_PAYLOAD_REF_URL, e.g. https://streambatch.internal:8080;
	// default empty = payloads go inline; `streambatch dev` defaults it to
	// http://STREAMBATCH_HTTP_ADDR). The worker writes it into the signed
	// payload references; task workers fetch them with a plain GET.
	PayloadRefURL string
	// PayloadRefTTL is how long a payload reference stays valid after its
	// run is dispatched (STREAMBATCH_PAYLOAD_REF_TTL, default 168h, at most
	// 720h): an attempt that starts later fails to read its payload. The
	// API serves a reference only while its run is not finished.
	PayloadRefTTL time.Duration

	// MetricsAddr serves the worker's Prometheus metrics at /metrics when
	// set (STREAMBATCH_METRICS_ADDR, default empty = off); the API serves
	// its metrics at /metrics on STREAMBATCH_HTTP_ADDR.
	MetricsAddr string
	// DebugAddr serves Go's /debug/pprof profiles when set
	// (STREAMBATCH_DEBUG_ADDR, default empty = off). Bind it to loopback.
	DebugAddr string

	// CreateRate is each environment's sustained creation rate across all
	// API replicas (a bucket kept in PostgreSQL), counted in runs per
	// second as trigger.dev does
	// (STREAMBATCH_CREATE_RATE, default 1000; 0 disables the limit): a
	// batch takes runCount tokens. Beyond it Phase 1 answers 429 with
	// Retry-After.
	CreateRate float64
	// CreateBurst is the size of that token bucket in runs
	// (STREAMBATCH_CREATE_BURST, default 10000); a batch larger than it
	// takes a full bucket.
	CreateBurst int
	// BodyIdleTimeout ends a Phase 2 request whose body sends nothing for
	// this long, with 408 (STREAMBATCH_BODY_IDLE_TIMEOUT, default 60s; 0
	// disables it). A stream may last as long as it keeps sending.
	BodyIdleTimeout time.Duration
	// HTTPReadTimeout bounds the time a client takes to send a request's
	// body, a Phase 2 stream excepted (STREAMBATCH_HTTP_READ_TIMEOUT,
	// default 30s): beyond it the request ends with 408, or, when the
	// answer came before the body (a 401), the connection is closed.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds the time a client takes to read an answer
	// from its first byte, Phase 2's excepted (STREAMBATCH_HTTP_WRITE_TIMEOUT,
	// default 60s): beyond it the connection is closed, so a client that
	// stops reading does not hold a page in memory.
	HTTPWriteTimeout time.Duration
	// ReadPageBytes is the byte budget of one page of the read routes
	// (GET …/runs, runs.list): a page ends before the run whose stored
	// payload, output, options and error would pass it, and its cursor goes
	// on from there (STREAMBATCH_READ_PAGE_BYTES, default 4 MiB).
	ReadPageBytes int
	// ReadConcurrency is how many heavy reads (pages of runs, a batch's
	// results or run ids, one run with its payload and output) each
	// environment may have in flight at once across all API replicas
	// (leased slots in PostgreSQL); beyond it they answer 429 with
	// Retry-After (STREAMBATCH_READ_CONCURRENCY, default 8; 0 disables the
	// limit).
	ReadConcurrency int
	// RealtimeLive is how many live realtime requests (the long polls of
	// the SDK's subscriptions, each waiting up to 20 s for a change) each
	// environment may have at once on one API process; beyond it they
	// answer 429 with Retry-After, which the SDK retries
	// (STREAMBATCH_REALTIME_LIVE, default 100).
	RealtimeLive int

	// SweepEvery is how often the worker's Temporal Schedule sweeps the
	// objects finished batches no longer reference (STREAMBATCH_SWEEP_EVERY,
	// default 10m; 0 sweeps no object, and the schedule only aborts, every
	// 10 min, batches past their seal deadline that never received an item).
	SweepEvery time.Duration
	// SweepGrace is how long after a batch is sealed or aborted its objects
	// are swept: streams still uploading then have ended
	// (STREAMBATCH_SWEEP_GRACE, default 15m).
	SweepGrace time.Duration

	// LogLevel is debug, info, warn or error (STREAMBATCH_LOG_LEVEL,
	// default info).
	LogLevel string
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		TemporalAddress:     "127.0.0.1:7233",
		TemporalNamespace:   "default",
		TaskQueue:           "streambatch",
		CodecAddr:           "127.0.0.1:8089",
		CodecOrigins:        []string{"http://localhost:8233", "http://127.0.0.1:8233"},
		S3Region:            "us-east-1",
		HTTPAddr:            "127.0.0.1:8080",
		MaxItems:            1_000_000,
		ItemMaxBytes:        3 << 20,
		OffloadThreshold:    512 << 10,
		IngestConcurrency:   32,
		SealTimeout:         30 * time.Minute,
		AbortWait:           30 * time.Second,
		ChunkItems:          20000,
		ChunkBytes:          32 << 20,
		ChunkInlineBytes:    128 << 10,
		ChunksInFlight:      4,
		UploadsInFlight:     32,
		UploadBytesInFlight: 64 << 20,
		IngestMemory:        128 << 20,
		WorkflowWindow:      100,
		RunConcurrency:      100,
		SmallBatchRuns:      100,
		RunMaxAttempts:      3,
		RunMaxDuration:      time.Hour,
		PayloadRefThreshold: 4 << 10,
		PayloadRefTTL:       7 * 24 * time.Hour,
		CreateRate:          1000,
		CreateBurst:         10_000,
		BodyIdleTimeout:     time.Minute,
		HTTPReadTimeout:     30 * time.Second,
		HTTPWriteTimeout:    time.Minute,
		ReadPageBytes:       4 << 20,
		ReadConcurrency:     8,
		RealtimeLive:        100,
		SweepEvery:          10 * time.Minute,
		SweepGrace:          15 * time.Minute,
		LogLevel:            "info",
	}
}

// Process roles, for the automatic memory limit.
const (
	RoleServe  = "serve"
	RoleWorker = "worker"
	RoleDev    = "dev"
)

// SoftMemoryLimit returns the runtime memory limit for a process of the
// given role (see MemoryLimit).
func (c *Config) SoftMemoryLimit(role string) int64 {
	if c.MemoryLimit > 0 {
		return int64(c.MemoryLimit)
	}
	serve, worker := int64(c.IngestMemory)+48<<20, int64(c.IngestMemory)+64<<20
	switch role {
	case RoleServe:
		return serve
	case RoleWorker:
		return worker
	}
	return serve + worker
}

// PayloadsByRef reports whether runs' payloads at or above
// PayloadRefThreshold go to task workers by reference.
func (c *Config) PayloadsByRef() bool { return c.PayloadRefThreshold > 0 && c.PayloadRefURL != "" }

// TemporalUsesTLS reports whether the connection to Temporal uses TLS.
func (c *Config) TemporalUsesTLS() bool {
	return c.TemporalTLS || c.TemporalTLSCAFile != "" || c.TemporalTLSCertFile != "" ||
		c.TemporalTLSServerName != "" || c.TemporalAPIKey != ""
}

// RunsTaskQueue is the task queue of the BatchRuns workflows:
// TaskQueue + "-runs", apart from BatchIngest's so that a backlog of runs
// never delays taking items in and sealing.
func (c *Config) RunsTaskQueue() string { return c.TaskQueue + "-runs" }

// MaxConns returns the pgx pool size to use.
func (c *Config) MaxConns() int {
	if c.DBMaxConns > 0 {
		return c.DBMaxConns
	}
	return c.IngestConcurrency + 8
}

// Need names the settings a command requires beyond the always-checked
// ranges.
type Need int

// Requirement flags for Validate.
const (
	NeedDatabase Need = 1 << iota
	NeedTemporal
	NeedS3
	NeedJWT
	// NeedPayloadKeys: a valid STREAMBATCH_PAYLOAD_KEYS (NeedTemporal
	// implies it).
	NeedPayloadKeys
)

// Validate checks ranges and relations, and that the settings the caller
// needs are present. Its error names each offending environment variable.
func (c *Config) Validate(need Need) error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	if need&NeedDatabase != 0 && c.DatabaseURL == "" {
		bad(EnvDatabaseURL, "required (a PostgreSQL URL such as postgres://user@127.0.0.1:5432/streambatch)")
	}
	if need&NeedTemporal != 0 {
		if c.TemporalAddress == "" {
			bad(EnvTemporalAddress, "must not be empty")
		}
		if (c.TemporalTLSCertFile == "") != (c.TemporalTLSKeyFile == "") {
			bad(EnvTemporalTLSCertFile, "set both %s and %s (mutual TLS), or neither", EnvTemporalTLSCertFile, EnvTemporalTLSKeyFile)
		}
		for env, path := range map[string]string{EnvTemporalTLSCAFile: c.TemporalTLSCAFile,
			EnvTemporalTLSCertFile: c.TemporalTLSCertFile, EnvTemporalTLSKeyFile: c.TemporalTLSKeyFile} {
			if path != "" {
				if _, err := os.Stat(path); err != nil {
					bad(env, "cannot read %q: %v", path, err)
				}
			}
		}
		if c.TemporalNamespace == "" {
			bad(EnvTemporalNamespace, "must not be empty")
		}
		if c.TaskQueue == "" {
			bad(EnvTaskQueue, "must not be empty")
		}
		if strings.HasPrefix(c.TaskQueue, "runs.") {
			bad(EnvTaskQueue, "must not start with \"runs.\" (the task workers' queues), got %q", c.TaskQueue)
		}
	}
	for _, h := range c.CodecHosts {
		if u, err := url.Parse("http://" + h); err != nil || u.Host != h || u.Hostname() == "" {
			bad(EnvCodecHosts, "each entry must be a host name or address, optionally with :port (no scheme or path), got %q", h)
		}
	}
	if c.S3PublicEndpoint != "" && !strings.HasPrefix(c.S3PublicEndpoint, "http://") && !strings.HasPrefix(c.S3PublicEndpoint, "https://") {
		bad(EnvS3PublicEndpoint, "must be an http:// or https:// URL, got %q", c.S3PublicEndpoint)
	}
	if need&NeedS3 != 0 && c.S3Bucket == "" {
		bad(EnvS3Bucket, "required (the bucket for payload packets and staged chunks)")
	}
	if c.S3Endpoint != "" && !strings.HasPrefix(c.S3Endpoint, "http://") && !strings.HasPrefix(c.S3Endpoint, "https://") {
		bad(EnvS3Endpoint, "must be an http:// or https:// URL, got %q", c.S3Endpoint)
	}
	if (c.S3AccessKeyID == "") != (c.S3SecretAccessKey == "") {
		bad(EnvS3AccessKeyID, "set both %s and %s, or neither", EnvS3AccessKeyID, EnvS3SecretAccessKey)
	}
	if need&(NeedTemporal|NeedPayloadKeys) != 0 {
		if _, err := codec.ParseKeys(c.PayloadKeys); err != nil {
			bad(EnvPayloadKeys, "%v", err)
		}
	}
	for _, o := range c.CodecOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(EnvCodecOrigins, "each origin must be an http:// or https:// URL (Temporal UI's), got %q", o)
		}
	}
	if need&NeedJWT != 0 && len(c.JWTSecret) < 32 {
		bad(EnvJWTSecret, "required, at least 32 bytes (for example: openssl rand -hex 32)")
	}
	positive := func(env string, v int) {
		if v <= 0 {
			bad(env, "must be positive, got %d", v)
		}
	}
	positive(EnvMaxItems, c.MaxItems)
	positive(EnvItemMaxBytes, c.ItemMaxBytes)
	positive(EnvOffloadThreshold, c.OffloadThreshold)
	positive(EnvIngestConcurrency, c.IngestConcurrency)
	positive(EnvChunkItems, c.ChunkItems)
	positive(EnvChunkBytes, c.ChunkBytes)
	positive(EnvChunksInFlight, c.ChunksInFlight)
	positive(EnvUploadsInFlight, c.UploadsInFlight)
	positive(EnvWorkflowWindow, c.WorkflowWindow)
	if c.ChunkInlineBytes < 0 {
		bad(EnvChunkInlineBytes, "must not be negative, got %d", c.ChunkInlineBytes)
	}
	if c.DBMaxConns < 0 {
		bad(EnvDBMaxConns, "must not be negative, got %d", c.DBMaxConns)
	}
	if c.MaxItems > MaxItemsLimit {
		bad(EnvMaxItems, "must be at most %d, got %d", MaxItemsLimit, c.MaxItems)
	}
	if c.ItemMaxBytes > 64<<20 {
		bad(EnvItemMaxBytes, "must be at most 64 MiB, got %d", c.ItemMaxBytes)
	}
	if c.ChunkInlineBytes > 256<<10 {
		bad(EnvChunkInlineBytes, "must be at most 256 KiB (it is written to workflow history), got %d", c.ChunkInlineBytes)
	}
	if c.WorkflowWindow > 1000 {
		bad(EnvWorkflowWindow, "must be at most 1000 (Temporal refuses 2,000 pending activities), got %d", c.WorkflowWindow)
	}
	if c.RunConcurrency < 1 || c.RunConcurrency > 1000 {
		bad(EnvRunConcurrency, "must be between 1 and 1000 (Temporal refuses 2,000 pending activities), got %d", c.RunConcurrency)
	}
	if c.SmallBatchRuns < 0 || c.SmallBatchRuns > 1000 {
		bad(EnvSmallBatchRuns, "must be between 0 (never) and 1000 (the runs of one workflow's history), got %d", c.SmallBatchRuns)
	}
	if c.RunMaxAttempts < 1 || c.RunMaxAttempts > 100 {
		bad(EnvRunMaxAttempts, "must be between 1 and 100, got %d", c.RunMaxAttempts)
	}
	if c.RunMaxDuration < time.Second {
		bad(EnvRunMaxDuration, "must be at least 1s, got %s", c.RunMaxDuration)
	}
	if c.RunDefaultTTL != 0 && c.RunDefaultTTL < time.Second {
		bad(EnvRunDefaultTTL, "must be 0 (off) or at least 1s, got %s", c.RunDefaultTTL)
	}
	if c.PayloadRefThreshold != 0 && c.PayloadRefThreshold < 1<<10 {
		bad(EnvPayloadRefThreshold, "must be 0 (every payload inline) or at least 1 KiB (a reference takes about 200 bytes), got %d", c.PayloadRefThreshold)
	}
	if c.PayloadRefURL != "" {
		if u, err := url.Parse(c.PayloadRefURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad(EnvPayloadRefURL, "must be the http:// or https:// URL task workers reach the API at, without query, got %q", c.PayloadRefURL)
		}
	}
	if c.PayloadRefTTL < time.Minute || c.PayloadRefTTL > 720*time.Hour {
		bad(EnvPayloadRefTTL, "must be between 1m and 720h, got %s", c.PayloadRefTTL)
	}
	if c.UploadBytesInFlight < c.ItemMaxBytes {
		bad(EnvUploadBytesInFlight, "must be at least %s (%d), got %d", EnvItemMaxBytes, c.ItemMaxBytes, c.UploadBytesInFlight)
	}
	if c.DebugAddr != "" && !loopback(c.DebugAddr) {
		bad(EnvDebugAddr, "must listen on loopback (127.0.0.1:PORT, [::1]:PORT or localhost:PORT): profiles expose the process's memory, got %q", c.DebugAddr)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 32<<20 {
		bad(EnvMemoryLimit, "must be 0 (automatic) or at least 32 MiB, got %d", c.MemoryLimit)
	}
	if c.IngestMemory < 8<<20 {
		bad(EnvIngestMemory, "must be at least 8 MiB, got %d", c.IngestMemory)
	}
	if c.CreateRate < 0 {
		bad(EnvCreateRate, "must not be negative, got %g", c.CreateRate)
	}
	if c.CreateRate > 0 && c.CreateBurst < 1 {
		bad(EnvCreateBurst, "must be at least 1, got %d", c.CreateBurst)
	}
	if c.SweepEvery != 0 && c.SweepEvery < time.Minute {
		bad(EnvSweepEvery, "must be 0 (no object sweeping) or at least 1m, got %s", c.SweepEvery)
	}
	if c.SweepGrace < 0 {
		bad(EnvSweepGrace, "must not be negative, got %s", c.SweepGrace)
	}
	if c.ReadPageBytes < 64<<10 {
		bad(EnvReadPageBytes, "must be at least 64 KiB, got %d", c.ReadPageBytes)
	}
	if c.ReadConcurrency < 0 {
		bad(EnvReadConcurrency, "must not be negative, got %d", c.ReadConcurrency)
	}
	if c.RealtimeLive < 1 {
		bad(EnvRealtimeLive, "must be at least 1, got %d", c.RealtimeLive)
	}
	if c.BodyIdleTimeout < 0 {
		bad(EnvBodyIdleTimeout, "must not be negative, got %s", c.BodyIdleTimeout)
	}
	if c.HTTPReadTimeout < time.Second {
		bad(EnvHTTPReadTimeout, "must be at least 1s, got %s", c.HTTPReadTimeout)
	}
	if c.HTTPWriteTimeout < time.Second {
		bad(EnvHTTPWriteTimeout, "must be at least 1s, got %s", c.HTTPWriteTimeout)
	}
	if c.SealTimeout < time.Minute {
		bad(EnvSealTimeout, "must be at least 1m, got %s", c.SealTimeout)
	}
	if c.SealWait < 0 || c.SealWait > 10*time.Minute {
		bad(EnvSealWait, "must be between 0s and 10m, got %s", c.SealWait)
	}
	if c.AbortWait < 0 || c.AbortWait > 10*time.Minute {
		bad(EnvAbortWait, "must be between 0s and 10m, got %s", c.AbortWait)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad(EnvLogLevel, "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %w", joinIndented(errs))
	}
	return nil
}

// MaxItemsLimit is the largest accepted STREAMING_BATCH_MAX_ITEMS: the
// accepted-index bitmap of a batch (carried across continue-as-new) must
// stay far below Temporal's 2 MiB payload limit.
const MaxItemsLimit = 10_000_000

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for k, e := range errs {
		msgs[k] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// loopback reports whether addr (host:port) names a loopback host.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
