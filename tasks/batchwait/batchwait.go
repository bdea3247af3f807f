// Package batchwait lets Temporal workflow code wait for a streambatch
// batch to end. Call Allow with the batch's environment first, then create
// the batch with parentRunId = the workflow's ID and
// resumeParentOnCompletion = true; streambatch then signals the workflow
// (SignalName) with a Completed when the batch is COMPLETED or ABORTED.
//
// streambatch signals a parent only while it runs and carries the search
// attribute BatchEnv (Keyword) equal to the batch's environment: a batch
// names its parent by a free-form ID, and this is how a workflow says
// which environment's batches may resume it. Allow sets it; a workflow
// started by another SDK sets it at start (search attributes) or with an
// upsert. A parent that does not carry it is refused, and the batch's GET
// says so (parent.refused).
//
// The signal's payload is encrypted under the environment's key: the
// waiting workflow's worker needs codec.Apply with the environment's key
// set (`streambatch payload-key --env NAME`) or streambatch's own.
//
// It imports nothing of the streambatch server.
package batchwait

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// SignalName is the signal streambatch sends to a batch's parent workflow.
const SignalName = "streambatch.batch-completed"

// SearchAttribute is the Keyword search attribute a parent workflow
// carries to be signalled by the batches of one environment: BatchEnv =
// the environment's name.
var SearchAttribute = temporal.NewSearchAttributeKeyKeyword("BatchEnv")

// Allow lets the batches of environment env resume the calling workflow:
// it sets the search attribute BatchEnv to env. Call it before the
// activity that creates the batch, so that it is in place when the batch
// ends (a batch that ends before finds no BatchEnv and is refused).
func Allow(ctx workflow.Context, env string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, SearchAttribute.ValueSet(env))
}

// Completed is the signal's argument.
type Completed struct {
	BatchID string `json:"batchId"`
	// Status is COMPLETED or ABORTED.
	Status string `json:"status"`
	// RunCounts maps run statuses (COMPLETED, FAILED, …) to counts.
	RunCounts map[string]int `json:"runCounts"`
}

// Waiter receives batch completions in one workflow; signals of batches
// nobody waits for yet are kept until a Wait asks for them.
type Waiter struct {
	ch   workflow.ReceiveChannel
	seen map[string]Completed
}

// NewWaiter returns a Waiter on the workflow's completion signal channel.
func NewWaiter(ctx workflow.Context) *Waiter {
	return &Waiter{ch: workflow.GetSignalChannel(ctx, SignalName), seen: map[string]Completed{}}
}

// changeCancel is the GetVersion change id of Wait's return on ctx's
// cancellation: a workflow that recorded a cancelled Wait before it
// replays as it ran then (it waited for the next signal and dropped it).
const changeCancel = "streambatch-batchwait-cancel"

// Wait blocks until batch batchID has ended, and returns how it ended, or
// until ctx is cancelled, and returns ctx's error. A completion that comes
// with the cancellation is returned if it is batchID's, else kept for a
// later Wait of this Waiter.
func (w *Waiter) Wait(ctx workflow.Context, batchID string) (Completed, error) {
	for {
		if c, ok := w.seen[batchID]; ok {
			delete(w.seen, batchID)
			return c, nil
		}
		var c Completed
		got := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.ch, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, &c); got = true })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() == nil {
			w.seen[c.BatchID] = c
			continue
		}
		// Only the version check's marker, and only once cancelled: a
		// Wait that ends normally adds nothing to the history.
		if workflow.GetVersion(ctx, changeCancel, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			if !got {
				w.ch.Receive(ctx, &c)
			}
			return Completed{}, ctx.Err()
		}
		if got {
			if c.BatchID == batchID {
				return c, nil // it came with the cancellation: the answer is known
			}
			w.seen[c.BatchID] = c
		}
		return Completed{}, ctx.Err()
	}
}

// Wait blocks until batch batchID has ended; for a workflow that waits for
// one batch at a time (use a Waiter for several).
func Wait(ctx workflow.Context, batchID string) (Completed, error) {
	return NewWaiter(ctx).Wait(ctx, batchID)
}
