package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	sweepwf "github.com/streambatch/streambatch/workflows/sweep"
)

// No object is orphaned: the Sweep workflow deletes what a
// sealed or aborted batch no longer references (a duplicate delivery's
// packet, a failed stream's packet, staged chunks and packets written after
// the seal or the abort) and keeps every object a run holds and every
// object of a batch still receiving items. The worker schedules it.
func TestSweepLeavesNoUnreferencedObject(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	env, key := s.newKey(t)
	put := func(k string) {
		t.Helper()
		if err := s.app.Blob.Put(ctx, k, "application/json", bytes.NewReader([]byte(`"x"`)), 3); err != nil {
			t.Fatal(err)
		}
	}
	large := randomText(7, s.cfg.OffloadThreshold+1)

	// A sealed batch, then objects its runs do not hold.
	sealed := s.mustCreate(t, key, 2)
	if code, res, raw := s.stream(t, key, sealed, ndjson([]item{{Index: 0, Task: "t", Payload: large}, {Index: 1, Task: "t"}})); code != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	put(batch.PacketKey(env, sealed, 0, "redelivery"))
	put(batch.PacketKey(env, sealed, 1, "failedstream"))
	put(batch.StagedChunkKey(env, sealed, "late", 0))

	// An aborted batch with a packet and a staged chunk written after the
	// abort (which deletes staged chunks but no packet: runs hold them).
	aborted := s.mustCreate(t, key, 2)
	if code, _, raw := s.stream(t, key, aborted, ndjson([]item{{Index: 0, Task: "t", Payload: large}})); code != http.StatusOK {
		t.Fatalf("stream: %d %s", code, raw)
	}
	// The answer comes on durable acceptance: abort once the run exists,
	// so that it is a run the abort cancels, holding its packet.
	for deadline := time.Now().Add(time.Minute); len(s.runs(t, key, aborted)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the aborted batch's run was never created")
		}
	}
	if resp := s.call(t, http.MethodPost, "/api/v3/batches/"+aborted+"/abort", key, nil, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
	}
	put(batch.PacketKey(env, aborted, 1, "late"))
	put(batch.StagedChunkKey(env, aborted, "late", 0))

	// A batch still receiving items keeps everything.
	open := s.mustCreate(t, key, 2)
	if code, _, raw := s.stream(t, key, open, ndjson([]item{{Index: 0, Task: "t", Payload: large}})); code != http.StatusOK {
		t.Fatalf("stream: %d %s", code, raw)
	}
	put(batch.PacketKey(env, open, 1, "inflight"))
	openBefore, _ := s.app.Blob.List(ctx, batch.BatchPacketPrefix(env, open))

	run, err := s.app.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sweep-" + env, TaskQueue: s.cfg.TaskQueue},
		sweepwf.WorkflowName, sweepwf.Input{Grace: 0, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var res sweepwf.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Batches < 2 || res.Deleted < 5 {
		t.Fatalf("sweep: %+v", res)
	}

	t.Run("a sealed batch keeps only its runs' packets", func(t *testing.T) {
		runs := s.runs(t, key, sealed)
		if len(runs) != 2 || runs[0].Payload == nil {
			t.Fatalf("runs %+v", runs)
		}
		left, _ := s.app.Blob.List(ctx, batch.BatchPacketPrefix(env, sealed))
		if !slices.Equal(left, []string{*runs[0].Payload}) {
			t.Fatalf("sealed batch keeps %v, want only its run's packet %s", left, *runs[0].Payload)
		}
		obj, err := s.app.Blob.Get(ctx, *runs[0].Payload, 4<<20)
		if err != nil || string(obj) != large {
			t.Fatalf("the run's packet: %d bytes, %v", len(obj), err)
		}
	})
	t.Run("finished batches keep no staged chunk", func(t *testing.T) {
		for _, prefix := range []string{batch.StagingPrefix(env, sealed), batch.StagingPrefix(env, aborted)} {
			if keys, _ := s.app.Blob.List(ctx, prefix); len(keys) != 0 {
				t.Fatalf("left under %s: %v", prefix, keys)
			}
		}
	})
	t.Run("the aborted batch's canceled run still holds its packet", func(t *testing.T) {
		abortedRuns := s.runs(t, key, aborted)
		if len(abortedRuns) != 1 || abortedRuns[0].Payload == nil || abortedRuns[0].Status != "CANCELED" {
			t.Fatalf("aborted batch's runs %+v", abortedRuns)
		}
		if left, _ := s.app.Blob.List(ctx, batch.BatchPacketPrefix(env, aborted)); !slices.Equal(left, []string{*abortedRuns[0].Payload}) {
			t.Fatalf("aborted batch keeps %v, want only its run's packet %s", left, *abortedRuns[0].Payload)
		}
	})
	t.Run("a batch still receiving items keeps everything", func(t *testing.T) {
		if after, _ := s.app.Blob.List(ctx, batch.BatchPacketPrefix(env, open)); !slices.Equal(after, openBefore) || len(after) != 2 {
			t.Fatalf("the open batch's objects changed: %v → %v", openBefore, after)
		}
	})
	t.Run("the worker's schedule runs it", func(t *testing.T) {
		if err := s.app.EnsureSweepSchedule(ctx); err != nil {
			t.Fatal(err)
		}
		desc, err := s.app.Temporal.ScheduleClient().GetHandle(ctx, sweepwf.ScheduleID).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || action.Workflow != sweepwf.WorkflowName || len(desc.Schedule.Spec.Intervals) != 1 ||
			desc.Schedule.Spec.Intervals[0].Every != s.cfg.SweepEvery || !strings.Contains(desc.Schedule.State.Note, "streambatch") {
			t.Fatalf("schedule %+v, action %+v", desc.Schedule.Spec, desc.Schedule.Action)
		}
	})
}

