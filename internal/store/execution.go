package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// RunResult is the final outcome of one run.
type RunResult struct {
	Index        int
	Status       batch.RunStatus
	Output       *string
	OutputType   *string
	ErrorCode    *string
	ErrorMessage *string
	// Attempts is how many attempts this dispatch made (at least), added
	// to the run's attempts before it.
	Attempts    int
	CompletedAt time.Time
}

// RunStart reports that attempt Attempt of a dispatched run started.
type RunStart struct {
	Index     int
	Attempt   int
	StartedAt time.Time
}

// ClaimedRun is a run a dispatch step took for execution.
type ClaimedRun struct {
	Index          int
	Task           string
	Payload        *string
	PayloadType    string
	Options        json.RawMessage
	Attempts       int
	QueueTimestamp time.Time
	DelayUntil     *time.Time
}

// Step is one dispatch step of a batch's BatchRuns workflow: record the
// results that came in, mark the runs workers started, and claim more.
type Step struct {
	BatchID string
	Results []RunResult
	Started []RunStart
	// Owner is the dispatching workflow run's claim prefix ("<run id>:");
	// Token (Owner + step number) names this step's claim.
	Owner, Token string
	// Claim is how many runs to claim at most (0: none), MaxBytes the
	// most payload and option bytes they may hold together (the first run
	// is always claimed), From the lowest index to claim (a cursor: the
	// scan of open runs starts there, not at the batch's first run, whose
	// finished rows may still sit in the index until vacuum).
	Claim    int
	MaxBytes int
	From     int
	// RefFrom, when above 0, is the stored size from which a payload goes
	// to its task worker by reference: such a payload counts 1 KiB against
	// MaxBytes, not its size.
	RefFrom int
	// Now promotes DELAYED runs whose time has come.
	Now time.Time
}

// StepResult is what a dispatch step found.
type StepResult struct {
	Batch Batch
	Runs  []ClaimedRun
	// NextDelay is when the next DELAYED run may start (nil: none).
	NextDelay *time.Time
	// Open reports whether any run is still QUEUED, DELAYED or EXECUTING;
	// Ready whether any is QUEUED or EXECUTING.
	Open, Ready bool
	// Promoted is the lowest index of the DELAYED runs made QUEUED (nil:
	// none).
	Promoted *int
	// Blocked is the lowest index of the runs left unclaimed because their
	// queue is paused or holds its limit (nil: none), BlockedQueue that
	// run's queue. The batch is then a waiter of the queue.
	Blocked      *int
	BlockedQueue string
	// Woken are the other batches that waited for a queue whose slots the
	// recorded results freed: signal them to claim again.
	Woken []QueueWaiter
}

// QueueWaiter is a batch whose runs wait for a slot of a queue, from
// index From on.
type QueueWaiter struct {
	BatchID string
	From    int
}

// claimLookahead is how many open runs past the cursor a claim looks at
// when queue limits apply: runs of a full queue or key are skipped, up to
// this many, to reach the runs of other queues and keys behind them.
const claimLookahead = 2000

