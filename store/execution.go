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
}

// DispatchStep runs a Step in one transaction and one round trip.
func (s *Store) DispatchStep(ctx context.Context, st Step) (StepResult, error) {
	var res StepResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if len(st.Results) > 0 {
			b.Queue(s.q.get("record_results"), resultArgs(st.BatchID, st.Results)...)
		}
		if len(st.Started) > 0 {
			b.Queue(s.q.get("mark_executing"), startArgs(st.BatchID, st.Started, st.Owner)...)
		}
		if st.Claim > 0 {
			b.Queue(s.q.get("promote_delayed_runs"), st.BatchID, st.Now)
			b.Queue(s.q.get("claim_runs"), st.BatchID, st.Token, st.Owner, st.Claim, st.MaxBytes, st.From)
		}
		b.Queue(s.q.get("next_delay"), st.BatchID)
		b.Queue(s.q.get("has_open_runs"), st.BatchID)
		b.Queue(s.q.get("get_batch"), st.BatchID)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if len(st.Results) > 0 {
			if _, err := br.Exec(); err != nil {
				return classify(err)
			}
		}
		if len(st.Started) > 0 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if st.Claim > 0 {
			if err := br.QueryRow().Scan(&res.Promoted); err != nil {
				return err
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			res.Runs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ClaimedRun, error) {
				var r ClaimedRun
				var opts []byte
				err := row.Scan(&r.Index, &r.Task, &r.Payload, &r.PayloadType, &opts, &r.Attempts, &r.QueueTimestamp, &r.DelayUntil)
				if opts != nil {
					r.Options = json.RawMessage(opts)
				}
				return r, err
			})
			if err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&res.NextDelay); err != nil {
			return err
		}
		var delayed bool
		if err := br.QueryRow().Scan(&res.Ready, &delayed); err != nil {
			return err
		}
		res.Open = res.Ready || delayed
		bt, err := scanBatch(br.QueryRow())
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		res.Batch = bt
		if err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return StepResult{}, fmt.Errorf("store: dispatch step of %s: %w", st.BatchID, err)
	}
	// Claimed rows come back in update order; dispatch them by index.
	sortClaimed(res.Runs)
	return res, nil
}

func resultArgs(batchID string, rs []RunResult) []any {
	n := len(rs)
	idx, attempts := make([]int32, n), make([]int32, n)
	status := make([]string, n)
	output, otype, ecode, emsg := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	done := make([]time.Time, n)
	for k, r := range rs {
		idx[k], attempts[k], status[k] = int32(r.Index), int32(r.Attempts), string(r.Status)
		output[k], otype[k], ecode[k], emsg[k] = r.Output, r.OutputType, r.ErrorCode, r.ErrorMessage
		done[k] = r.CompletedAt
	}
	return []any{batchID, idx, status, output, otype, ecode, emsg, attempts, done}
}

func startArgs(batchID string, ss []RunStart, owner string) []any {
	n := len(ss)
	idx, attempt := make([]int32, n), make([]int32, n)
	at := make([]time.Time, n)
	for k, s := range ss {
		idx[k], attempt[k], at[k] = int32(s.Index), int32(s.Attempt), s.StartedAt
	}
	return []any{batchID, idx, attempt, at, owner}
}

// ReconcileAttempts sets the exact attempt count and start time of runs
// that workflow run owner (its claim prefix) dispatched, as read from its
// history.
func (s *Store) ReconcileAttempts(ctx context.Context, batchID, owner string, starts []RunStart) error {
	if len(starts) == 0 {
		return nil
	}
	args := startArgs(batchID, starts, owner)
	if _, err := s.pool.Exec(ctx, s.q.get("reconcile_attempts"), args...); err != nil {
		return fmt.Errorf("store: reconcile attempts of %s: %w", batchID, err)
	}
	return nil
}

// CompleteBatch marks a PROCESSING batch COMPLETED when none of its runs
// is open, and returns the batch as it is afterwards (completed reports
// whether this call completed it).
func (s *Store) CompleteBatch(ctx context.Context, id string) (b Batch, completed bool, err error) {
	var at time.Time
	err = s.pool.QueryRow(ctx, s.q.get("complete_batch"), id).Scan(&at)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, false, fmt.Errorf("store: complete %s: %w", id, err)
	}
	completed = err == nil
	b, err = s.GetBatchAnyEnv(ctx, id)
	return b, completed, err
}

