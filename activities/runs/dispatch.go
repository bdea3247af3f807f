package runs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/tasks"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// PayloadURLTTL is how long a run's presigned payloadUrl stays valid.
const PayloadURLTTL = 24 * time.Hour

// maxClaimBytes bounds the payload and option bytes one dispatch step
// claims: they are written to history in the one workflow task that
// schedules the claimed runs (Temporal refuses 2 MiB). A payload that goes
// by reference counts 1 KiB (store.Step.RefFrom).
const maxClaimBytes = 1 << 20

// DispatchStep (a local activity of BatchRuns) records the outcomes of
// finished runs in one transaction (offloading large outputs to S3),
// refreshes EXECUTING runs from the workflow's pending activities when
// asked, and claims the next runs, turned into envelopes.
func (a *Activities) DispatchStep(ctx context.Context, in contract.StepInput) (out contract.StepResult, err error) {
	defer a.observe(contract.ActivityDispatchStep, time.Now(), &err)
	results, err := a.storeResults(ctx, in)
	if err != nil {
		return out, err
	}
	owner := in.RunID + ":"
	st := store.Step{BatchID: in.BatchID, Results: results, Owner: owner, Token: owner + strconv.Itoa(in.Step),
		Claim: in.Claim, MaxBytes: maxClaimBytes, From: in.From, Now: in.Now, RefFrom: a.PayloadRefs.refFrom(in)}
	if in.Describe && a.Temporal != nil {
		if st.Started, err = a.startedRuns(ctx, in.WorkflowID, in.RunID); err != nil {
			return out, err
		}
	}
	res, err := a.Exec.DispatchStep(ctx, st)
	if err != nil {
		return out, err
	}
	for _, o := range in.Results {
		a.Metrics.RunFinished(string(o.Status), o.Latency)
	}
	out.Status, out.Open, out.Ready, out.NextDelay, out.Promoted = res.Batch.Status, res.Open, res.Ready, res.NextDelay, res.Promoted
	out.Blocked, out.BlockedQueue = res.Blocked, res.BlockedQueue
	a.wake(ctx, res.Woken)
	for _, r := range res.Runs {
		d, failed, err := a.dispatch(ctx, in, r, false)
		switch {
		case err != nil:
			return contract.StepResult{}, err
		case failed != nil:
			out.Failed = append(out.Failed, *failed)
		default:
			d.Slice = a.Slices.Size(in.Env, r.Task)
			out.Runs = append(out.Runs, d)
		}
	}
	if err := a.retries(ctx, in, &out); err != nil {
		return contract.StepResult{}, err
	}
	if in.Aside && len(out.Runs) > 0 {
		if a.Aside == nil {
			return contract.StepResult{}, errors.New("runs: DispatchStep was asked to set payloads aside but has no Aside (register the flow with worker)")
		}
		// The payloads (with in.Compact, the envelopes) go into the activity
		// inputs only, not this result.
		a.Aside.SetStep(in, &out)
	}
	a.Metrics.RunsStarted(len(out.Runs))
	return out, nil
}

// wake signals the batches that waited for a queue whose slots the step
// freed. Their waiter rows are gone: a signal that fails is only logged,
// and such a batch claims again after its fallback timer.
func (a *Activities) wake(ctx context.Context, woken []store.QueueWaiter) {
	if a.Waker == nil {
		return
	}
	for _, w := range woken {
		if err := a.Waker.Wake(ctx, w.BatchID, contract.HintFrom(w.From)); err != nil && a.Log != nil {
			a.Log.Warn("runs: could not wake a batch waiting for a queue slot", "batch", w.BatchID, "err", err)
		}
	}
}

// storeResults turns the workflow's outcomes into rows, moving outputs at
// or above the offload threshold to S3.
func (a *Activities) storeResults(ctx context.Context, in contract.StepInput) ([]store.RunResult, error) {
	out := make([]store.RunResult, len(in.Results))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for k, o := range in.Results {
		r := store.RunResult{Index: o.Index, Status: o.Status, Attempts: o.Attempts, CompletedAt: o.CompletedAt}
		if o.ErrorCode != "" {
			r.ErrorCode, r.ErrorMessage = ptr(o.ErrorCode), ptr(o.ErrorMessage)
		}
		if o.Output != nil {
			r.Output, r.OutputType = ptr(string(o.Output)), ptr(o.OutputType)
			if a.OutputOffloadThreshold > 0 && len(o.Output) >= a.OutputOffloadThreshold {
				key := batch.OutputKey(in.Env, in.BatchID, o.Index)
				data := o.Output
				g.Go(func() error {
					return a.Objects.Put(gctx, key, o.OutputType, strings.NewReader(string(data)), int64(len(data)))
				})
				r.Output, r.OutputType = ptr(key), ptr(batch.PayloadTypeStore)
			}
		}
		out[k] = r
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("offload outputs: %w", err)
	}
	return out, nil
}

