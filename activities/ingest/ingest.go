// Package ingest implements the ingest flow's activities, the I/O steps
// of BatchIngest: OffloadAndEnqueue (chunk → runs), Seal and Abort. Each
// is idempotent, so Temporal may retry it at will.
//
// It depends on the store and blob packages through the small interfaces
// below, on workflows/ingest for names and types and on workflows/runs to
// hand enqueued runs to BatchRuns. It holds no workflow code and must not
// import another flow's activities.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/workflows/flow"
	contract "github.com/streambatch/streambatch/workflows/ingest"
	"github.com/streambatch/streambatch/workflows/runs"
)

// Runs is the part of store.Store the activities use.
type Runs interface {
	InsertRuns(ctx context.Context, batchID string, items []batch.Item) (int, error)
	GetBatchAnyEnv(ctx context.Context, id string) (store.Batch, error)
	SealBatch(ctx context.Context, id string) (store.Batch, error)
	SealBatchRunningHere(ctx context.Context, id string) (store.Batch, error)
	AbortBatch(ctx context.Context, id, reason string, sealedToo bool) (store.Batch, error)
}

// Objects is the part of blob.Store the activities use.
type Objects interface {
	Get(ctx context.Context, key string, maxSize int64) ([]byte, error)
	Size(ctx context.Context, key string) (int64, error)
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// RunsNotifier hands enqueued runs to a batch's BatchRuns workflow
// (runs.Client).
type RunsNotifier interface {
	Notify(ctx context.Context, batchID, env string, hint runs.Hint) error
	Abort(ctx context.Context, batchID, env, reason string) error
}

// Activities holds the dependencies of the activity methods. Register it
// with Register.
type Activities struct {
	Runs    Runs
	Objects Objects
	// MaxChunkBytes refuses staged chunk objects larger than this.
	MaxChunkBytes int64
	// PacketChecks bounds concurrent HEAD requests per chunk (default 32).
	PacketChecks int
	// Metrics records attempt durations and failures (nil: none).
	Metrics *metrics.Metrics

	// Dispatcher hands enqueued runs to BatchRuns (nil: nothing executes
	// the runs).
	Dispatcher RunsNotifier
	// Signer verifies that each chunk was signed by the API (nil: every
	// chunk is refused).
	Signer *batch.ChunkSigner
}

// Register registers the activities under their contract names (on the
// worker that runs BatchIngest: it runs some of them as local activities).
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.OffloadAndEnqueue, activity.RegisterOptions{Name: contract.ActivityOffloadAndEnqueue})
	r.RegisterActivityWithOptions(a.Seal, activity.RegisterOptions{Name: contract.ActivitySeal})
	r.RegisterActivityWithOptions(a.Abort, activity.RegisterOptions{Name: contract.ActivityAbort})
}

// notify hands a batch's enqueued runs to its BatchRuns workflow.
func (a *Activities) notify(ctx context.Context, batchID, env string, hint runs.Hint) error {
	if a.Dispatcher == nil {
		return nil
	}
	return a.Dispatcher.Notify(ctx, batchID, env, hint)
}

func invalidChunk(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), contract.ErrTypeInvalidChunk, nil)
}

