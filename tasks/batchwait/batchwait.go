// Package batchwait lets Temporal workflow code wait for a streambatch
// batch to end. Create the batch with parentRunId = the workflow's ID and
// resumeParentOnCompletion = true; streambatch then signals the workflow
// (SignalName) with a Completed when the batch is COMPLETED or ABORTED.
//
// The signal's payload is encrypted like every payload streambatch hands
// to Temporal: the waiting workflow's worker needs codec.Apply with the
// same key set.
//
// It imports nothing of the streambatch server.
package batchwait

import (
	"go.temporal.io/sdk/workflow"
)

// SignalName is the signal streambatch sends to a batch's parent workflow.
const SignalName = "streambatch.batch-completed"

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

// Wait blocks until batch batchID has ended (or ctx is cancelled) and
// returns how it ended.
func (w *Waiter) Wait(ctx workflow.Context, batchID string) (Completed, error) {
	for {
		if c, ok := w.seen[batchID]; ok {
			delete(w.seen, batchID)
			return c, nil
		}
		var c Completed
		w.ch.Receive(ctx, &c)
		if err := ctx.Err(); err != nil {
			return Completed{}, err
		}
		w.seen[c.BatchID] = c
	}
}

// Wait blocks until batch batchID has ended; for a workflow that waits for
// one batch at a time (use a Waiter for several).
func Wait(ctx workflow.Context, batchID string) (Completed, error) {
	return NewWaiter(ctx).Wait(ctx, batchID)
}