func ptr(s string) *string { return &s }

// startedRuns lists the runs whose activity a task worker has started,
// from the workflow's pending activities: the attempt running, or, for a
// run waiting for its next attempt (retry backoff), the attempts before
// it, so that such a run shows EXECUTING and not waiting for a worker.
func (a *Activities) startedRuns(ctx context.Context, workflowID, runID string) ([]store.RunStart, error) {
	resp, err := a.Temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	var out []store.RunStart
	for _, p := range resp.GetPendingActivities() {
		indexes, prior, slice, ok := contract.ActivityRuns(p.GetActivityId())
		if !ok {
			continue
		}
		if slice {
			// A slice's runs show EXECUTING while it runs; their attempts
			// come with their outcomes.
			if p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				for _, i := range indexes {
					out = append(out, store.RunStart{Index: i, Attempt: 1, StartedAt: p.GetLastStartedTime().AsTime()})
				}
			}
			continue
		}
		index := indexes[0]
		switch {
		case p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED:
			out = append(out, store.RunStart{Index: index, Attempt: prior + int(p.GetAttempt()), StartedAt: p.GetLastStartedTime().AsTime()})
		case p.GetAttempt() > 1:
			// Only a started attempt is retried (a schedule-to-start
			// timeout is final): a worker served this run.
			at := p.GetLastStartedTime()
			if at == nil || at.AsTime().IsZero() {
				at = p.GetLastAttemptCompleteTime()
			}
			if at != nil && !at.AsTime().IsZero() {
				out = append(out, store.RunStart{Index: index, Attempt: prior + int(p.GetAttempt()) - 1, StartedAt: at.AsTime()})
			}
		}
	}
	return out, nil
}

// dispatch builds a claimed run's activity, or its outcome when it cannot
// run (options that cannot be honoured, a ttl that already passed). A
// retry (a run that already started in a slice) is past its ttl's wait.
func (a *Activities) dispatch(ctx context.Context, in contract.StepInput, r store.ClaimedRun, retry bool) (contract.Dispatch, *contract.RunOutcome, error) {
	fail := func(status batch.RunStatus, code, msg string) (contract.Dispatch, *contract.RunOutcome, error) {
		return contract.Dispatch{}, &contract.RunOutcome{Index: r.Index, Status: status, ErrorCode: code, ErrorMessage: msg, CompletedAt: in.Now}, nil
	}
	opts := batch.StoredItemOptions(r.Options)
	if opts.Refused != "" {
		return fail(batch.RunFailed, batch.ErrorInvalidOptions, opts.Refused)
	}
	d := contract.Dispatch{
		TaskQueue:    tasks.TaskQueue(in.Env, opts.Queue),
		MaxAttempts:  in.MaxAttempts,
		StartToClose: in.MaxDuration,
		Envelope: tasks.Envelope{
			ID: batch.RunID(in.BatchID, r.Index), BatchID: in.BatchID, Index: r.Index, Task: r.Task,
			PayloadType: r.PayloadType, Attempt: r.Attempts + 1,
			Metadata: opts.Metadata, Tags: opts.Tags, IdempotencyKey: opts.IdempotencyKey,
		},
	}
	if opts.MaxAttempts > 0 {
		d.MaxAttempts = opts.MaxAttempts
	}
	if opts.MaxDuration > 0 {
		d.StartToClose = opts.MaxDuration
	}
	if opts.Priority > 0 {
		d.Priority = 2 // above Temporal's default of 3
	}
	switch {
	case opts.TTL <= 0 || retry:
		// No ttl of its own: the default, if any, bounds the wait for a
		// task worker from now (a replayed or long-queued run is not
		// expired before it is dispatched).
		d.ScheduleToStart = a.RunDefaultTTL
	default:
		start := r.QueueTimestamp
		if r.DelayUntil != nil && r.DelayUntil.After(start) {
			start = *r.DelayUntil
		}
		left := start.Add(opts.TTL).Sub(in.Now)
		if left <= 0 {
			return fail(batch.RunExpired, batch.ErrorTTLExpired, "the run's ttl passed before it could start")
		}
		// Whole seconds, rounded up (a run never expires early): runs
		// queued within one second share the value, so a claim records
		// them as one span (compact claims) rather than one shape each.
		if part := left % time.Second; part != 0 {
			left += time.Second - part
		}
		d.ScheduleToStart = left
	}
	if r.Payload != nil {
		d.Envelope.Payload = *r.Payload
		if r.PayloadType == batch.PayloadTypeStore {
			if !strings.HasPrefix(*r.Payload, batch.PacketPrefix(in.Env)) {
				return fail(batch.RunFailed, batch.ErrorInvalidOptions, "stored payload outside the environment")
			}
			url, err := a.Objects.PresignGet(ctx, *r.Payload, PayloadURLTTL)
			if err != nil {
				return contract.Dispatch{}, nil, err
			}
			d.Envelope.PayloadURL = url
		}
	}
	a.PayloadRefs.byRef(in, &d.Envelope)
	return d, nil, nil
}