// DispatchStep runs a Step in one transaction and one round trip: its
// statements go out together (pipeline) and their results are read in
// order.
func (s *Store) DispatchStep(ctx context.Context, st Step) (StepResult, error) {
	var results db.RecordResultsParams
	if len(st.Results) > 0 {
		results = resultParams(st.BatchID, st.Results)
	}
	var starts db.MarkExecutingParams
	if len(st.Started) > 0 {
		starts = db.MarkExecutingParams(startParams(st.BatchID, st.Started, st.Owner))
	}
	// step makes the step's calls; which calls depends on st only, so the
	// pipeline's two passes make the same ones.
	step := func(q *db.Queries) (res StepResult, err error) {
		if len(st.Results) > 0 {
			if err := q.RecordResults(ctx, results); err != nil {
				return res, classify(err)
			}
		}
		if len(st.Started) > 0 {
			if err := q.MarkExecuting(ctx, starts); err != nil {
				return res, err
			}
		}
		if st.Claim > 0 {
			lowest, err := q.PromoteDelayedRuns(ctx, db.PromoteDelayedRunsParams{BatchID: st.BatchID, Now: st.Now})
			if err != nil {
				return res, err
			}
			if l := nullable[int32](lowest); l != nil {
				res.Promoted = ptr(int(*l))
			}
		}
		if st.Claim > 0 || len(st.Results) > 0 {
			// The environment's queue lock, when limits may apply, before
			// any slot is counted or freed (queues.sql).
			prep := db.PrepareQueuesParams{BatchID: st.BatchID, FromIndex: int32(st.From), Owner: st.Owner, MaxRuns: int32(st.Claim),
				Idx: results.Idx}
			if prep.Idx == nil {
				prep.Idx = []int32{}
			}
			if _, err := q.PrepareQueues(ctx, prep); err != nil {
				return res, err
			}
			if err := q.RecordQueueLimits(ctx, db.RecordQueueLimitsParams{BatchID: prep.BatchID, FromIndex: prep.FromIndex,
				Owner: prep.Owner, MaxRuns: prep.MaxRuns}); err != nil {
				return res, err
			}
		}
		if len(st.Results) > 0 {
			woken, err := q.WakeQueueWaiters(ctx, db.WakeQueueWaitersParams{BatchID: st.BatchID, Idx: results.Idx})
			if err != nil {
				return res, err
			}
			for _, w := range woken {
				res.Woken = append(res.Woken, QueueWaiter{BatchID: w.BatchID, From: int(w.FromIndex)})
			}
		}
		if st.Claim > 0 {
			claimed, err := q.ClaimRuns(ctx, db.ClaimRunsParams{BatchID: st.BatchID, Token: st.Token, Owner: st.Owner,
				MaxRuns: int32(st.Claim), MaxBytes: int64(st.MaxBytes), FromIndex: int32(st.From), Lookahead: claimLookahead,
				RefFrom: int32(st.RefFrom)})
			if err != nil {
				return res, err
			}
			for _, r := range claimed {
				res.Runs = append(res.Runs, ClaimedRun{Index: int(r.BatchIndex), Task: r.Task, Payload: r.Payload,
					PayloadType: r.PayloadType, Options: r.Options, Attempts: int(r.Attempts),
					QueueTimestamp: r.QueueTimestamp, DelayUntil: r.DelayUntil})
			}
			blocked, err := q.BlockedRuns(ctx, db.BlockedRunsParams{BatchID: st.BatchID, FromIndex: int32(st.From),
				Owner: st.Owner, Lookahead: claimLookahead})
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return res, err
			default:
				res.Blocked, res.BlockedQueue = ptr(int(blocked.FromIndex)), blocked.Queue
			}
		}
		next, err := q.NextDelay(ctx, st.BatchID)
		if err != nil {
			return res, err
		}
		res.NextDelay = nullable[time.Time](next)
		open, err := q.HasOpenRuns(ctx, st.BatchID)
		if err != nil {
			return res, err
		}
		res.Ready, res.Open = open.Ready, open.Ready || open.Delayed
		row, err := q.GetBatch(ctx, st.BatchID)
		if errors.Is(err, pgx.ErrNoRows) {
			return res, ErrNotFound
		}
		res.Batch = batchFromRow(row)
		return res, err
	}
	var res StepResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		res, err = pipeline(ctx, tx, step)
		return err
	})
	if err != nil {
		return StepResult{}, fmt.Errorf("store: dispatch step of %s: %w", st.BatchID, err)
	}
	// Claimed rows come back in update order; dispatch them by index.
	sortClaimed(res.Runs)
	return res, nil
}