// A batch's BatchIngest starts with its first chunk, not at the create: a
// batch created and never streamed has no workflow, and once its seal
// deadline passed the sweep starts one, which aborts the batch (seal
// timeout) as the workflow of a batch streamed in part would.
func TestSweepAbortsABatchNeverStreamed(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	cfg := s.config(s.cfg.TaskQueue)
	cfg.SealTimeout = time.Second // below the validated minimum: this app is built, not opened
	a := &app.App{Config: cfg, Log: slog.New(slog.DiscardHandler), Store: s.app.Store, Blob: s.app.Blob, Temporal: s.app.Temporal}
	api := s.withApp(t, a)
	_, key := s.newKey(t)
	id := api.mustCreate(t, key, 3)
	var notFound *serviceerror.NotFound
	if _, err := s.app.Temporal.DescribeWorkflowExecution(ctx, id, ""); !errors.As(err, &notFound) {
		t.Fatalf("describing the new batch's BatchIngest: %v, want not found (it starts with the first chunk)", err)
	}
	time.Sleep(cfg.SealTimeout + 100*time.Millisecond) // past the deadline the row holds

	run, err := s.app.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sweep-expire-" + id, TaskQueue: s.cfg.TaskQueue},
		sweepwf.WorkflowName, sweepwf.Input{Grace: time.Hour, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	// Another sweep (another test's, the schedule's) may expire the batch
	// first: the row says what came of it, not this sweep's count.
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	var st struct {
		Status      string  `json:"status"`
		AbortReason *string `json:"abortReason"`
	}
	resp := api.call(t, http.MethodGet, "/api/v3/batches/"+id+"?wait=60s", key, nil, "", &st)
	if resp.StatusCode != http.StatusOK || st.Status != "ABORTED" || st.AbortReason == nil || !strings.Contains(*st.AbortReason, "seal timeout") {
		t.Fatalf("the never-streamed batch after the sweep: %d %s", resp.StatusCode, resp.Body)
	}
}

// Past its seal deadline, a PENDING batch whose BatchIngest runs is left
// to it (the sweep's start is a no-op). One whose BatchIngest an operator
// terminated has no timer left and its workflow cannot start again: the
// sweep aborts it itself, its runs through BatchRuns (which tells the
// waiting parent) and its row. Both rows are moved past their deadline by
// hand; the running workflow's own timer is 10 minutes away.
func TestSweepOfOverdueBatchesWithAWorkflow(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line := []byte(`{"index":0,"task":"echo","payload":{"n":1}}` + "\n")
	running := s.mustCreate(t, key, 3)
	parentID := "parent-of-terminated-" + env
	terminated := createWithParent(t, s, key, parentID, 3).ID
	startParent(ctx, t, s, envTemporalClient(t, s, env), env, parentID, terminated)
	for _, id := range []string{running, terminated} {
		if code, res, raw := s.stream(t, key, id, line); code != http.StatusOK || res.Sealed {
			t.Fatalf("stream: %d %s, want 200 and not sealed", code, raw)
		}
		if _, err := s.hxDB(t).Exec(ctx, `UPDATE batches SET seal_deadline = now() - interval '1 second' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.app.Temporal.TerminateWorkflow(ctx, terminated, "", "an operator's mistake"); err != nil {
		t.Fatal(err)
	}

	run, err := s.app.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sweep-expire-" + terminated, TaskQueue: s.cfg.TaskQueue},
		sweepwf.WorkflowName, sweepwf.Input{Grace: time.Hour, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	// Another sweep (another test's, the schedule's) may handle either
	// batch first: the rows say what came of them, not this sweep's count.
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	t.Run("running workflow: left to it", func(t *testing.T) {
		if b := s.batchStatus(t, key, running); b.Status != "PENDING" {
			t.Fatalf("batch %s (%v), want PENDING", b.Status, deref(b.AbortReason))
		}
	})
	t.Run("terminated workflow: aborted by the sweep", func(t *testing.T) {
		b := s.batchStatus(t, key, terminated)
		for deadline := time.Now().Add(time.Minute); b.Status == "PENDING" && time.Now().Before(deadline); b = s.batchStatus(t, key, terminated) {
			time.Sleep(50 * time.Millisecond) // another sweep between its two steps
		}
		if b.Status != "ABORTED" || b.AbortReason == nil || !strings.Contains(*b.AbortReason, "its BatchIngest had ended") {
			t.Fatalf("batch %s (%v), want ABORTED by the sweep", b.Status, deref(b.AbortReason))
		}
		if p := s.parentOutcome(ctx, t, key, terminated); p.NotifiedAt == nil {
			t.Fatalf("parent %+v, want it signalled", p)
		}
	})
}
