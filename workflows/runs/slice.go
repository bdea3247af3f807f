package runs

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
)

// sliceHeartbeat is a slice activity's heartbeat timeout: a task worker
// that dies mid-slice is noticed after it, and the slice's next attempt
// resumes from the last heartbeat (tasks.SliceProgress).
const sliceHeartbeat = 10 * time.Second

// sliceRun is what the workflow keeps of a run in a slice in flight.
type sliceRun struct {
	index int
	// attempt is the run's Envelope.Attempt in the slice.
	attempt int
}

// slicing reports whether this run takes changeSliced's path.
func (d *dispatcher) slicing(ctx workflow.Context) bool {
	if !d.slicedKnown {
		d.sliced = workflow.GetVersion(ctx, changeSliced, workflow.DefaultVersion, 1) == 1
		d.slicedKnown = true
	}
	return d.sliced
}

// scheduleRuns starts the activities of a step's runs: runs of sliced
// tasks in slices of up to their task's size, the others (and a run
// retried alone, or left alone in its group) one activity each.
func (d *dispatcher) scheduleRuns(ctx, actCtx workflow.Context, sel workflow.Selector, runs []Dispatch) {
	if !slices.ContainsFunc(runs, func(r Dispatch) bool { return r.Slice > 1 && r.Prior == 0 }) || !d.slicing(ctx) {
		for _, r := range runs {
			d.schedule(ctx, actCtx, sel, r)
		}
		return
	}
	for _, g := range sliceGroups(runs) {
		if len(g) == 1 {
			d.schedule(ctx, actCtx, sel, g[0])
		} else {
			d.scheduleSlice(ctx, actCtx, sel, g)
		}
	}
}

// sliceGroups splits runs (in index order) into slices: runs that may
// share one, up to its size, in order of their first run.
func sliceGroups(runs []Dispatch) [][]Dispatch {
	var groups [][]Dispatch
	open := map[RunShape]int{} // runs may share a slice when they have the same shape
	for _, r := range runs {
		if r.Slice <= 1 || r.Prior > 0 {
			groups = append(groups, []Dispatch{r})
			continue
		}
		k := shapeOf(r)
		g, ok := open[k]
		if !ok || len(groups[g]) >= r.Slice {
			g = len(groups)
			groups = append(groups, nil)
			open[k] = g
		}
		groups[g] = append(groups[g], r)
	}
	return groups
}

// scheduleSlice starts one activity for runs of the same task: the task
// worker executes each with its own maxDuration and answers every run's
// outcome in one result (tasks.SliceResult).
func (d *dispatcher) scheduleSlice(ctx, actCtx workflow.Context, sel workflow.Selector, runs []Dispatch) {
	r0 := runs[0]
	envs := make([]tasks.Envelope, len(runs))
	kept := make([]sliceRun, len(runs))
	indexes := make([]int, len(runs))
	for k, r := range runs {
		e := r.Envelope
		e.MaxDurationMs = r.StartToClose.Milliseconds()
		envs[k], indexes[k] = e, e.Index
		kept[k] = sliceRun{index: e.Index, attempt: max(e.Attempt, 1)}
	}
	slices.Sort(indexes)
	rctx, cancel := workflow.WithCancel(actCtx)
	opts := workflow.ActivityOptions{
		ActivityID: SliceActivityID(indexes),
		TaskQueue:  r0.TaskQueue,
		// A worker may run a slice's runs one after another.
		StartToCloseTimeout:    time.Duration(len(runs)) * r0.StartToClose,
		HeartbeatTimeout:       sliceHeartbeat,
		ScheduleToStartTimeout: r0.ScheduleToStart,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    int32(r0.MaxAttempts),
		},
		Summary:  fmt.Sprintf("%s · %d runs · #%d–#%d", r0.Envelope.Task, len(runs), indexes[0], indexes[len(indexes)-1]),
		Priority: temporal.Priority{PriorityKey: r0.Priority},
	}
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(rctx, opts), tasks.SliceActivity(r0.Envelope.Task), envs)
	fl := &flight{future: f, cancel: cancel, maxAttempts: r0.MaxAttempts, at: workflow.Now(ctx), runs: kept}
	for _, i := range indexes {
		d.inflight[i] = fl
	}
	d.c.Dispatched += len(runs)
	d.refreshEvery = refreshFirst
	sel.AddFuture(f, func(workflow.Future) {
		cancel()
		d.sliceDone(ctx, fl)
	})
}

