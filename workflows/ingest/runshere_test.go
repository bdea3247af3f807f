package ingest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// fakeExecutor stands in for the run flow's executor (runs.Workflow.Execute)
// and records its calls.
type fakeExecutor struct {
	mu    sync.Mutex
	calls []executorCall
	out   flow.RunsOutcome
}

type executorCall struct {
	batchID, env string
	x            flow.Execution
	state        string // BatchIngest's state when it was called
}

func (f *fakeExecutor) workflow(h **harness) func(workflow.Context, Input) (Result, error) {
	return func(ctx workflow.Context, in Input) (Result, error) {
		wf := Workflow{Runs: func(ctx workflow.Context, batchID, env string, x flow.Execution) (flow.RunsOutcome, error) {
			var p Progress
			if v, err := (*h).env.QueryWorkflow(QueryProgress); err == nil {
				_ = v.Get(&p)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, executorCall{batchID, env, x, p.State})
			return f.out, nil
		}}
		return wf.BatchIngest(ctx, in)
	}
}

func runsHereInput(runCount, maxRuns int) Input {
	in := input(runCount)
	in.RunsHere = &flow.RunsHere{MaxRuns: maxRuns, Execution: flow.Execution{Concurrency: 7, MaxAttempts: 2, MaxDuration: time.Minute}}
	return in
}

// A batch that fits RunsHere and arrives in one chunk has its runs
// executed by BatchIngest itself: the seal tells no BatchRuns, the
// executor gets the input's execution settings, and its outcome is the
// workflow's.
func TestSmallBatchExecutesItsRunsHere(t *testing.T) {
	t.Parallel()
	for name, ch := range oneChunkOf10() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var h *harness
			exec := &fakeExecutor{out: flow.RunsOutcome{Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 10}}}
			h = newHarnessOf(t, exec.workflow(&h))
			in := runsHereInput(10, 10)
			h.env.SetStartTime(in.CreatedAt)
			h.signalAt(time.Second, ch)
			h.env.ExecuteWorkflow(WorkflowName, in)
			r := h.result(t)
			if r.State != StateSealed || r.Enqueued != 10 || r.SealedAt == nil {
				t.Fatalf("result = %+v", r)
			}
			if len(exec.calls) != 1 {
				t.Fatalf("executor called %d times, want once", len(exec.calls))
			}
			c := exec.calls[0]
			if c.batchID != in.BatchID || c.env != in.Env || c.x != in.RunsHere.Execution {
				t.Fatalf("executor call %+v, want the batch's and %+v", c, in.RunsHere.Execution)
			}
			if c.state != flow.StateProcessing {
				t.Fatalf("state while the runs executed = %q, want %q (what runs.Client routes by)", c.state, flow.StateProcessing)
			}
			if !h.runs.sealIn.RunsHere {
				t.Fatalf("seal input %+v: want RunsHere, so that it starts no BatchRuns", h.runs.sealIn)
			}
			if r.Executed == nil || r.Executed.Status != "COMPLETED" || r.Executed.RunCounts["COMPLETED"] != 10 {
				t.Fatalf("result's Executed = %+v, want the executor's outcome", r.Executed)
			}
		})
	}
}

// Every other batch leaves its runs to BatchRuns: the seal tells it, and
// the executor is never called.
func TestRunsGoToBatchRunsUnlessSmallAndWhole(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in     Input
		chunks []batch.ChunkRef
		fail   bool // the local enqueue fails: the regular activity notifies
	}{
		"larger than RunsHere": {in: runsHereInput(10, 9), chunks: []batch.ChunkRef{chunkOf(0, span(0, 10)...)}},
		"no RunsHere":          {in: input(10), chunks: []batch.ChunkRef{chunkOf(0, span(0, 10)...)}},
		"two chunks":           {in: runsHereInput(10, 10), chunks: []batch.ChunkRef{chunkOf(0, span(0, 5)...), chunkOf(1, span(5, 10)...)}},
		"local enqueue failed": {in: runsHereInput(10, 10), chunks: []batch.ChunkRef{chunkOf(0, span(0, 10)...)}, fail: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var h *harness
			exec := &fakeExecutor{}
			h = newHarnessOf(t, exec.workflow(&h))
			if tc.fail {
				failures := 0
				h.runs.fail = func(EnqueueInput) error {
					if failures < 3 {
						failures++
						return errors.New("postgres is down")
					}
					return nil
				}
			}
			h.env.SetStartTime(tc.in.CreatedAt)
			h.signalAt(time.Second, tc.chunks...)
			h.env.ExecuteWorkflow(WorkflowName, tc.in)
			r := h.result(t)
			if r.State != StateSealed || r.Enqueued != 10 {
				t.Fatalf("result = %+v", r)
			}
			if len(exec.calls) != 0 || r.Executed != nil || h.runs.sealIn.RunsHere {
				t.Fatalf("executor calls %d, Executed %+v, seal %+v: want the runs left to BatchRuns", len(exec.calls), r.Executed, h.runs.sealIn)
			}
		})
	}
}
