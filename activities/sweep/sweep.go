// Package sweep implements the sweeper's activity, SweepObjects: it
// deletes the objects of finished batches that no run references (staged
// chunks, packets of duplicate deliveries and failed streams) and marks
// the batches swept. Safe to repeat.
//
// It also starts the BatchIngest workflow of batches past their seal
// deadline that never received a chunk (the workflow starts with the
// first one), which then aborts them.
//
// It depends on the store and blob packages through the small interfaces
// below, on workflows/sweep for names and types and on workflows/ingest's
// contract for the input it starts BatchIngest with. It holds no workflow
// code and must not import another flow's activities.
package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/store"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	contract "github.com/streambatch/streambatch/workflows/sweep"
)

// Store is what the sweeper needs of PostgreSQL.
type Store interface {
	UnsweptBatches(ctx context.Context, finishedBefore time.Time, limit int) ([]store.SweepTarget, error)
	ReferencedObjects(ctx context.Context, batchID string, indexes []int32) (map[string]bool, error)
	MarkSwept(ctx context.Context, batchID string) error
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error)
	OverdueBatches(ctx context.Context, now time.Time, limit int) ([]store.OverdueBatch, error)
	AbortBatch(ctx context.Context, id, reason string, sealedToo bool) (store.Batch, error)
	GetBatchAnyEnv(ctx context.Context, id string) (store.Batch, error)
}

// Starter starts a batch's BatchIngest workflow; starting a running one is
// a no-op, a finished one ingestwf.ErrClosed (*ingestwf.Client).
type Starter interface {
	Start(ctx context.Context, in ingestwf.Input) error
}

// Aborter aborts a batch's runs through its BatchRuns, which cancels the
// runs in flight and tells the parent (*runs.Client).
type Aborter interface {
	Abort(ctx context.Context, batchID, env, reason string) error
}

// maxKeysSwept bounds the expired idempotency keys one SweepObjects
// deletes (one statement); the next run takes the rest.
const maxKeysSwept = 10_000

// Objects is what the sweeper needs of S3.
type Objects interface {
	ListPages(ctx context.Context, prefix string, fn func(keys []string) error) error
	Delete(ctx context.Context, keys []string) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Activities holds the sweeper's dependencies. Register it with Register.
type Activities struct {
	Store   Store
	Objects Objects
	// Ingest starts the workflow of overdue batches (nil: they stay
	// PENDING until a chunk arrives, which starts it).
	Ingest Starter
	// Runs aborts the runs of an overdue batch the sweep aborts itself,
	// its BatchIngest having ended (nil: its row only).
	Runs Aborter
	// Metrics records attempt durations and failures (nil: none).
	Metrics *metrics.Metrics
}

// Register registers SweepObjects under its contract name (on the worker
// that runs the Sweep workflow).
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.SweepObjects, activity.RegisterOptions{Name: contract.ActivitySweepObjects})
}

func (a *Activities) observe(name string, start time.Time, err *error) {
	a.Metrics.Activity(name, time.Since(start), *err)
}

// heartbeat tells Temporal the attempt is alive.
func heartbeat(ctx context.Context, details string) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}

// SweepObjects sweeps up to in.Limit batches that finished more than
// in.Grace ago and were not swept since (SweepBatch each), and deletes up
// to maxKeysSwept item idempotency keys that expired (an expired key names
// no run: only a reset or a new item would touch it again), then expires
// overdue batches (ExpireOverdue); with in.ExpireOnly it only expires.
func (a *Activities) SweepObjects(ctx context.Context, in contract.Input) (res contract.Result, err error) {
	defer a.observe(contract.ActivitySweepObjects, time.Now(), &err)
	limit := max(in.Limit, 1)
	if in.ExpireOnly {
		res.Expired, err = a.ExpireOverdue(ctx, limit)
		return res, err
	}
	targets, err := a.Store.UnsweptBatches(ctx, time.Now().Add(-in.Grace), limit)
	if err != nil {
		return res, err
	}
	for _, t := range targets {
		heartbeat(ctx, t.BatchID)
		deleted, kept, err := a.SweepBatch(ctx, t)
		if err != nil {
			return res, err
		}
		res.Batches++
		res.Deleted += deleted
		res.Kept += kept
	}
	res.More = len(targets) == limit
	if res.Deleted > 0 && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Info("swept unreferenced objects", "batches", res.Batches, "deleted", res.Deleted)
	}
	keys, err := a.Store.DeleteExpiredIdempotencyKeys(ctx, time.Now(), maxKeysSwept)
	if err != nil {
		return res, err
	}
	if keys > 0 && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Info("deleted expired idempotency keys", "keys", keys)
	}
	res.Expired, err = a.ExpireOverdue(ctx, limit)
	return res, err
}

