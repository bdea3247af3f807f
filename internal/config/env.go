package config

import (
	"fmt"
	"github.com/streambatch/streambatch/codec"
	"strconv"
	"strings"
	"time"
)

// Environment variable names. Operators and tooling rely on them; the
// README's configuration table lists each one.
const (
	EnvDatabaseURL           = "DATABASE_URL"
	EnvDBMaxConns            = "STREAMBATCH_DB_MAX_CONNS"
	EnvTemporalAddress       = "TEMPORAL_ADDRESS"
	EnvTemporalNamespace     = "TEMPORAL_NAMESPACE"
	EnvTemporalTLS           = "TEMPORAL_TLS"
	EnvTemporalTLSCAFile     = "TEMPORAL_TLS_CA_FILE"
	EnvTemporalTLSCertFile   = "TEMPORAL_TLS_CERT_FILE"
	EnvTemporalTLSKeyFile    = "TEMPORAL_TLS_KEY_FILE"
	EnvTemporalTLSServerName = "TEMPORAL_TLS_SERVER_NAME"
	EnvTemporalAPIKey        = "TEMPORAL_API_KEY"
	EnvTaskQueue             = "STREAMBATCH_TASK_QUEUE"
	EnvPayloadKeys           = codec.EnvKeys
	EnvCodecAddr             = "STREAMBATCH_CODEC_ADDR"
	EnvCodecOrigins          = "STREAMBATCH_CODEC_ORIGINS"
	EnvCodecToken            = "STREAMBATCH_CODEC_TOKEN"
	EnvCodecHosts            = "STREAMBATCH_CODEC_HOSTS"
	EnvS3Endpoint            = "S3_ENDPOINT"
	EnvS3Bucket              = "S3_BUCKET"
	EnvS3PublicEndpoint      = "S3_PUBLIC_ENDPOINT"
	EnvS3Region              = "AWS_REGION"
	EnvS3AccessKeyID         = "AWS_ACCESS_KEY_ID"
	EnvS3SecretAccessKey     = "AWS_SECRET_ACCESS_KEY"
	EnvHTTPAddr              = "STREAMBATCH_HTTP_ADDR"
	EnvJWTSecret             = "STREAMBATCH_JWT_SECRET"
	EnvMaxItems              = "STREAMING_BATCH_MAX_ITEMS"
	EnvItemMaxBytes          = "STREAMING_BATCH_ITEM_MAXIMUM_SIZE"
	EnvOffloadThreshold      = "BATCH_PAYLOAD_OFFLOAD_THRESHOLD"
	EnvIngestConcurrency     = "STREAMING_BATCH_INGEST_CONCURRENCY"
	EnvSealTimeout           = "BATCH_SEAL_TIMEOUT"
	EnvSealWait              = "STREAMBATCH_SEAL_WAIT"
	EnvAbortWait             = "STREAMBATCH_ABORT_WAIT"
	EnvChunkItems            = "STREAMBATCH_CHUNK_ITEMS"
	EnvChunkBytes            = "STREAMBATCH_CHUNK_BYTES"
	EnvChunkInlineBytes      = "STREAMBATCH_CHUNK_INLINE_BYTES"
	EnvChunksInFlight        = "STREAMBATCH_CHUNKS_IN_FLIGHT"
	EnvUploadsInFlight       = "STREAMBATCH_UPLOADS_IN_FLIGHT"
	EnvUploadBytesInFlight   = "STREAMBATCH_UPLOAD_BYTES_IN_FLIGHT"
	EnvWorkflowWindow        = "STREAMBATCH_WORKFLOW_WINDOW"
	EnvRunConcurrency        = "STREAMBATCH_RUN_CONCURRENCY"
	EnvSmallBatchRuns        = "STREAMBATCH_SMALL_BATCH_RUNS"
	EnvRunMaxAttempts        = "STREAMBATCH_RUN_MAX_ATTEMPTS"
	EnvRunMaxDuration        = "STREAMBATCH_RUN_MAX_DURATION"
	EnvRunDefaultTTL         = "STREAMBATCH_RUN_DEFAULT_TTL"
	EnvSlicedTasks           = "STREAMBATCH_SLICED_TASKS"
	EnvPayloadRefThreshold   = "STREAMBATCH_PAYLOAD_REF_THRESHOLD"
	EnvPayloadRefURL         = "STREAMBATCH_PAYLOAD_REF_URL"
	EnvPayloadRefTTL         = "STREAMBATCH_PAYLOAD_REF_TTL"
	EnvIngestMemory          = "STREAMBATCH_INGEST_MEMORY"
	EnvMemoryLimit           = "STREAMBATCH_MEMORY_LIMIT"
	EnvLogLevel              = "STREAMBATCH_LOG_LEVEL"
	EnvDebugAddr             = "STREAMBATCH_DEBUG_ADDR"
	EnvMetricsAddr           = "STREAMBATCH_METRICS_ADDR"
	EnvCreateRate            = "STREAMBATCH_CREATE_RATE"
	EnvCreateBurst           = "STREAMBATCH_CREATE_BURST"
	EnvBodyIdleTimeout       = "STREAMBATCH_BODY_IDLE_TIMEOUT"
	EnvHTTPReadTimeout       = "STREAMBATCH_HTTP_READ_TIMEOUT"
	EnvHTTPWriteTimeout      = "STREAMBATCH_HTTP_WRITE_TIMEOUT"
	EnvReadPageBytes         = "STREAMBATCH_READ_PAGE_BYTES"
	EnvReadConcurrency       = "STREAMBATCH_READ_CONCURRENCY"
	EnvRealtimeLive          = "STREAMBATCH_REALTIME_LIVE"
	EnvSweepEvery            = "STREAMBATCH_SWEEP_EVERY"
	EnvSweepGrace            = "STREAMBATCH_SWEEP_GRACE"
)