func resultParams(batchID string, rs []RunResult) db.RecordResultsParams {
	n := len(rs)
	p := db.RecordResultsParams{BatchID: batchID, Idx: make([]int32, n), Status: make([]string, n),
		Output: make([]*string, n), OutputType: make([]*string, n), ErrorCode: make([]*string, n),
		ErrorMessage: make([]*string, n), Attempts: make([]int32, n), CompletedAt: make([]time.Time, n)}
	for k, r := range rs {
		p.Idx[k], p.Attempts[k], p.Status[k] = int32(r.Index), int32(r.Attempts), string(r.Status)
		p.Output[k], p.OutputType[k], p.ErrorCode[k], p.ErrorMessage[k] = r.Output, r.OutputType, r.ErrorCode, r.ErrorMessage
		p.CompletedAt[k] = r.CompletedAt
	}
	return p
}

func startParams(batchID string, ss []RunStart, owner string) db.ReconcileAttemptsParams {
	n := len(ss)
	p := db.ReconcileAttemptsParams{BatchID: batchID, Owner: owner, Idx: make([]int32, n), Attempt: make([]int32, n),
		StartedAt: make([]time.Time, n)}
	for k, s := range ss {
		p.Idx[k], p.Attempt[k], p.StartedAt[k] = int32(s.Index), int32(s.Attempt), s.StartedAt
	}
	return p
}

// ReconcileAttempts sets the exact attempt count and start time of runs
// that workflow run owner (its claim prefix) dispatched, as read from its
// history.
func (s *Store) ReconcileAttempts(ctx context.Context, batchID, owner string, starts []RunStart) error {
	if len(starts) == 0 {
		return nil
	}
	if err := s.q.ReconcileAttempts(ctx, startParams(batchID, starts, owner)); err != nil {
		return fmt.Errorf("store: reconcile attempts of %s: %w", batchID, err)
	}
	return nil
}

// RunCounts returns how many runs of a batch are in each status.
func (s *Store) RunCounts(ctx context.Context, batchID string) (map[batch.RunStatus]int, error) {
	rows, err := s.q.RunCounts(ctx, batchID)
	if err != nil {
		return nil, fmt.Errorf("store: run counts of %s: %w", batchID, err)
	}
	out := make(map[batch.RunStatus]int, len(rows))
	for _, r := range rows {
		out[r.Status] = int(r.N)
	}
	return out, nil
}

// Waiting describes runs dispatched to their task queue (claimed by a
// BatchRuns step) that no task worker has started: with a wrong queue, a
// task no worker registered or no worker running they wait for ever unless
// a ttl expires them.
type Waiting struct {
	// Runs is how many runs wait for a worker.
	Runs int
	// Since is when the longest-waiting of them was dispatched (nil: none
	// waits, or none of those waiting has a claimed_at).
	Since *time.Time
}

// WaitingForWorker derives Waiting from a batch's runs grouped by status:
// a run waits for a worker when it is QUEUED and claimed (dispatched); a
// worker's start makes it EXECUTING (seen by BatchRuns' periodic refresh,
// at most a minute late, or by its outcome).
func WaitingForWorker(groups []StatusGroup) Waiting {
	var w Waiting
	for _, g := range groups {
		if g.Status != batch.RunQueued || g.Claimed == 0 {
			continue
		}
		w.Runs += g.Claimed
		if g.OldestClaim != nil && (w.Since == nil || g.OldestClaim.Before(*w.Since)) {
			t := *g.OldestClaim
			w.Since = &t
		}
	}
	return w
}

// StatusGroup is a batch's runs in one status: how many, how many of them
// a dispatch step claimed, and the oldest claim.
type StatusGroup struct {
	Status      batch.RunStatus
	Count       int
	Claimed     int
	OldestClaim *time.Time
}

// RunCountsWaiting returns RunCounts and the batch's runs waiting for a
// task worker, from one read of its runs.
func (s *Store) RunCountsWaiting(ctx context.Context, batchID string) (map[batch.RunStatus]int, Waiting, error) {
	rows, err := s.q.RunCountsWaiting(ctx, batchID)
	if err != nil {
		return nil, Waiting{}, fmt.Errorf("store: run counts of %s: %w", batchID, err)
	}
	groups := make([]StatusGroup, len(rows))
	for k, r := range rows {
		groups[k] = StatusGroup{Status: r.Status, Count: int(r.N), Claimed: int(r.Claimed), OldestClaim: nullable[time.Time](r.OldestClaim)}
	}
	counts := make(map[batch.RunStatus]int, len(groups))
	for _, g := range groups {
		counts[g.Status] = g.Count
	}
	return counts, WaitingForWorker(groups), nil
}