// ExpireOverdue starts the BatchIngest of up to limit PENDING batches past
// their seal deadline and returns how many it started, found running or
// aborted. A batch that never received a chunk has no workflow (the first
// chunk starts it); started after its deadline, the workflow aborts the
// batch at once, with every consequence of an abort (its runs, its
// parent's signal). A batch whose workflow runs is its own timer's (the
// start is a no-op), and the input's window and small-batch settings never
// apply: the workflow takes no chunk after its deadline.
//
// A batch whose workflow ended while its row stayed PENDING (terminated by
// an operator: a workflow that ends seals or aborts its batch) has no timer
// left and cannot be started again, so the sweep aborts it itself
// (expireClosed). Left PENDING it would come first in every sweep. A batch
// that fails is logged and the others go on; the activity fails (and is
// retried) only when every batch failed, as when Temporal is down.
func (a *Activities) ExpireOverdue(ctx context.Context, limit int) (int, error) {
	if a.Ingest == nil {
		return 0, nil
	}
	overdue, err := a.Store.OverdueBatches(ctx, time.Now(), limit)
	if err != nil {
		return 0, err
	}
	n, failed := 0, 0
	var firstErr error
	for _, b := range overdue {
		heartbeat(ctx, b.BatchID)
		err := a.Ingest.Start(ctx, ingestwf.Input{BatchID: b.BatchID, Env: b.Env, RunCount: b.RunCount,
			CreatedAt: b.CreatedAt, SealDeadline: b.SealDeadline})
		if errors.Is(err, ingestwf.ErrClosed) {
			err = a.expireClosed(ctx, b)
		}
		if err != nil {
			failed++
			firstErr = cmp.Or(firstErr, err)
			a.warn(ctx, "could not expire a batch past its seal deadline", "batch_id", b.BatchID, "error", err)
			continue
		}
		n++
	}
	if n == 0 && failed > 0 {
		return 0, firstErr
	}
	if n > 0 && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Info("expired batches past their seal deadline", "batches", n, "failed", failed)
	}
	return n, nil
}

// warn logs a warning in an activity (tests call the methods directly).
func (a *Activities) warn(ctx context.Context, msg string, kv ...any) {
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn(msg, kv...)
	}
}

// SweepBatch deletes a finished batch's staged chunks and every packet
// under its prefix that none of its runs references, then marks it swept. It reads the references page by page (one
// indexed query per 1,000 objects), so a batch of any size sweeps in
// bounded memory. Safe to repeat.
func (a *Activities) SweepBatch(ctx context.Context, t store.SweepTarget) (deleted, kept int, err error) {
	deleted, err = a.Objects.DeletePrefix(ctx, batch.StagingPrefix(t.Env, t.BatchID))
	if err != nil {
		return deleted, 0, err
	}
	prefix := batch.BatchPacketPrefix(t.Env, t.BatchID)
	err = a.Objects.ListPages(ctx, prefix, func(keys []string) error {
		indexes := make([]int32, 0, len(keys))
		for _, k := range keys {
			if i, ok := batch.PacketIndex(prefix, k); ok {
				indexes = append(indexes, int32(i))
			}
		}
		refs, err := a.Store.ReferencedObjects(ctx, t.BatchID, indexes)
		if err != nil {
			return err
		}
		var orphans []string
		for _, k := range keys {
			// Outputs are written for existing runs only, just before their
			// reference commits: never an orphan, and never to be raced.
			if refs[k] || strings.HasSuffix(k, "/output.json") {
				kept++
			} else {
				orphans = append(orphans, k)
			}
		}
		if err := a.Objects.Delete(ctx, orphans); err != nil {
			return err
		}
		deleted += len(orphans)
		return nil
	})
	if err != nil {
		return deleted, kept, err
	}
	return deleted, kept, a.Store.MarkSwept(ctx, t.BatchID)
}

// expireClosed aborts an overdue batch whose BatchIngest has ended. Its row
// is read again: a batch sealed since OverdueBatches read it (its workflow
// then ended normally) is left alone; a PENDING one stays so, nothing
// being left to seal it. Its runs are aborted first, through BatchRuns,
// which aborts the row too, cancels the runs in flight (those of earlier
// chunks may execute) and tells a waiting parent; the row is then aborted
// at once. Should the first step fail, the row stays PENDING and the next
// sweep tries again; the other order would leave an ABORTED batch whose
// parent no one tells.
func (a *Activities) expireClosed(ctx context.Context, b store.OverdueBatch) error {
	row, err := a.Store.GetBatchAnyEnv(ctx, b.BatchID)
	if err != nil || row.Status != batch.StatusPending {
		return err
	}
	reason := fmt.Sprintf("seal timeout: not all %d items arrived by %s (its BatchIngest had ended)",
		b.RunCount, b.SealDeadline.UTC().Format(time.RFC3339))
	if a.Runs != nil {
		if err := a.Runs.Abort(ctx, b.BatchID, b.Env, reason); err != nil {
			return err
		}
	}
	if _, err := a.Store.AbortBatch(ctx, b.BatchID, reason, false); err != nil && !errors.Is(err, store.ErrNotPending) {
		return err
	}
	return nil
}