// FromEnv returns Default overridden by the environment, read through
// getenv (os.Getenv in production). Unset or empty variables keep their
// default. It reports every malformed value at once; call Validate after.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	var errs []error
	str := func(env string, dst *string) {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			*dst = v
		}
	}
	num := func(env string, dst *int) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want an integer, got %q", env, v))
			return
		}
		*dst = n
	}
	size := func(env string, dst *int) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return
		}
		n, err := ParseSize(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", env, err))
			return
		}
		*dst = n
	}
	dur := func(env string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want a duration such as 30s or 30m, got %q", env, v))
			return
		}
		*dst = d
	}
	// Secrets are read verbatim (no trimming surprises) but never echoed.
	if v := getenv(EnvJWTSecret); v != "" {
		c.JWTSecret = v
	}
	c.PayloadKeys = getenv(EnvPayloadKeys)
	c.CodecToken = getenv(EnvCodecToken)
	str(EnvCodecAddr, &c.CodecAddr)
	if v := strings.TrimSpace(getenv(EnvCodecOrigins)); v != "" {
		c.CodecOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.CodecOrigins = append(c.CodecOrigins, strings.TrimRight(o, "/"))
			}
		}
	}
	for _, h := range strings.Split(getenv(EnvCodecHosts), ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.CodecHosts = append(c.CodecHosts, h)
		}
	}
	c.S3AccessKeyID = strings.TrimSpace(getenv(EnvS3AccessKeyID))
	c.S3SecretAccessKey = getenv(EnvS3SecretAccessKey)
	str(EnvDatabaseURL, &c.DatabaseURL)
	num(EnvDBMaxConns, &c.DBMaxConns)
	str(EnvTemporalAddress, &c.TemporalAddress)
	str(EnvTemporalNamespace, &c.TemporalNamespace)
	str(EnvTaskQueue, &c.TaskQueue)
	str(EnvTemporalTLSCAFile, &c.TemporalTLSCAFile)
	str(EnvTemporalTLSCertFile, &c.TemporalTLSCertFile)
	str(EnvTemporalTLSKeyFile, &c.TemporalTLSKeyFile)
	str(EnvTemporalTLSServerName, &c.TemporalTLSServerName)
	c.TemporalAPIKey = strings.TrimSpace(getenv(EnvTemporalAPIKey))
	if v := strings.TrimSpace(getenv(EnvTemporalTLS)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want true or false, got %q", EnvTemporalTLS, v))
		}
		c.TemporalTLS = b
	}
	str(EnvS3Endpoint, &c.S3Endpoint)
	str(EnvS3Bucket, &c.S3Bucket)
	str(EnvS3PublicEndpoint, &c.S3PublicEndpoint)
	str(EnvS3Region, &c.S3Region)
	str(EnvHTTPAddr, &c.HTTPAddr)
	num(EnvMaxItems, &c.MaxItems)
	size(EnvItemMaxBytes, &c.ItemMaxBytes)
	size(EnvOffloadThreshold, &c.OffloadThreshold)
	num(EnvIngestConcurrency, &c.IngestConcurrency)
	dur(EnvSealTimeout, &c.SealTimeout)
	dur(EnvSealWait, &c.SealWait)
	dur(EnvAbortWait, &c.AbortWait)
	num(EnvChunkItems, &c.ChunkItems)
	size(EnvChunkBytes, &c.ChunkBytes)
	size(EnvChunkInlineBytes, &c.ChunkInlineBytes)
	num(EnvChunksInFlight, &c.ChunksInFlight)
	num(EnvUploadsInFlight, &c.UploadsInFlight)
	size(EnvUploadBytesInFlight, &c.UploadBytesInFlight)
	num(EnvWorkflowWindow, &c.WorkflowWindow)
	num(EnvRunConcurrency, &c.RunConcurrency)
	num(EnvSmallBatchRuns, &c.SmallBatchRuns)
	num(EnvRunMaxAttempts, &c.RunMaxAttempts)
	dur(EnvRunMaxDuration, &c.RunMaxDuration)
	dur(EnvRunDefaultTTL, &c.RunDefaultTTL)
	if v := strings.TrimSpace(getenv(EnvSlicedTasks)); v != "" {
		sl, err := ParseSlicedTasks(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvSlicedTasks, err))
		}
		c.SlicedTasks = sl
	}
	size(EnvPayloadRefThreshold, &c.PayloadRefThreshold)
	str(EnvPayloadRefURL, &c.PayloadRefURL)
	dur(EnvPayloadRefTTL, &c.PayloadRefTTL)
	size(EnvIngestMemory, &c.IngestMemory)
	size(EnvMemoryLimit, &c.MemoryLimit)
	str(EnvLogLevel, &c.LogLevel)
	str(EnvDebugAddr, &c.DebugAddr)
	str(EnvMetricsAddr, &c.MetricsAddr)
	num(EnvCreateBurst, &c.CreateBurst)
	dur(EnvBodyIdleTimeout, &c.BodyIdleTimeout)
	dur(EnvHTTPReadTimeout, &c.HTTPReadTimeout)
	dur(EnvHTTPWriteTimeout, &c.HTTPWriteTimeout)
	size(EnvReadPageBytes, &c.ReadPageBytes)
	num(EnvReadConcurrency, &c.ReadConcurrency)
	num(EnvRealtimeLive, &c.RealtimeLive)
	dur(EnvSweepEvery, &c.SweepEvery)
	dur(EnvSweepGrace, &c.SweepGrace)
	if v := strings.TrimSpace(getenv(EnvCreateRate)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want a number of batches per second, got %q", EnvCreateRate, v))
		} else {
			c.CreateRate = f
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n  %w", joinIndented(errs))
	}
	return c, nil
}