// OffloadAndEnqueue turns one chunk into runs. The Phase 2 handler has
// already written every large payload to its packet key (the offload); this
// step loads the chunk (inline or staged), checks that each of those packets
// exists with the size the handler wrote, and inserts the owned items in one
// PostgreSQL round trip. Indexes that already have a run are skipped, so a
// retry inserts nothing twice.
//
// A chunk the API signed has been answered as accepted, and its client may
// have stopped sending: every index it owns ends as a run. When its items
// cannot be read back (the staged object lost or changed, undecodable) or
// stored, each owned index becomes a run failed at creation
// (CHUNK_UNREADABLE) and the activity succeeds, so the batch seals. Only a
// chunk the API did not sign is refused (its indexes reopen).
func (a *Activities) OffloadAndEnqueue(ctx context.Context, in contract.EnqueueInput) (res contract.EnqueueResult, err error) {
	defer a.observe(contract.ActivityOffloadAndEnqueue, time.Now(), &err)
	heartbeat(ctx, "loading")
	items, err := a.loadItems(ctx, in)
	var lost *unreadableChunk
	switch {
	case errors.As(err, &lost):
		items = lostItems(in, lost.reason)
	case isInvalidChunk(err):
		return contract.EnqueueResult{}, err
	case err != nil:
		return contract.EnqueueResult{}, err
	}
	if lost == nil {
		heartbeat(ctx, "checking packets")
		if err := a.checkPackets(ctx, items); err != nil {
			return contract.EnqueueResult{}, err
		}
	}
	heartbeat(ctx, "inserting")
	n, err := a.Runs.InsertRuns(ctx, in.BatchID, items)
	if errors.Is(err, store.ErrInvalidData) && lost == nil {
		// Validation should have refused such an item; retrying cannot
		// help, and the chunk was accepted: its indexes fail instead.
		lost = &unreadableChunk{reason: fmt.Sprintf("PostgreSQL refused its items (%v)", err)}
		items = lostItems(in, lost.reason)
		n, err = a.Runs.InsertRuns(ctx, in.BatchID, items)
	}
	if errors.Is(err, store.ErrInvalidData) {
		return contract.EnqueueResult{}, invalidChunk("chunk %s/%d: %v", in.Chunk.Stream, in.Chunk.Seq, err)
	}
	if err != nil {
		return contract.EnqueueResult{}, err
	}
	if lost != nil {
		logError(ctx, "chunk unreadable: its items are runs failed at creation", "batch_id", in.BatchID, "env", in.Env,
			"stream", in.Chunk.Stream, "seq", in.Chunk.Seq, "runs", len(items), "code", batch.ErrorChunkUnreadable, "reason", lost.reason)
	}
	if n < len(items) {
		// Either duplicates (a retry) or a batch that is no longer pending.
		b, err := a.Runs.GetBatchAnyEnv(ctx, in.BatchID)
		if err != nil {
			return contract.EnqueueResult{}, err
		}
		if b.Status == batch.StatusAborted {
			return contract.EnqueueResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("batch %s is %s", in.BatchID, b.Status), flow.ErrTypeBatchNotPending, nil)
		}
	}
	// The runs exist: they may start now, before the seal. (A retry after
	// a lost answer signals again; BatchRuns reads what is open from the
	// database, so a second hint costs one look.)
	if in.SkipNotify {
		return contract.EnqueueResult{Inserted: n}, nil // the Seal right after tells BatchRuns
	}
	heartbeat(ctx, "handing over")
	from := 0
	if owned := in.Owned; owned != nil && len(owned) > 0 {
		from = owned[0][0]
	} else if len(in.Chunk.Indexes) > 0 {
		from = in.Chunk.Indexes[0][0]
	}
	if err := a.notify(ctx, in.BatchID, in.Env, runs.HintFrom(from)); err != nil {
		return contract.EnqueueResult{}, err
	}
	return contract.EnqueueResult{Inserted: n}, nil
}

// unreadableChunk reports a chunk the API signed whose items cannot be
// read back: retrying cannot help, and refusing it would lose indexes the
// client was told are durable.
type unreadableChunk struct {
	reason string
}

func (e *unreadableChunk) Error() string { return "chunk unreadable: " + e.reason }

func unreadable(format string, args ...any) error {
	return &unreadableChunk{reason: fmt.Sprintf(format, args...)}
}

// lostItems returns a run failed at creation (CHUNK_UNREADABLE) for each
// index the chunk owns. Its task is unknown: the item is gone.
func lostItems(in contract.EnqueueInput, reason string) []batch.Item {
	var items []batch.Item
	for _, r := range in.Chunk.Indexes {
		for i := r[0]; i < r[1]; i++ {
			if in.Owned != nil && !in.Owned.Contains(i) {
				continue
			}
			items = append(items, batch.Item{
				Index:       i,
				Task:        "unknown",
				PayloadType: batch.PayloadTypeJSON,
				ErrorCode:   batch.ErrorChunkUnreadable,
				ErrorMessage: fmt.Sprintf("Item %d was accepted, but its chunk (%s/%d) could not become runs: %s. Send the item again in a new batch.",
					i, in.Chunk.Stream, in.Chunk.Seq, reason),
			})
		}
	}
	return items
}

func isInvalidChunk(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == contract.ErrTypeInvalidChunk
}

func (a *Activities) observe(name string, start time.Time, err *error) {
	a.Metrics.Activity(name, time.Since(start), *err)
}

// heartbeat tells Temporal the attempt is alive, so the chunk of a worker
// that died is retried after the heartbeat timeout, not the attempt timeout.
func heartbeat(ctx context.Context, step string) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, step)
	}
}

// logError logs through the activity's logger (nothing outside one).
func logError(ctx context.Context, msg string, keyvals ...any) {
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Error(msg, keyvals...)
	}
}

