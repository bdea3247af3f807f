package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/tasks/batchwait"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// taskWorker is a real Temporal task worker for one environment: the tasks
// an end-to-end batch runs, and a count of executions per run.
type taskWorker struct {
	mu    sync.Mutex
	execs map[string]int // run id → attempts executed
	seen  map[string]bool
	w     sdkworker.Worker
}

type echoIn struct {
	N int `json:"n"`
}

func (tw *taskWorker) count(ctx context.Context) int {
	run, _ := tasks.FromContext(ctx)
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.execs[run.ID]++
	return run.Attempt
}

func startTaskWorker(t *testing.T, s *stack, env string) *taskWorker {
	t.Helper()
	tw := &taskWorker{execs: map[string]int{}}
	// More slots than a batch's window, so that every dispatched run runs.
	w := tasks.NewWorker(s.app.Temporal, env, "", sdkworker.Options{MaxConcurrentActivityExecutionSize: 200})
	tasks.Register(w, "echo", func(ctx context.Context, in echoIn) (map[string]any, error) {
		tw.count(ctx)
		return map[string]any{"doubled": in.N * 2}, nil
	})
	// Sliced by the stack's configuration (5 runs a slice): run n fails its
	// first attempt when n % 7 == 3.
	tasks.RegisterSliced(w, "echo-sliced", func(ctx context.Context, in echoIn) (map[string]any, error) {
		if tw.count(ctx) == 1 && in.N%7 == 3 {
			return nil, errors.New("first attempt fails")
		}
		return map[string]any{"doubled": in.N * 2}, nil
	})
	tasks.Register(w, "flaky", func(ctx context.Context, in echoIn) (int, error) {
		if tw.count(ctx) == 1 {
			return 0, errors.New("first attempt fails")
		}
		return in.N, nil
	})
	tasks.Register(w, "broken", func(ctx context.Context, in echoIn) (int, error) {
		tw.count(ctx)
		return 0, fmt.Errorf("broken task for %d", in.N)
	})
	tasks.RegisterRun(w, "big", func(ctx context.Context, run *tasks.Run) (map[string]any, error) {
		tw.count(ctx)
		data, err := run.Payload(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"bytes": len(data), "sha256": sha(string(data)), "type": run.PayloadType}, nil
	})
	tasks.RegisterRun(w, "slow", func(ctx context.Context, run *tasks.Run) (string, error) {
		tw.count(ctx)
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Second):
			}
		}
	})
	registerGatedTask(w, s) // the realtime tests' task (triggerdev_realtime_test.go)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	tw.w = w
	return tw
}

func (tw *taskWorker) executions(runID string) int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.execs[runID]
}

func (tw *taskWorker) total() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	n := 0
	for _, v := range tw.execs {
		n += v
	}
	return n
}

// waitBatch long-polls GET /api/v3/batches/:id?wait= until the batch is
// COMPLETED or ABORTED.
func (s *stack) waitBatch(t *testing.T, key, id string, limit time.Duration) wire.BatchStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var b wire.BatchStatus
		resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"?wait=20s", key, nil, "", &b)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("wait for batch: %d %s", resp.StatusCode, resp.Body)
		}
		if b.Status == "COMPLETED" || b.Status == "ABORTED" {
			return b
		}
		if time.Now().After(deadline) {
			s.dumpRuns(t, id)
			t.Fatalf("batch %s still %s after %s: %+v", id, b.Status, limit, b.RunCounts)
		}
	}
}