// Env renders the settings a streambatch process started by another
// (serve and worker processes of the tests and the benchmark) needs as
// KEY=value environment entries, for FromEnv on the other side: the
// connections (database, Temporal, S3), the secrets, the HTTP address, the
// log level and the ingest limits. Appended after os.Environ(), they win.
func (c Config) Env() []string {
	return []string{
		EnvDatabaseURL + "=" + c.DatabaseURL,
		EnvDBMaxConns + "=" + strconv.Itoa(c.DBMaxConns),
		EnvTemporalAddress + "=" + c.TemporalAddress,
		EnvTaskQueue + "=" + c.TaskQueue,
		EnvS3Endpoint + "=" + c.S3Endpoint,
		EnvS3Bucket + "=" + c.S3Bucket,
		EnvS3Region + "=" + c.S3Region,
		EnvS3AccessKeyID + "=" + c.S3AccessKeyID,
		EnvS3SecretAccessKey + "=" + c.S3SecretAccessKey,
		EnvHTTPAddr + "=" + c.HTTPAddr,
		EnvJWTSecret + "=" + c.JWTSecret,
		EnvPayloadKeys + "=" + c.PayloadKeys,
		EnvLogLevel + "=" + c.LogLevel,
		EnvMaxItems + "=" + strconv.Itoa(c.MaxItems),
		EnvOffloadThreshold + "=" + strconv.Itoa(c.OffloadThreshold),
		EnvIngestConcurrency + "=" + strconv.Itoa(c.IngestConcurrency),
		EnvSealWait + "=" + c.SealWait.String(),
		EnvChunkItems + "=" + strconv.Itoa(c.ChunkItems),
		EnvChunkBytes + "=" + strconv.Itoa(c.ChunkBytes),
		EnvChunkInlineBytes + "=" + strconv.Itoa(c.ChunkInlineBytes),
		EnvChunksInFlight + "=" + strconv.Itoa(c.ChunksInFlight),
		EnvUploadsInFlight + "=" + strconv.Itoa(c.UploadsInFlight),
		EnvUploadBytesInFlight + "=" + strconv.Itoa(c.UploadBytesInFlight),
		EnvWorkflowWindow + "=" + strconv.Itoa(c.WorkflowWindow),
		EnvIngestMemory + "=" + strconv.Itoa(c.IngestMemory),
		EnvMemoryLimit + "=" + strconv.Itoa(c.MemoryLimit),
		EnvSlicedTasks + "=" + FormatSlicedTasks(c.SlicedTasks),
		EnvPayloadRefThreshold + "=" + strconv.Itoa(c.PayloadRefThreshold),
		EnvPayloadRefURL + "=" + c.PayloadRefURL,
		EnvPayloadRefTTL + "=" + c.PayloadRefTTL.String(),
	}
}

// ParseSize parses a byte size: a plain integer ("3145728") or a number with
// a unit (B, KB, MB, GB for powers of 1000; KiB, MiB, GiB for powers of
// 1024), e.g. "512KiB" or "3 MiB".
func ParseSize(s string) (int, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := 1
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.ReplaceAll(t, "_", ""))
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("want a byte size such as 3145728, 512KiB or 3MiB, got %q", s)
	}
	return n * mult, nil
}
