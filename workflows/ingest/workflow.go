package ingest

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// DefaultWindow bounds outstanding chunk activities when Input.Window is 0.
const DefaultWindow = 100

// BatchIngest is the per-batch workflow (ID = batch id). It receives chunk
// references on SignalItems, keeps the set of accepted indexes (the first
// chunk that delivers an index owns it), runs one OffloadAndEnqueue
// activity per chunk within its own window, and when every index has its
// run it runs Seal as the final durable step. A seal deadline, an abort
// signal or a cancellation ends it with Abort instead. When Temporal
// suggests continue-as-new it stops scheduling, waits for its activities,
// drains the signal channel and continues with the compact state in
// Input.Carried, so no chunk is lost.
//
// Registered as Workflow{Runs: …}.BatchIngest, it executes a small
// batch's runs itself (Input.RunsHere).
func BatchIngest(ctx workflow.Context, in Input) (Result, error) {
	return Workflow{}.BatchIngest(ctx, in)
}

// Workflow is BatchIngest with the run flow's executor, which runs a small
// batch's runs inside BatchIngest (Input.RunsHere; nil: never).
type Workflow struct {
	Runs flow.RunsExecutor
}

// BatchIngest is the package's BatchIngest, executing small batches' runs
// with wf.Runs.
func (wf Workflow) BatchIngest(ctx workflow.Context, in Input) (Result, error) {
	w := newIngest(ctx, in)
	w.runs = wf.Runs
	if err := w.registerQueries(ctx); err != nil {
		return Result{}, err
	}
	return w.run(ctx)
}

// ingest is one run's state.
type ingest struct {
	in     Input
	c      Carried
	window int

	pending     int
	state       string
	abortReason string

	// small is changeLocalSmall's version, read once per run when first
	// needed (smallKnown).
	small      workflow.Version
	smallKnown bool
	// staged is changeLocalStaged's version, likewise.
	staged      workflow.Version
	stagedKnown bool
	// sealFrom goes into the Seal's hint when the last chunk's activity
	// left telling BatchRuns to it (EnqueueInput.SkipNotify).
	sealFrom *int
	// runs executes a small batch's runs here (changeRunsHere; nil: never).
	runs flow.RunsExecutor
}

func newIngest(ctx workflow.Context, in Input) *ingest {
	w := &ingest{in: in, window: in.Window, state: StateReceiving}
	if w.window <= 0 {
		w.window = DefaultWindow
	}
	if in.Carried != nil {
		w.c = *in.Carried
	} else {
		w.c.InlineOnly = true
	}
	if w.c.Accepted == nil || w.c.Accepted.Cap() != in.RunCount {
		w.c.Accepted = batch.NewIndexSet(in.RunCount)
	}
	w.c.Run++
	return w
}

func (w *ingest) registerQueries(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return w.progress(), nil }); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryAccepted, func() (*batch.IndexSet, error) { return w.c.Accepted, nil })
}

func (w *ingest) progress() Progress {
	return Progress{
		State: w.state, RunCount: w.in.RunCount, Accepted: w.c.Accepted.Len(), Enqueued: w.c.Enqueued,
		Failed: w.c.Failed, PendingActivities: w.pending, QueuedChunks: len(w.c.Queue),
		ChunksReceived: w.c.ChunksReceived, ChunksDeduplicated: w.c.ChunksDeduplicated, Run: w.c.Run,
	}
}