// sliceDone takes the outcomes of a finished slice, for its runs still in
// flight (a run cancelled alone has its outcome already): runs that
// failed with attempts left go back to be retried alone. When the slice
// activity itself failed, the runs its last heartbeat reported finished
// keep their outcomes and the others end as a run activity that failed
// the same way would.
func (d *dispatcher) sliceDone(ctx workflow.Context, fl *flight) {
	var res tasks.SliceResult
	err := fl.future.Get(ctx, &res)
	done := res.Runs
	var timeout *temporal.TimeoutError
	if err != nil && errors.As(err, &timeout) && timeout.HasLastHeartbeatDetails() {
		var p tasks.SliceProgress
		if timeout.LastHeartbeatDetails(&p) == nil {
			done = p.Done
		}
	}
	byIndex := make(map[int]tasks.SliceOutcome, len(done))
	for _, o := range done {
		byIndex[o.Index] = o
	}
	now := workflow.Now(ctx)
	for _, r := range fl.runs {
		if d.inflight[r.index] != fl {
			continue
		}
		delete(d.inflight, r.index)
		o, ok := byIndex[r.index]
		switch {
		case ok:
			d.sliceOutcome(now, fl, r, o)
		case err == nil:
			// The worker answered without this run: count it as a failed
			// attempt.
			d.sliceOutcome(now, fl, r, tasks.SliceOutcome{Index: r.index, Attempts: 1,
				Error: &tasks.SliceError{Type: batch.ErrorTaskFailed, Message: "the task worker's slice result has no outcome for this run"}})
		default:
			d.results = append(d.results, outcome(ctx, r.index, fl.future, fl))
			d.c.Finished++
		}
	}
}

// sliceOutcome records a run's outcome in a slice, or sets it aside to be
// retried alone when it failed with attempts left.
func (d *dispatcher) sliceOutcome(now time.Time, fl *flight, r sliceRun, so tasks.SliceOutcome) {
	o := RunOutcome{Index: r.index, Attempts: max(so.Attempts, 1), CompletedAt: now, Latency: now.Sub(fl.at)}
	switch e := so.Error; {
	case e == nil:
		o.Status = batch.RunCompleted
		if len(so.Output) > 0 {
			o.Output, o.OutputType = so.Output, batch.OutputTypeJSON
		}
	case !e.NonRetryable && o.Attempts < fl.maxAttempts && d.abort == "":
		d.retry = append(d.retry, RetryRun{Index: r.index, Attempt: r.attempt + o.Attempts, Prior: o.Attempts})
		return
	case e.Timeout:
		o.Status, o.ErrorCode, o.ErrorMessage = batch.RunTimedOut, batch.ErrorMaxDuration, e.Message
	default:
		o.Status, o.ErrorCode, o.ErrorMessage = batch.RunFailed, e.Type, e.Message
		if o.ErrorCode == "" {
			o.ErrorCode = batch.ErrorTaskFailed
		}
	}
	d.results = append(d.results, o)
	d.c.Finished++
}

// cancelRun cancels one run: its activity, or its place in a slice (the
// run ends CANCELED now and the slice's outcome for it is dropped; the
// slice is cancelled when none of its runs remains), or its retry.
func (d *dispatcher) cancelRun(ctx workflow.Context, index int) {
	fl, ok := d.inflight[index]
	switch {
	case ok && fl.runs == nil:
		fl.cancel()
		return
	case ok:
		delete(d.inflight, index)
		if !slices.ContainsFunc(fl.runs, func(r sliceRun) bool { return d.inflight[r.index] == fl }) {
			fl.cancel()
		}
		d.canceled(ctx, index, 0)
		return
	}
	if k := slices.IndexFunc(d.retry, func(r RetryRun) bool { return r.Index == index }); k >= 0 {
		prior := d.retry[k].Prior
		d.retry = slices.Delete(d.retry, k, k+1)
		d.canceled(ctx, index, prior)
	}
}

func (d *dispatcher) canceled(ctx workflow.Context, index, attempts int) {
	d.results = append(d.results, RunOutcome{Index: index, Status: batch.RunCanceled, ErrorCode: batch.ErrorCanceled,
		ErrorMessage: "canceled", Attempts: attempts, CompletedAt: workflow.Now(ctx)})
	d.c.Finished++
}

// cancelRetries ends the runs waiting to be retried alone CANCELED (the
// batch is aborted).
func (d *dispatcher) cancelRetries(ctx workflow.Context) {
	for _, r := range d.retry {
		d.canceled(ctx, r.Index, r.Prior)
	}
	d.retry = nil
}
