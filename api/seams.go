package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/store"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// The handlers' collaborators as the handlers use them: *store.Store,
// *ingestwf.Client, *runswf.Client and *ingest.Ingester in production,
// fakes in the handler tests.

// batchStore is what the handlers read and write in PostgreSQL.
type batchStore interface {
	AuthenticateKey(ctx context.Context, key string) (store.Environment, int64, error)
	ActiveKeyEnvironment(ctx context.Context, id int64) (store.Environment, error)
	EnvironmentKeySecrets(ctx context.Context, envID int64) (store.Environment, []store.KeySecret, error)
	CreateBatchTx(ctx context.Context, nb store.NewBatch, started func(store.Batch) error) (store.Batch, bool, error)
	TokenBatchTasks(ctx context.Context, envID int64, batchID string, hash []byte) ([]string, error)
	GetBatch(ctx context.Context, envID int64, id string) (store.Batch, error)
	GetBatchAnyEnv(ctx context.Context, id string) (store.Batch, error)
	WatchSettled(id string) (c <-chan struct{}, live func() bool, stop func())
	BeginStream(ctx context.Context, id string) (int, error)
	MarkAccepted(ctx context.Context, id string) error
	AcceptedIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error)
	RunIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error)
	AbortBatch(ctx context.Context, id, reason string, sealedToo bool) (store.Batch, error)
	ReplayBatch(ctx context.Context, id string) (int, error)
	GetRun(ctx context.Context, batchID string, index int) (store.Run, error)
	CancelRun(ctx context.Context, batchID string, index int, reason string) (store.Run, bool, error)
	ReplayRun(ctx context.Context, batchID string, index int) error
	RescheduleRun(ctx context.Context, batchID string, index int, until time.Time) (store.Run, error)
	AddRunTags(ctx context.Context, batchID string, index int, tags []string) (int, error)
	UpdateRunMetadata(ctx context.Context, batchID string, index int,
		change func(old json.RawMessage, status batch.RunStatus) (json.RawMessage, error)) (json.RawMessage, error)
	RunCountsWaiting(ctx context.Context, batchID string) (map[batch.RunStatus]int, store.Waiting, error)
	HasCreationErrors(ctx context.Context, batchID string) (bool, error)
	EachCreationError(ctx context.Context, batchID string, fn func(store.CreationError) bool) error
	ResetIdempotencyKey(ctx context.Context, envID int64, key, task string) error
	IdempotencyKeyRuns(ctx context.Context, envID int64, key string) ([]store.Run, error)
	RunsByID(ctx context.Context, envID int64, ids []string) (map[string]store.Run, error)
	HasCachedRuns(ctx context.Context, batchID string) (bool, error)
	EachCachedRun(ctx context.Context, batchID string, fn func(index int, runID string) bool) error
}

// queueStore reads and changes an environment's queues (queues.go).
type queueStore interface {
	GetQueue(ctx context.Context, env int64, name string) (store.Queue, error)
	QueueNameByID(ctx context.Context, env int64, id string) (string, error)
	ListQueues(ctx context.Context, env int64, skip, limit int) ([]store.Queue, int, error)
	PauseQueue(ctx context.Context, env int64, name string, paused bool) (store.Queue, []store.QueueWaiter, error)
	OverrideQueueLimit(ctx context.Context, env int64, name string, limit *int) (store.Queue, []store.QueueWaiter, error)
}

// queueWaker signals a batch's running BatchRuns that runs may be
// claimable (a queue it waited for was resumed or widened).
type queueWaker interface {
	Wake(ctx context.Context, batchID string, hint runswf.Hint) error
}

// ingestWorkflows waits for and aborts BatchIngest (the first chunk
// starts it: itemIngester).
type ingestWorkflows interface {
	Wait(ctx context.Context, batchID string) (ingestwf.Result, error)
	Abort(ctx context.Context, batchID, reason string) error
}

// runWorkflows tells, cancels runs of, aborts and waits for the workflow
// that executes a batch's runs (its BatchRuns, or its BatchIngest for a
// small batch it executes itself: runswf.Client routes).
type runWorkflows interface {
	Tell(ctx context.Context, batchID, env string, hint runswf.Hint) error
	Abort(ctx context.Context, batchID, env, reason string) error
	CancelRun(ctx context.Context, batchID string, index int) error
	Wait(ctx context.Context, batchID string, here bool) (runswf.Result, error)
}

// itemIngester reads a Phase 2 body into chunks of the batch.
type itemIngester interface {
	Ingest(ctx context.Context, req ingest.Request) (ingest.Result, error)
}