// QueueWaiting is the runs of one environment and queue (options.queue
// name, "" for none) that wait for a task worker.
type QueueWaiting struct {
	Env, Queue string
	Waiting
}

// WaitingByQueue returns the runs waiting for a task worker across every
// batch, by environment and queue, sorted. It reads only claimed open runs
// (runs_claimed_only), at most the runs in flight.
func (s *Store) WaitingByQueue(ctx context.Context) ([]QueueWaiting, error) {
	rows, err := s.q.WaitingForWorkerByQueue(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: runs waiting for a worker: %w", err)
	}
	var out []QueueWaiting
	for _, r := range rows {
		out = append(out, QueueWaiting{Env: r.EnvName, Queue: queueName(r.Queue), Waiting: Waiting{Runs: int(r.N), Since: nullable[time.Time](r.Since)}})
	}
	return mergeQueues(out), nil
}

// queueName reads a stored options.queue as the dispatcher does
// (batch.StoredItemOptions): its name, "" when absent or refused.
func queueName(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	o := batch.StoredItemOptions([]byte(`{"queue":` + string(raw) + `}`))
	if o.Refused != "" {
		return ""
	}
	return o.Queue
}

// mergeQueues folds groups that name the same queue (options.queue JSON
// that differs only in spelling) and sorts by environment and queue.
func mergeQueues(in []QueueWaiting) []QueueWaiting {
	slices.SortFunc(in, func(a, b QueueWaiting) int {
		if c := strings.Compare(a.Env, b.Env); c != 0 {
			return c
		}
		return strings.Compare(a.Queue, b.Queue)
	})
	var out []QueueWaiting
	for _, w := range in {
		if n := len(out); n > 0 && out[n-1].Env == w.Env && out[n-1].Queue == w.Queue {
			last := &out[n-1]
			last.Runs += w.Runs
			if w.Since != nil && (last.Since == nil || w.Since.Before(*last.Since)) {
				last.Since = w.Since
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// CancelRun cancels a run that no dispatcher holds (DELAYED, or QUEUED and
// not yet dispatched) and returns the run as it is afterwards; canceled
// reports whether this call cancelled it. A run being executed is left to
// the caller (signal the batch's BatchRuns workflow).
func (s *Store) CancelRun(ctx context.Context, batchID string, index int, reason string) (r Run, canceled bool, err error) {
	n, err := s.q.CancelRun(ctx, db.CancelRunParams{BatchID: batchID, BatchIndex: int32(index), Reason: &reason})
	if err != nil {
		return Run{}, false, fmt.Errorf("store: cancel run %d of %s: %w", index, batchID, err)
	}
	r, err = s.GetRun(ctx, batchID, index)
	return r, n == 1, err
}

// ErrNotDelayed: the run is not DELAYED (reschedule needs it to be).
var ErrNotDelayed = errors.New("run is not delayed")

// RescheduleRun makes the DELAYED run at index of a batch wait until until
// and returns it as it is afterwards; ErrNotDelayed when it is not DELAYED
// (the run is unchanged).
func (s *Store) RescheduleRun(ctx context.Context, batchID string, index int, until time.Time) (Run, error) {
	n, err := s.q.RescheduleRun(ctx, db.RescheduleRunParams{BatchID: batchID, BatchIndex: int32(index), DelayUntil: &until})
	if err != nil {
		return Run{}, fmt.Errorf("store: reschedule run %d of %s: %w", index, batchID, err)
	}
	if n == 0 {
		return Run{}, fmt.Errorf("store: reschedule run %d of %s: %w", index, batchID, ErrNotDelayed)
	}
	return s.GetRun(ctx, batchID, index)
}

// ErrTooManyTags: the tags would make more than batch.MaxRunTags.
var ErrTooManyTags = fmt.Errorf("a run has at most %d tags", batch.MaxRunTags)

// AddRunTags adds tags to the run at index of a batch (those it has keep
// their place, a tag it has already is not added twice) and returns how
// many were new; ErrTooManyTags (and no change) when the run would have
// more than batch.MaxRunTags, ErrNotFound when there is no such run.
func (s *Store) AddRunTags(ctx context.Context, batchID string, index int, tags []string) (int, error) {
	n, err := s.q.AddRunTags(ctx, db.AddRunTagsParams{BatchID: batchID, BatchIndex: int32(index), Tags: tags, MaxTags: batch.MaxRunTags})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.GetRun(ctx, batchID, index); gerr != nil {
			return 0, gerr
		}
		err = ErrTooManyTags
	}
	if err != nil {
		return 0, fmt.Errorf("store: add tags to run %d of %s: %w", index, batchID, err)
	}
	return int(n), nil
}

// UpdateRunMetadata sets the metadata of the run at index of a batch to
// what change makes of it, given its metadata (nil: none) and status, with
// the run's row locked between the read and the write; an error of change
// is returned as it is and changes nothing. ErrNotFound when there is no
// such run.
func (s *Store) UpdateRunMetadata(ctx context.Context, batchID string, index int,
	change func(old json.RawMessage, status batch.RunStatus) (json.RawMessage, error)) (json.RawMessage, error) {
	var out json.RawMessage
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		row, err := q.LockRunMetadata(ctx, db.LockRunMetadataParams{BatchID: batchID, BatchIndex: int32(index)})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: read the metadata of run %d of %s: %w", index, batchID, err)
		}
		if out, err = change(row.Metadata, row.Status); err != nil {
			return err
		}
		if out == nil {
			out = json.RawMessage(`{}`)
		}
		if err := q.SetRunMetadata(ctx, db.SetRunMetadataParams{BatchID: batchID, BatchIndex: int32(index), Metadata: out}); err != nil {
			return fmt.Errorf("store: set the metadata of run %d of %s: %w", index, batchID, classify(err))
		}
		return nil
	})
	return out, err
}