// FinishRuns (a local activity of BatchRuns) completes the batch when no
// run is open, or aborts it (cancelling its open runs), and reports its
// run counts and the parent workflow still to be told.
func (a *Activities) FinishRuns(ctx context.Context, in contract.FinishInput) (out contract.FinishResult, err error) {
	defer a.observe(contract.ActivityFinishRuns, time.Now(), &err)
	var b store.Batch
	if in.Abort != "" {
		b, err = a.Exec.AbortBatch(ctx, in.BatchID, in.Abort, true)
		if errors.Is(err, store.ErrNotPending) {
			err = nil // completed before the abort: it stays completed
		}
	} else {
		b, _, err = a.Exec.CompleteBatch(ctx, in.BatchID)
	}
	if err != nil {
		return out, err
	}
	counts, err := a.Exec.RunCounts(ctx, in.BatchID)
	if err != nil {
		return out, err
	}
	out.Status, out.RunCounts = b.Status, make(map[string]int, len(counts))
	for s, n := range counts {
		out.RunCounts[string(s)] = n
	}
	if b.Status.Terminal() && b.ParentNotifiedAt == nil && b.ParentRefused == nil {
		out.Parent = b.ParentWorkflow()
	}
	if in.Inline && b.Status.Terminal() && a.Starter != nil {
		// A hint sent while BatchIngest was taking the runs over may have
		// started a BatchRuns that waits for runs it does not own: it looks
		// again, finds the batch ended and ends.
		if err := a.Starter.WakeBatchRuns(ctx, in.BatchID, contract.Hint{}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ParentNotified (a local activity of BatchRuns) records that the batch's
// parent workflow was signalled.
func (a *Activities) ParentNotified(ctx context.Context, batchID string) error {
	_, err := a.Exec.MarkParentNotified(ctx, batchID)
	return err
}

// ReconcileAttempts (a local activity of BatchRuns) reads the calling
// run's history and records, for each run it dispatched, the exact number
// of attempts and when the last one started: what the workflow cannot see.
func (a *Activities) ReconcileAttempts(ctx context.Context, in contract.ReconcileInput) (err error) {
	defer a.observe(contract.ActivityReconcileAttempts, time.Now(), &err)
	if a.Temporal == nil {
		return nil
	}
	it := a.Temporal.GetWorkflowHistory(ctx, in.WorkflowID, in.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	type run struct {
		indexes []int
		prior   int
		slice   bool
	}
	scheduled := map[int64]run{}
	var starts []store.RunStart
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return fmt.Errorf("history of %s: %w", in.WorkflowID, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			indexes, prior, slice, ok := contract.ActivityRuns(ev.GetActivityTaskScheduledEventAttributes().GetActivityId())
			if ok {
				scheduled[ev.GetEventId()] = run{indexes, prior, slice}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			attrs := ev.GetActivityTaskStartedEventAttributes()
			r, ok := scheduled[attrs.GetScheduledEventId()]
			switch {
			case !ok:
			case r.slice:
				// The slice's start only: its outcomes count each run's
				// attempts (Attempt 0 keeps them).
				for _, i := range r.indexes {
					starts = append(starts, store.RunStart{Index: i, StartedAt: ev.GetEventTime().AsTime()})
				}
			default:
				starts = append(starts, store.RunStart{Index: r.indexes[0], Attempt: r.prior + int(attrs.GetAttempt()), StartedAt: ev.GetEventTime().AsTime()})
			}
		}
	}
	return a.Exec.ReconcileAttempts(ctx, in.BatchID, in.RunID+":", starts)
}