// MarkParentNotified records that the batch's parent workflow was told it
// ended; it reports false when that was already recorded.
func (s *Store) MarkParentNotified(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, s.q.get("mark_parent_notified"), id)
	if err != nil {
		return false, fmt.Errorf("store: mark parent of %s notified: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// MarkParentRefused records why the batch's parent workflow was not
// signalled.
func (s *Store) MarkParentRefused(ctx context.Context, id, reason string) error {
	if _, err := s.pool.Exec(ctx, s.q.get("mark_parent_refused"), id, reason); err != nil {
		return fmt.Errorf("store: mark parent of %s refused: %w", id, err)
	}
	return nil
}

// RunCounts returns how many runs of a batch are in each status.
func (s *Store) RunCounts(ctx context.Context, batchID string) (map[batch.RunStatus]int, error) {
	rows, err := s.pool.Query(ctx, s.q.get("run_counts"), batchID)
	if err != nil {
		return nil, fmt.Errorf("store: run counts of %s: %w", batchID, err)
	}
	out := map[batch.RunStatus]int{}
	var status string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
		out[batch.RunStatus(status)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: run counts of %s: %w", batchID, err)
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
	rows, err := s.pool.Query(ctx, s.q.get("run_counts_waiting"), batchID)
	if err != nil {
		return nil, Waiting{}, fmt.Errorf("store: run counts of %s: %w", batchID, err)
	}
	groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StatusGroup, error) {
		var g StatusGroup
		var status string
		err := row.Scan(&status, &g.Count, &g.Claimed, &g.OldestClaim)
		g.Status = batch.RunStatus(status)
		return g, err
	})
	if err != nil {
		return nil, Waiting{}, fmt.Errorf("store: run counts of %s: %w", batchID, err)
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
	rows, err := s.pool.Query(ctx, s.q.get("waiting_for_worker_by_queue"))
	if err != nil {
		return nil, fmt.Errorf("store: runs waiting for a worker: %w", err)
	}
	var out []QueueWaiting
	var queue []byte
	var q QueueWaiting
	_, err = pgx.ForEachRow(rows, []any{&q.Env, &queue, &q.Runs, &q.Since}, func() error {
		w := q
		w.Queue = queueName(queue)
		if q.Since != nil {
			t := *q.Since
			w.Since = &t
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: runs waiting for a worker: %w", err)
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
	tag, err := s.pool.Exec(ctx, s.q.get("cancel_run"), batchID, index, reason)
	if err != nil {
		return Run{}, false, fmt.Errorf("store: cancel run %d of %s: %w", index, batchID, err)
	}
	r, err = s.GetRun(ctx, batchID, index)
	return r, tag.RowsAffected() == 1, err
}

// ErrNothingToReplay: the batch has no run that failed while executing.
var ErrNothingToReplay = errors.New("batch has no failed, expired or timed-out runs to replay")

// ErrNotCompleted: the batch is not COMPLETED (replay needs it to be).
var ErrNotCompleted = errors.New("batch is not completed")

// ReplayBatch puts a COMPLETED batch's runs that failed while executing
// (FAILED, EXPIRED, TIMED_OUT; not the ones that failed at creation) back
// in the queue and the batch back to PROCESSING. It returns how many runs
// will run again.
func (s *Store) ReplayBatch(ctx context.Context, id string) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q.get("replay_batch"), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotCompleted
		}
		tag, err = tx.Exec(ctx, s.q.get("replay_runs"), id, batch.CreationErrors)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return ErrNothingToReplay
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: replay %s: %w", id, err)
	}
	return int(n), nil
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
// them; fn returns false to stop.
func (s *Store) EachCreationError(ctx context.Context, batchID string, fn func(CreationError) bool) error {
	rows, err := s.pool.Query(ctx, s.q.get("creation_errors"), batchID, batch.CreationErrors)
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
	var has bool
	if err := s.pool.QueryRow(ctx, s.q.get("has_creation_errors"), batchID, batch.CreationErrors).Scan(&has); err != nil {
		return false, fmt.Errorf("store: creation errors of %s: %w", batchID, err)
	}
	return has, nil
}
