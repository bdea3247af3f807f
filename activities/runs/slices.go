package runs

import (
	"context"
	"errors"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// Slices maps sliced tasks to their slice size: "task" for every
// environment, "env/task" for one (which wins); see
// STREAMBATCH_SLICED_TASKS.
type Slices map[string]int

// Size returns the slice size of env's task (0: not sliced).
func (s Slices) Size(env, task string) int {
	if k, ok := s[env+"/"+task]; ok {
		return k
	}
	return s[task]
}

// retries dispatches again, alone, the runs the workflow sends back after
// they failed in a slice with attempts left: from their stored row, with
// the attempts the slice made counted (Dispatch.Prior).
func (a *Activities) retries(ctx context.Context, in contract.StepInput, out *contract.StepResult) error {
	for _, rr := range in.Retry {
		r, err := a.Exec.GetRun(ctx, in.BatchID, rr.Index)
		if errors.Is(err, store.ErrNotFound) || (err == nil && r.Status.Final()) {
			// Ended meanwhile (the batch was replayed or the run cancelled):
			// nothing to retry; the outcome changes no final run.
			out.Failed = append(out.Failed, contract.RunOutcome{Index: rr.Index, Status: batch.RunCanceled,
				ErrorCode: batch.ErrorCanceled, ErrorMessage: "the run ended before its retry", Attempts: rr.Prior, CompletedAt: in.Now})
			continue
		}
		if err != nil {
			return err
		}
		claimed := store.ClaimedRun{Index: r.Index, Task: r.Task, Payload: r.Payload, PayloadType: r.PayloadType,
			Options: r.Options, Attempts: rr.Attempt - 1, QueueTimestamp: r.QueueTimestamp, DelayUntil: r.DelayUntil}
		d, failed, err := a.dispatch(ctx, in, claimed, true)
		switch {
		case err != nil:
			return err
		case failed != nil:
			failed.Attempts = rr.Prior
			out.Failed = append(out.Failed, *failed)
		default:
			d.Prior = rr.Prior
			d.MaxAttempts = max(d.MaxAttempts-rr.Prior, 1)
			out.Runs = append(out.Runs, d)
		}
	}
	return nil
}
