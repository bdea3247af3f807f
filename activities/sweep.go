package activities

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/store"
	"github.com/streambatch/streambatch/workflows"
)

// SweepStore is what the sweeper needs of PostgreSQL.
type SweepStore interface {
	UnsweptBatches(ctx context.Context, finishedBefore time.Time, limit int) ([]store.SweepTarget, error)
	ReferencedObjects(ctx context.Context, batchID string, indexes []int32) (map[string]bool, error)
	MarkSwept(ctx context.Context, batchID string) error
}

// SweepObjects is what the sweeper needs of S3.
type SweepObjects interface {
	ListPages(ctx context.Context, prefix string, fn func(keys []string) error) error
	Delete(ctx context.Context, keys []string) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// SweepObjects sweeps up to in.Limit batches that finished more than
// in.Grace ago and were not swept since (SweepBatch each).
func (a *Activities) SweepObjects(ctx context.Context, in workflows.SweepInput) (res workflows.SweepResult, err error) {
	defer a.observe(workflows.ActivitySweepObjects, time.Now(), &err)
	limit := max(in.Limit, 1)
	targets, err := a.SweepDB.UnsweptBatches(ctx, time.Now().Add(-in.Grace), limit)
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
	return res, nil
}

// SweepBatch deletes a finished batch's staged chunks and every packet
// under its prefix that none of its runs references, then marks it swept. It reads the references page by page (one
// indexed query per 1,000 objects), so a batch of any size sweeps in
// bounded memory. Safe to repeat.
func (a *Activities) SweepBatch(ctx context.Context, t store.SweepTarget) (deleted, kept int, err error) {
	deleted, err = a.SweepBlob.DeletePrefix(ctx, batch.StagingPrefix(t.Env, t.BatchID))
	if err != nil {
		return deleted, 0, err
	}
	prefix := batch.BatchPacketPrefix(t.Env, t.BatchID)
	err = a.SweepBlob.ListPages(ctx, prefix, func(keys []string) error {
		indexes := make([]int32, 0, len(keys))
		for _, k := range keys {
			if i, ok := batch.PacketIndex(prefix, k); ok {
				indexes = append(indexes, int32(i))
			}
		}
		refs, err := a.SweepDB.ReferencedObjects(ctx, t.BatchID, indexes)
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
		if err := a.SweepBlob.Delete(ctx, orphans); err != nil {
			return err
		}
		deleted += len(orphans)
		return nil
	})
	if err != nil {
		return deleted, kept, err
	}
	return deleted, kept, a.SweepDB.MarkSwept(ctx, t.BatchID)
}