func sortClaimed(rs []ClaimedRun) {
	slices.SortFunc(rs, func(a, b ClaimedRun) int { return a.Index - b.Index })
}

// CreationError is a run that failed before it could run.
type CreationError struct {
	Index   int
	Task    string
	Code    string
	Message string
}

// EachCreationError calls fn with each of a batch's runs that failed at
// creation (such as PAYLOAD_TOO_LARGE), by index, as PostgreSQL sends
// them; fn returns false to stop. It reads the rows of db.CreationErrors
// one at a time, as the generated method (which collects them) cannot.
func (s *Store) EachCreationError(ctx context.Context, batchID string, fn func(CreationError) bool) error {
	rows, err := s.pool.Query(ctx, db.CreationErrors, batchID, batch.CreationErrors)
	if err != nil {
		return fmt.Errorf("store: creation errors of %s: %w", batchID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e CreationError
		if err := rows.Scan(&e.Index, &e.Task, &e.Code, &e.Message); err != nil {
			return fmt.Errorf("store: creation errors of %s: %w", batchID, err)
		}
		if !fn(e) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: creation errors of %s: %w", batchID, err)
	}
	return nil
}

// HasCreationErrors reports whether any run of a batch failed at creation.
func (s *Store) HasCreationErrors(ctx context.Context, batchID string) (bool, error) {
	has, err := s.q.HasCreationErrors(ctx, db.HasCreationErrorsParams{BatchID: batchID, CreationErrors: batch.CreationErrors})
	if err != nil {
		return false, fmt.Errorf("store: creation errors of %s: %w", batchID, err)
	}
	return has, nil
}
