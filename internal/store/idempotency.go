package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Item idempotency keys (trigger.dev's options.idempotencyKey): within an
// environment, a key names one run of a task until it expires
// (options.idempotencyKeyTTL, 30 days by default), is reset, or its run
// FAILED, EXPIRED or TIMED_OUT. An item whose key names a run of another
// item becomes a CACHED row of its batch that names that run: it holds its
// index (the seal counts it) and never executes; reads show the run it
// names in its place. The run_idempotency_keys primary key decides which
// item's run a key names when two chunks carry it at once.

// keyMarker is in an item's stored options when it has an idempotency key
// ("idempotencyKeyTTL" and "idempotencyKeyOptions" do not contain it).
var keyMarker = []byte(`"idempotencyKey"`)

// keyedItem is an item whose idempotency key is claimed: its position in
// the chunk, and its key's hash and task.
type keyedItem struct {
	pos  int
	hash [sha256.Size]byte
	task string
	ttl  time.Duration
}

// resolveKeys claims the idempotency keys of items in tx, one statement
// for the chunk (none when no item has a key), and returns for each item
// the id of the run its key names when that is not the item's own run
// (nil when no item is cached). Pre-failed items and items whose options
// are refused claim no key: their runs fail, which frees a key anyway.
func (s *Store) resolveKeys(ctx context.Context, tx pgx.Tx, envID int64, batchID string, items []batch.Item) ([]*string, error) {
	var keyed []keyedItem
	for k := range items {
		it := &items[k]
		if it.Failed() || !bytes.Contains(it.Options, keyMarker) {
			continue
		}
		o := batch.StoredItemOptions(it.Options)
		if o.IdempotencyKey == "" || o.Refused != "" {
			continue
		}
		keyed = append(keyed, keyedItem{pos: k, hash: sha256.Sum256([]byte(o.IdempotencyKey)), task: it.Task, ttl: o.IdempotencyKeyTTL})
	}
	if len(keyed) == 0 {
		return nil, nil
	}
	// One row per key and task, in one order for every transaction (no
	// deadlock between two chunks that share keys); the first item of a
	// key in the chunk claims it for its run.
	claims := slices.Clone(keyed)
	slices.SortStableFunc(claims, func(a, b keyedItem) int {
		if c := bytes.Compare(a.hash[:], b.hash[:]); c != 0 {
			return c
		}
		if a.task != b.task {
			if a.task < b.task {
				return -1
			}
			return 1
		}
		return items[a.pos].Index - items[b.pos].Index
	})
	claims = slices.CompactFunc(claims, func(a, b keyedItem) bool { return a.hash == b.hash && a.task == b.task })
	p := db.ClaimIdempotencyKeysParams{EnvironmentID: envID, BatchID: batchID, KeyHash: make([][]byte, len(claims)),
		Task: make([]string, len(claims)), Idx: make([]int32, len(claims)), TtlMs: make([]int64, len(claims))}
	for k, c := range claims {
		p.KeyHash[k], p.Task[k], p.Idx[k] = c.hash[:], c.task, int32(items[c.pos].Index)
		p.TtlMs[k] = c.ttl.Milliseconds()
	}
	rows, err := s.q.WithTx(tx).ClaimIdempotencyKeys(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("claim %d idempotency keys: %w", len(claims), err)
	}
	type claim struct {
		hash [sha256.Size]byte
		task string
	}
	named := make(map[claim]string, len(rows))
	for _, r := range rows {
		var c claim
		copy(c.hash[:], r.KeyHash)
		c.task = r.Task
		named[c] = batch.RunID(r.BatchID, int(r.BatchIndex))
	}
	var cached []*string
	for _, ki := range keyed {
		id, ok := named[claim{ki.hash, ki.task}]
		if !ok {
			return nil, fmt.Errorf("claim idempotency keys: no row for the key of item %d", items[ki.pos].Index)
		}
		if id == batch.RunID(batchID, items[ki.pos].Index) {
			continue
		}
		if cached == nil {
			cached = make([]*string, len(items))
		}
		cached[ki.pos] = &id
	}
	return cached, nil
}

// countCached returns how many of cached are set.
func countCached(cached []*string) int {
	n := 0
	for _, c := range cached {
		if c != nil {
			n++
		}
	}
	return n
}

// ResetIdempotencyKey frees an idempotency key of a task in an environment
// (trigger.dev's idempotencyKeys.reset): the next item with it creates a
// new run. It returns ErrNotFound when the key names no run of the task.
func (s *Store) ResetIdempotencyKey(ctx context.Context, envID int64, key, task string) error {
	h := sha256.Sum256([]byte(key))
	n, err := s.q.ResetIdempotencyKey(ctx, db.ResetIdempotencyKeyParams{EnvironmentID: envID, KeyHash: h[:], Task: task})
	if err != nil {
		return fmt.Errorf("store: reset idempotency key: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// IdempotencyKeyRuns returns the runs an idempotency key names in an
// environment (one per task at most; expired keys not swept yet too, as
// trigger.dev keeps a key on its run until it is reused), ordered by task.
func (s *Store) IdempotencyKeyRuns(ctx context.Context, envID int64, key string) ([]Run, error) {
	h := sha256.Sum256([]byte(key))
	rows, err := s.q.IdempotencyKeyRuns(ctx, db.IdempotencyKeyRunsParams{EnvironmentID: envID, KeyHash: h[:]})
	if err != nil {
		return nil, fmt.Errorf("store: runs of an idempotency key: %w", err)
	}
	ids := make([]string, len(rows))
	for k, r := range rows {
		ids[k] = batch.RunID(r.BatchID, int(r.BatchIndex))
	}
	byID, err := s.RunsByID(ctx, envID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Run, 0, len(ids))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// RunsByID returns the runs of an environment with these ids (ids that
// name no run of the environment are left out), by id.
func (s *Store) RunsByID(ctx context.Context, envID int64, ids []string) (map[string]Run, error) {
	p := db.GetRunsByIDParams{EnvironmentID: envID}
	for _, id := range ids {
		if b, i, ok := batch.ParseRunID(id); ok {
			p.BatchIds, p.Indexes = append(p.BatchIds, b), append(p.Indexes, int32(i))
		}
	}
	out := make(map[string]Run, len(p.BatchIds))
	if len(p.BatchIds) == 0 {
		return out, nil
	}
	rows, err := s.q.GetRunsByID(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("store: %d runs by id: %w", len(p.BatchIds), err)
	}
	for _, r := range rows {
		run := runFromRow(db.GetRunRow{ID: r.ID, BatchIndex: r.BatchIndex, Task: r.Task, Status: r.Status,
			PayloadType: r.PayloadType, Payload: r.Payload, Options: r.Options, ErrorCode: r.ErrorCode,
			ErrorMessage: r.ErrorMessage, QueueTimestamp: r.QueueTimestamp, CreatedAt: r.CreatedAt, Output: r.Output,
			OutputType: r.OutputType, Attempts: r.Attempts, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
			DelayUntil: r.DelayUntil, CachedRunID: r.CachedRunID})
		out[r.ID] = run
	}
	return out, nil
}

// HasCachedRuns reports whether a batch may have CACHED runs (items whose
// idempotency key named another item's run); false means it has none.
func (s *Store) HasCachedRuns(ctx context.Context, batchID string) (bool, error) {
	n, err := s.q.RunsCached(ctx, batchID)
	if err != nil {
		return false, fmt.Errorf("store: cached runs of %s: %w", batchID, err)
	}
	return n > 0, nil
}

// EachCachedRun calls fn with the index of each CACHED run of a batch, in
// index order, and the id of the run it names, until fn returns false.
func (s *Store) EachCachedRun(ctx context.Context, batchID string, fn func(index int, runID string) bool) error {
	rows, err := s.pool.Query(ctx, db.CachedRuns, batchID)
	if err != nil {
		return fmt.Errorf("store: cached runs of %s: %w", batchID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int32
		var id string
		if err := rows.Scan(&i, &id); err != nil {
			return fmt.Errorf("store: cached runs of %s: %w", batchID, err)
		}
		if !fn(int(i), id) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: cached runs of %s: %w", batchID, err)
	}
	return nil
}

// DeleteExpiredIdempotencyKeys deletes up to limit idempotency keys that
// expired before before, oldest first, and returns how many it deleted.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := s.q.DeleteExpiredIdempotencyKeys(ctx, db.DeleteExpiredIdempotencyKeysParams{ExpiredBefore: before, MaxKeys: int32(limit)})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired idempotency keys: %w", err)
	}
	return int(n), nil
}