// loadItems returns the chunk's owned items, validated against its
// reference. It returns an InvalidChunk error for a chunk the API did not
// sign, and an *unreadableChunk for one it signed whose items cannot be
// read back.
func (a *Activities) loadItems(ctx context.Context, in contract.EnqueueInput) ([]batch.Item, error) {
	ref := &in.Chunk
	// Trust nothing a signal carries that the API did not sign: not the
	// indexes, not the items, not the staged object's key or content. A
	// version 2 signature is checked before reading anything; a version 1
	// signature of a staged chunk (an older API replica) covers its bytes.
	refErr := a.Signer.VerifyReference(in.BatchID, in.Env, ref)
	if refErr != nil && !errors.Is(refErr, batch.ErrChunkNeedsContent) {
		return nil, unsigned(ctx, in, refErr)
	}
	genuine := refErr == nil // whatever its staged object holds now
	items := ref.Items
	if ref.Key != "" {
		max := a.MaxChunkBytes
		if max <= 0 {
			max = 1 << 30
		}
		if genuine && ref.Size < max {
			max = ref.Size // what the API staged
		}
		body, err := a.Objects.Get(ctx, ref.Key, max)
		switch {
		case errors.Is(err, blob.ErrNotFound) && genuine:
			return nil, unreadable("its staged object %s is missing from the bucket", ref.Key)
		case errors.Is(err, blob.ErrNotFound):
			// A version 1 reference: genuine or forged cannot be told.
			return nil, invalidChunk("staged chunk %s is missing", ref.Key)
		case errors.Is(err, blob.ErrTooLarge) && genuine && max == ref.Size:
			return nil, unreadable("its staged object %s holds more than the %d bytes the API staged", ref.Key, ref.Size)
		case err != nil:
			return nil, err // transient: retried
		}
		err = a.Signer.Verify(in.BatchID, in.Env, ref, body)
		if errors.Is(err, batch.ErrChunkContent) {
			return nil, unreadable("its staged object %s was changed (%d bytes, not the %d the API staged, or another SHA-256)", ref.Key, len(body), ref.Size)
		}
		if err != nil {
			return nil, unsigned(ctx, in, err)
		}
		if items, err = batch.DecodeItems(body); err != nil {
			return nil, unreadable("its staged object %s cannot be decoded: %v", ref.Key, err)
		}
	}
	if len(items) != ref.Count() {
		return nil, unreadable("it holds %d items, its reference says %d", len(items), ref.Count())
	}
	owned := items[:0:0]
	for _, it := range items {
		if !ref.Indexes.Contains(it.Index) {
			return nil, unreadable("it holds index %d outside %s", it.Index, ref.Indexes)
		}
		if in.Owned == nil || in.Owned.Contains(it.Index) {
			owned = append(owned, it)
		}
	}
	return owned, nil
}

// unsigned refuses a chunk the API did not sign.
func unsigned(ctx context.Context, in contract.EnqueueInput, err error) error {
	logError(ctx, "refusing a chunk the API did not sign", "batch_id", in.BatchID, "env", in.Env, "stream", in.Chunk.Stream, "seq", in.Chunk.Seq, "error", err)
	return invalidChunk("chunk %s/%d: %v", in.Chunk.Stream, in.Chunk.Seq, err)
}

// checkPackets verifies that every payload the handler offloaded is in the
// bucket with the size it wrote. A packet that is not there (lost after the
// handler's PUT succeeded) or has another size (overwritten) cannot be
// mended by retrying: its item becomes a run that failed at creation
// (PAYLOAD_MISSING, PAYLOAD_CHANGED) instead of holding the batch until its
// seal timeout.
func (a *Activities) checkPackets(ctx context.Context, items []batch.Item) error {
	g, gctx := errgroup.WithContext(ctx)
	limit := a.PacketChecks
	if limit <= 0 {
		limit = 32
	}
	g.SetLimit(limit)
	for k := range items {
		it := &items[k]
		if it.PacketSize == 0 || it.Payload == nil {
			continue
		}
		g.Go(func() error {
			size, err := a.Objects.Size(gctx, *it.Payload)
			if errors.Is(err, blob.ErrNotFound) {
				it.ErrorCode = batch.ErrorPayloadMissing
				it.ErrorMessage = fmt.Sprintf("the payload of item %d was lost: %s is not in the bucket", it.Index, *it.Payload)
				return nil
			}
			if err != nil {
				return fmt.Errorf("packet of item %d: %w", it.Index, err)
			}
			if size != it.PacketSize {
				it.ErrorCode = batch.ErrorPayloadChanged
				it.ErrorMessage = fmt.Sprintf("the payload of item %d was changed: %s has %d bytes, the API wrote %d", it.Index, *it.Payload, size, it.PacketSize)
			}
			return nil
		})
	}
	return g.Wait()
}