// A 200-run batch on a real task worker: runs that succeed, fail once and
// then succeed, always fail (maxAttempts 2), and read a 600 KiB stored
// payload through payloadUrl. The batch completes with the right counts,
// outputs, errors and attempts; a replay re-runs only the failed runs; a
// run of another environment never reaches this worker.
func TestRunsExecuteOnTaskWorkers(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	_, otherKey := s.newKey(t)
	tw := startTaskWorker(t, s, env)

	const n = 200
	stored := strings.Repeat("b", 600<<10) // a string payload is stored as is
	big := `"` + stored + `"`
	var body bytes.Buffer
	for i := range n {
		var line string
		switch {
		case i%50 == 7:
			line = fmt.Sprintf(`{"index":%d,"task":"big","payload":%s}`, i, big)
		case i%10 == 3:
			line = fmt.Sprintf(`{"index":%d,"task":"flaky","payload":{"n":%d}}`, i, i)
		case i%10 == 5:
			line = fmt.Sprintf(`{"index":%d,"task":"broken","payload":{"n":%d},"options":{"maxAttempts":2}}`, i, i)
		default:
			line = fmt.Sprintf(`{"index":%d,"task":"echo","payload":{"n":%d},"options":{"tags":["e2e"],"metadata":{"i":%d}}}`, i, i, i)
		}
		body.WriteString(line + "\n")
	}
	id := s.mustCreate(t, key, n)
	if code, res, raw := s.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	// Another environment's batch with the same task names: its runs must
	// never reach this environment's worker.
	otherID := s.mustCreate(t, otherKey, 3)
	if code, _, raw := s.stream(t, otherKey, otherID, []byte(`{"index":0,"task":"echo","payload":{"n":1}}`+"\n"+`{"index":1,"task":"echo"}`+"\n"+`{"index":2,"task":"echo"}`+"\n")); code != 200 {
		t.Fatalf("stream other: %d %s", code, raw)
	}

	want := map[string]int{"COMPLETED": 180, "FAILED": 20}
	step(t, "the batch completes with its run counts", func(t *testing.T) {
		b := s.waitBatch(t, key, id, 2*time.Minute)
		if b.Status != "COMPLETED" || fmt.Sprint(b.RunCounts) != fmt.Sprint(want) || b.CompletedAt == nil {
			t.Fatalf("batch %+v, want COMPLETED with %v", b, want)
		}
	})
	step(t, "each run ends as its task did, executed once per attempt", func(t *testing.T) {
		for _, r := range s.runs(t, key, id) {
			i := r.Index
			switch {
			case i%50 == 7:
				var out struct {
					Bytes  int    `json:"bytes"`
					SHA256 string `json:"sha256"`
					Type   string `json:"type"`
				}
				if r.Status != "COMPLETED" || r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil {
					t.Fatalf("big run %d: %+v", i, r)
				}
				if out.Bytes != len(stored) || out.SHA256 != sha(stored) || out.Type != "application/store" {
					t.Fatalf("big run %d read %+v, want %d bytes of the stored payload", i, out, len(stored))
				}
			case i%10 == 3:
				if r.Status != "COMPLETED" || r.Attempts != 2 || r.Output == nil || *r.Output != fmt.Sprint(i) {
					t.Fatalf("flaky run %d: status %s attempts %d output %v", i, r.Status, r.Attempts, deref(r.Output))
				}
			case i%10 == 5:
				if r.Status != "FAILED" || r.Attempts != 2 || r.Error == nil || r.Error.Message != fmt.Sprintf("broken task for %d", i) {
					t.Fatalf("broken run %d: %+v error %+v", i, r, r.Error)
				}
			default:
				if r.Status != "COMPLETED" || r.Attempts != 1 || deref(r.Output) != fmt.Sprintf(`{"doubled":%d}`, 2*i) ||
					deref(r.OutputType) != "application/json" || r.StartedAt == nil || r.CompletedAt == nil {
					t.Fatalf("echo run %d: %+v output %s", i, r, deref(r.Output))
				}
			}
			if got, wantExec := tw.executions(r.ID), r.Attempts; got != wantExec {
				t.Fatalf("run %d executed %d times, recorded %d attempts", i, got, wantExec)
			}
		}
		recordHistory(t, s, id, "batch_ingest_200_runs")
		recordHistory(t, s, id+"-runs", "batch_runs_200_v4")
	})
	step(t, "a replay re-runs only the failed runs", func(t *testing.T) {
		// Only the 20 failed runs run again (2 attempts each).
		executed := tw.total()
		var rep wire.Replay
		if resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/replay", key, nil, "", &rep); resp.StatusCode != http.StatusAccepted || rep.Replayed != 20 {
			t.Fatalf("replay: %d %s", resp.StatusCode, resp.Body)
		}
		b := s.waitBatch(t, key, id, 2*time.Minute)
		if b.Status != "COMPLETED" || fmt.Sprint(b.RunCounts) != fmt.Sprint(want) {
			t.Fatalf("after replay: %+v", b)
		}
		if got := tw.total() - executed; got != 40 {
			t.Fatalf("replay executed %d attempts, want 40 (20 failed runs × 2)", got)
		}
		for _, r := range s.runs(t, key, id) {
			if r.Index%10 == 5 && r.Attempts != 4 {
				t.Fatalf("replayed run %d has %d attempts, want 4", r.Index, r.Attempts)
			}
		}
	})
	step(t, "another environment's runs never reach this worker", func(t *testing.T) {
		for _, r := range s.runs(t, otherKey, otherID) {
			if tw.executions(r.ID) != 0 || r.Status != "QUEUED" {
				t.Fatalf("run %s of another environment: %s, executed %d times here", r.ID, r.Status, tw.executions(r.ID))
			}
		}
	})
}