func (w *ingest) run(ctx workflow.Context) (Result, error) {
	logger := workflow.GetLogger(ctx)
	items := workflow.GetSignalChannel(ctx, SignalItems)
	abort := workflow.GetSignalChannel(ctx, SignalAbort)
	actCtx, cancelActivities := workflow.WithCancel(ctx)
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()

	sel := workflow.NewSelector(ctx)
	sel.AddReceive(items, func(c workflow.ReceiveChannel, _ bool) {
		var ch batch.ChunkRef
		c.Receive(ctx, &ch)
		w.accept(ctx, ch)
	})
	sel.AddReceive(abort, func(c workflow.ReceiveChannel, _ bool) {
		var reason string
		c.Receive(ctx, &reason)
		w.requestAbort(reason, "aborted by request")
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
		w.requestAbort("workflow canceled", "")
	})
	if d := w.in.SealDeadline.Sub(workflow.Now(ctx)); d > 0 {
		timer := workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: "seal timeout"})
		sel.AddFuture(timer, func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				w.requestAbort(fmt.Sprintf("seal timeout: not all %d items arrived by %s", w.in.RunCount, w.in.SealDeadline.UTC().Format(time.RFC3339)), "")
			}
		})
	} else {
		w.requestAbort(fmt.Sprintf("seal timeout: not all %d items arrived by %s", w.in.RunCount, w.in.SealDeadline.UTC().Format(time.RFC3339)), "")
	}

	draining := false
	for {
		switch {
		case w.abortReason != "":
			cancelActivities()
			return w.abort(ctx, items)
		case w.c.Enqueued == w.in.RunCount && w.pending == 0:
			if w.localSmall(ctx) {
				return w.sealSmall(ctx, sel, items, abort)
			}
			if workflow.GetVersion(ctx, changeAbortableSeal, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				cancelTimer()
				return w.seal(ctx, items)
			}
			return w.sealAbortable(ctx, sel, items)
		}
		if !draining && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			draining = true
			logger.Info("continue-as-new suggested: draining", "pending", w.pending, "queued", len(w.c.Queue))
		}
		if draining && w.pending == 0 {
			// Every signal delivered so far must be read before the run ends,
			// or it is lost with it.
			for {
				var ch batch.ChunkRef
				if !items.ReceiveAsync(&ch) {
					break
				}
				w.accept(ctx, ch)
			}
			var reason string
			if abort.ReceiveAsync(&reason) {
				w.requestAbort(reason, "aborted by request")
				continue
			}
			// A cancellation delivered with the last chunks would be lost
			// with this run: the next one does not inherit it.
			if ctx.Err() != nil && workflow.GetVersion(ctx, changeDrainSeesCancel, workflow.DefaultVersion, 1) == 1 {
				w.requestAbort("workflow canceled", "")
				continue
			}
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return Result{}, err
			}
			next := w.in
			carried := w.c
			next.Carried = &carried
			return Result{}, workflow.NewContinueAsNewError(ctx, BatchIngest, next)
		}
		if !draining || w.carryBytes() > maxCarryBytes {
			// While draining, the queue is carried into the next run's
			// input; keep working it off if it would make that input big.
			w.schedule(ctx, actCtx, sel)
		}
		w.report(ctx)
		sel.Select(ctx)
	}
}

// maxCarryBytes bounds the estimated size of the queue carried through
// continue-as-new (Temporal refuses payloads above 2 MiB). Chunk references
// are a few hundred bytes (staged) or a few KiB (a stream's inline tail), so
// only a pathological backlog reaches it; draining then works the queue down.
const maxCarryBytes = 1 << 20

// carryBytes estimates the encoded size of the queued chunk references.
func (w *ingest) carryBytes() int {
	n := 0
	for k := range w.c.Queue {
		n += 256 + 24*len(w.c.Queue[k].Chunk.Indexes) + 8*len(w.c.Queue[k].Chunk.Failed)
		if w.c.Queue[k].Chunk.Key == "" {
			n += int(w.c.Queue[k].Chunk.Size)
		}
	}
	return n
}

// requestAbort records the first abort reason.
func (w *ingest) requestAbort(reason, fallback string) {
	flow.KeepFirst(&w.abortReason, reason, fallback)
}

// report publishes live progress for Temporal UI.
func (w *ingest) report(ctx workflow.Context) {
	p := w.progress()
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("%s: %d/%d enqueued, %d failed, %d accepted; %d activities running, %d chunks queued; run %d",
		p.State, p.Enqueued, p.RunCount, p.Failed, p.Accepted, p.PendingActivities, p.QueuedChunks, p.Run))
}

func (w *ingest) setState(ctx workflow.Context, state string) {
	w.state = state
	if err := workflow.UpsertTypedSearchAttributes(ctx, flow.SearchAttrBatchState.ValueSet(state)); err != nil {
		workflow.GetLogger(ctx).Warn("cannot update the BatchState search attribute", "error", err)
	}
	w.report(ctx)
}

func (w *ingest) result(state string) Result {
	return Result{BatchID: w.in.BatchID, State: state, Enqueued: w.c.Enqueued, Failed: w.c.Failed, Runs: w.c.Run, Reason: w.abortReason}
}