// Seal seals the batch (it has every run), deletes its staged chunks
// (unless none was staged) and tells BatchRuns (unless the workflow
// executes the runs itself).
func (a *Activities) Seal(ctx context.Context, in contract.SealInput) (res contract.SealResult, err error) {
	defer a.observe(contract.ActivitySeal, time.Now(), &err)
	seal := a.Runs.SealBatch
	if in.RunsHere {
		seal = a.Runs.SealBatchRunningHere
	}
	b, err := seal(ctx, in.BatchID)
	if errors.Is(err, store.ErrNotPending) {
		return contract.SealResult{}, temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypeBatchNotPending, err)
	}
	if err != nil {
		return contract.SealResult{}, err
	}
	if err := a.afterSeal(ctx, in.BatchID, in.Env, !in.InlineOnly, !in.RunsHere, in.From); err != nil {
		return contract.SealResult{}, err
	}
	if b.SealedAt != nil {
		res.SealedAt = *b.SealedAt
	}
	return res, nil
}

// afterSeal does what follows a committed seal: it deletes the staged
// chunks (unless none was staged) and tells BatchRuns of the seal (unless
// the workflow executes the runs itself and none runs), from the claim
// cursor from (nil: the first run). BatchRuns completes the batch only
// once told.
func (a *Activities) afterSeal(ctx context.Context, batchID, env string, staged, tell bool, from *int) error {
	if staged {
		if _, err := a.Objects.DeletePrefix(ctx, batch.StagingPrefix(env, batchID)); err != nil {
			return err
		}
	}
	if !tell {
		return nil
	}
	return a.notify(ctx, batchID, env, runs.Hint{Sealed: true, From: from})
}

// Abort marks the batch ABORTED and its queued runs CANCELED, and deletes
// its staged chunks (no run references them). It deletes no packet: runs
// start before the seal, so a run that completed already holds its output
// (and every run its payload) under the batch's packet prefix; the sweeper
// deletes the packets no run holds once the batch is aborted. A batch
// sealed before the abort stays sealed, and its runs go on in BatchRuns
// (sealedBeforeAbort).
func (a *Activities) Abort(ctx context.Context, in contract.AbortInput) (res contract.AbortResult, err error) {
	defer a.observe(contract.ActivityAbort, time.Now(), &err)
	b, err := a.Runs.AbortBatch(ctx, in.BatchID, in.Reason, false)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// No such batch: a create whose transaction rolled back after it
		// started the workflow (releases before migration 00022 started it
		// there), or a forged start. Nothing to abort.
		return contract.AbortResult{}, nil
	case errors.Is(err, store.ErrNotPending) && b.Done():
		return contract.AbortResult{Sealed: true}, a.sealedBeforeAbort(ctx, in, b)
	case err != nil:
		return contract.AbortResult{}, err
	}
	// The staged chunks only: runs hold keys of packets and outputs, never
	// of staged chunks. Packets that no run holds (streams that never
	// delivered their items) are the sweeper's (SweepBatch).
	if _, err := a.Objects.DeletePrefix(ctx, batch.StagingPrefix(in.Env, in.BatchID)); err != nil {
		return contract.AbortResult{}, err
	}
	// Runs may be executing already: BatchRuns cancels them and tells the
	// parent workflow.
	if a.Dispatcher != nil {
		if err := a.Dispatcher.Abort(ctx, in.BatchID, in.Env, in.Reason); err != nil {
			return contract.AbortResult{}, err
		}
	}
	activity.GetLogger(ctx).Info("batch aborted", "batch", in.BatchID, "reason", in.Reason)
	return contract.AbortResult{}, nil
}

// sealedBeforeAbort finishes the seal of a batch an abort found sealed but
// still PROCESSING. The workflow aborts only when it did not learn of the
// seal (a local seal that committed and then failed, a Seal activity the
// abort or a cancel interrupted after its commit), so the seal's last steps
// may never have run: its runs go to BatchRuns (a small batch's row that
// said its BatchIngest executes them is corrected, since it will not), the
// staged chunks go, and BatchRuns hears of the seal, without which it
// would wait for ever for a hint (or, never told of any chunk, not exist).
func (a *Activities) sealedBeforeAbort(ctx context.Context, in contract.AbortInput, b store.Batch) error {
	if b.Status != batch.StatusProcessing {
		return nil // its runs ended: BatchRuns knew of the seal
	}
	if b.RunsHere {
		if _, err := a.Runs.SealBatch(ctx, in.BatchID); err != nil {
			return err
		}
	}
	activity.GetLogger(ctx).Info("abort found the batch sealed: its runs go on", "batch", in.BatchID, "reason", in.Reason)
	return a.afterSeal(ctx, in.BatchID, in.Env, true, true, nil)
}