// Aborting a PROCESSING batch cancels the runs executing (their activities
// are cancelled) and the queued ones; runs that finished keep their
// results; the batch is ABORTED.
func TestAbortCancelsExecutingRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	tw := startTaskWorker(t, s, env)
	const n = 25
	var body bytes.Buffer
	for i := range n {
		task := "slow"
		if i < 5 {
			task = "echo"
		}
		fmt.Fprintf(&body, `{"index":%d,"task":%q,"payload":{"n":%d}}`+"\n", i, task, i)
	}
	id := s.mustCreate(t, key, n)
	if code, res, raw := s.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	// Wait until the quick runs finished and slow ones execute.
	deadline := time.Now().Add(time.Minute)
	for {
		c := s.batchStatus(t, key, id).RunCounts
		if c["COMPLETED"] == 5 && c["EXECUTING"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs never reached 5 COMPLETED and some EXECUTING: %v", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ab wire.BatchStatus
	resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, stringsReader(`{"reason":"enough"}`), "application/json", &ab)
	if resp.StatusCode != http.StatusOK || ab.Status != "ABORTED" {
		t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
	}
	if ab.RunCounts["COMPLETED"] != 5 || ab.RunCounts["CANCELED"] != n-5 {
		t.Fatalf("after abort: %v", ab.RunCounts)
	}
	if runsWorkflowOf(s, id) == runswf.WorkflowID(id) { // a small batch's runs ran in its BatchIngest (batch_ingest_runs_here_abort_*)
		recordHistory(t, s, id+"-runs", "batch_runs_abort_v4")
	}
	if tw.total() > n {
		t.Fatalf("%d executions of %d runs", tw.total(), n)
	}
	// A second abort is a no-op; a completed batch cannot be aborted.
	if resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, nil, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("second abort: %d", resp.StatusCode)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// waitingParent is a user's workflow that waits for a batch of
// environment env.
func waitingParent(ctx workflow.Context, env, batchID string) (batchwait.Completed, error) {
	if err := batchwait.Allow(ctx, env); err != nil {
		return batchwait.Completed{}, err
	}
	return batchwait.Wait(ctx, batchID)
}

// envTemporalClient is a Temporal client holding only environment env's
// payload keys (`streambatch payload-key --env`), as a tenant's worker.
func envTemporalClient(t *testing.T, s *stack, env string) client.Client {
	t.Helper()
	keys, err := codec.ParseKeys(envPayloadKeys(t, env))
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: s.temporal.FrontendHostPort(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	codec.Apply(&opts, keys)
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startParent starts waitingParent as workflow id on a worker that holds
// only env's keys, and returns once it carries BatchEnv (so that a batch
// ending right away finds it).
func startParent(ctx context.Context, t *testing.T, s *stack, c client.Client, env, id, batchID string) client.WorkflowRun {
	t.Helper()
	queue := "parent-" + id
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflow(waitingParent)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, waitingParent, env, batchID)
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["BatchEnv"]; ok {
			return run
		}
		select {
		case <-ctx.Done():
			t.Fatalf("parent %s never carried BatchEnv", id)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parentOutcome waits until the batch's GET says what came of its parent
// (notified or refused) and returns it.
func (s *stack) parentOutcome(ctx context.Context, t *testing.T, key, id string) *wire.Parent {
	t.Helper()
	for {
		p := s.batchStatus(t, key, id).Parent
		if p != nil && (p.Refused != nil || p.NotifiedAt != nil) {
			return p
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET batch never said what came of the parent: %+v", p)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createWithParent creates a batch of runCount runs that resumes workflow
// parent when it ends.
func createWithParent(t *testing.T, s *stack, key, parent string, runCount int) createResp {
	t.Helper()
	resp, created := s.createBatch(t, key, map[string]any{"runCount": runCount, "parentRunId": parent, "resumeParentOnCompletion": true})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	return created
}

// A Temporal workflow named as the batch's parent (resumeParentOnCompletion)
// that holds only its environment's payload keys is signalled when the
// batch completes; batchwait.Wait returns it and the batch's GET says the
// parent was notified.
func TestParentWorkflowResumesOnCompletion(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	parentID := "parent-of-" + env
	created := createWithParent(t, s, key, parentID, 3)
	run := startParent(ctx, t, s, envTemporalClient(t, s, env), env, parentID, created.ID)
	body := `{"index":0,"task":"echo","payload":{"n":1}}` + "\n" + `{"index":1,"task":"echo","payload":{"n":2}}` + "\n" + `{"index":2,"task":"broken","payload":{"n":3},"options":{"maxAttempts":1}}` + "\n"
	if code, _, raw := s.stream(t, key, created.ID, []byte(body)); code != 200 {
		t.Fatalf("stream: %d %s", code, raw)
	}
	var got batchwait.Completed
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.BatchID != created.ID || got.Status != "COMPLETED" || got.RunCounts["COMPLETED"] != 2 || got.RunCounts["FAILED"] != 1 {
		t.Fatalf("parent got %+v", got)
	}
	// The signal precedes its record on the batch.
	if p := s.parentOutcome(ctx, t, key, created.ID); p.WorkflowID != parentID || p.NotifiedAt == nil || p.Refused != nil {
		t.Fatalf("GET batch says parent %+v, want notified", p)
	}
	if runsWorkflowOf(s, created.ID) == runswf.WorkflowID(created.ID) { // else it ran in its BatchIngest (batch_ingest_runs_here_*)
		recordHistory(t, s, runswf.WorkflowID(created.ID), "batch_runs_parent_v4")
	}
}

// A batch of environment A that names environment B's waiting workflow as
// its parent does not signal it: B's workflow carries BatchEnv=B. A's GET
// says the parent was refused and why; B's workflow still waits.
func TestParentOfAnotherEnvironmentIsNotSignalled(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	envA, keyA := s.newKey(t)
	envB, _ := s.newKey(t)
	startTaskWorker(t, s, envA)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	victim := "parent-of-" + envB
	created := createWithParent(t, s, keyA, victim, 1)
	// B waits for a batch of that ID: a forged completion would end it.
	run := startParent(ctx, t, s, envTemporalClient(t, s, envB), envB, victim, created.ID)
	if code, _, raw := s.stream(t, keyA, created.ID, []byte(`{"index":0,"task":"echo","payload":{"n":1}}`+"\n")); code != 200 {
		t.Fatalf("stream: %d %s", code, raw)
	}
	b := s.waitBatch(t, keyA, created.ID, time.Minute)
	if b.Status != "COMPLETED" {
		t.Fatalf("batch %s", b.Status)
	}
	p := s.parentOutcome(ctx, t, keyA, created.ID)
	if p.NotifiedAt != nil || p.Refused == nil || !strings.Contains(*p.Refused, "BatchEnv="+envA) {
		t.Fatalf("parent %+v, want refused for BatchEnv", p)
	}
	d, err := s.app.Temporal.DescribeWorkflowExecution(ctx, victim, run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("environment B's workflow is %s: it was signalled", st)
	}
	it := s.app.Temporal.GetWorkflowHistory(ctx, victim, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
			t.Fatalf("environment B's workflow received signal %s", ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName())
		}
	}
}

// streambatch's own workflows are never a batch's parent: create refuses
// them with 422.
func TestParentIsNeverAStreambatchWorkflow(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	other := s.mustCreate(t, key, 1)
	for _, id := range []string{other, other + "-runs", "streambatch-sweep-2026"} {
		resp, _ := s.createBatch(t, key, map[string]any{"runCount": 1, "parentRunId": id, "resumeParentOnCompletion": true})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("parentRunId %s: %d, want 422", id, resp.StatusCode)
		}
	}
}

// dumpRuns logs what the batch's BatchRuns workflow is doing (for a test
// that waited in vain).
func (s *stack) dumpRuns(t *testing.T, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wid := runsWorkflowOf(s, id)
	d, err := s.app.Temporal.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Logf("describe %s: %v", wid, err)
		return
	}
	info := d.GetWorkflowExecutionInfo()
	t.Logf("%s run %s: status %s, history %d events, %d pending activities, details %q",
		wid, info.GetExecution().GetRunId(), info.GetStatus(), info.GetHistoryLength(), len(d.GetPendingActivities()),
		d.GetWorkflowExtendedInfo().GetResetRunId())
	for k, p := range d.GetPendingActivities() {
		if k == 5 {
			break
		}
		t.Logf("pending %s %s attempt %d state %s last failure %v", p.GetActivityId(), p.GetActivityType().GetName(), p.GetAttempt(), p.GetState(), p.GetLastFailure())
	}
	if v, err := s.app.Temporal.QueryWorkflow(ctx, wid, "", runswf.QueryProgress); err == nil {
		var p runswf.Progress
		_ = v.Get(&p)
		t.Logf("progress %+v", p)
	} else {
		t.Logf("query: %v", err)
	}
	it := s.app.Temporal.GetWorkflowHistory(ctx, wid, "", false, 0)
	var last []string
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			break
		}
		last = append(last, fmt.Sprintf("%d %s %v", ev.GetEventId(), ev.GetEventType(), ev.GetEventTime().AsTime().Format("15:04:05.000")))
		if len(last) > 15 {
			last = last[1:]
		}
	}
	t.Logf("last events:\n%s", strings.Join(last, "\n"))
}
