package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/streambatch/streambatch/batch"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// payloadRefItems are the runs of the by-reference tests: index 0 an
// 8 KiB payload (by reference: at least STREAMBATCH_PAYLOAD_REF_THRESHOLD,
// 4 KiB), 1 a 600 KiB one (stored in S3 at ingest: a presigned S3 URL),
// 2 a 1 KiB one (below the threshold: inline), all of task task.
func payloadRefItems(task string) (body string, stored string) {
	stored = strings.Repeat("s", 600<<10) // a string payload is stored as is
	return fmt.Sprintf(`{"index":0,"task":%q,"payload":{"data":%q}}`+"\n", task, randomText(1, 8<<10)) +
		fmt.Sprintf(`{"index":1,"task":%q,"payload":%q}`+"\n", task, stored) +
		fmt.Sprintf(`{"index":2,"task":%q,"payload":{"data":%q}}`+"\n", task, randomText(2, 1<<10)), stored
}

// scheduledInputBytes returns, per run index, the size of the input its
// activity was scheduled with in BatchRuns' history: the envelope, with or
// without the payload.
func scheduledInputBytes(t *testing.T, s *stack, batchID string) map[int]int {
	t.Helper()
	out := map[int]int{}
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), runsWorkflowOf(s, batchID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			var index int
			if _, err := fmt.Sscanf(a.GetActivityId(), "run-%d", &index); err == nil {
				out[index] = a.GetInput().Size()
			}
		}
	}
	return out
}

// checkByReference checks that the payload of run byRef (8 KiB) stayed
// out of its activity input and that of run inline (1 KiB) went in.
func checkByReference(t *testing.T, s *stack, batchID string, byRef, inline int) {
	t.Helper()
	in := scheduledInputBytes(t, s, batchID)
	if in[byRef] == 0 || in[byRef] >= 2<<10 {
		t.Errorf("the 8 KiB payload's activity input is %d bytes: want a reference (under 2 KiB), not the payload", in[byRef])
	}
	if in[inline] < 1<<10 {
		t.Errorf("the 1 KiB payload's activity input is %d bytes: want the payload inline", in[inline])
	}
}

// A Go task worker (package tasks) reads an 8 KiB payload sent by
// reference, a 600 KiB payload stored in S3 and a 1 KiB payload inline,
// each exactly as stored and with its own type: the reference is resolved
// before the task runs. Only the small payload enters BatchRuns' history.
func TestPayloadsByReferenceGoWorker(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	body, stored := payloadRefItems("big")
	id := s.mustCreate(t, key, 3)
	if code, res, raw := s.stream(t, key, id, []byte(body)); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	step(t, "every run reads its payload", func(t *testing.T) {
		if b := s.waitBatch(t, key, id, 2*time.Minute); b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != 3 {
			t.Fatalf("batch %+v, want 3 runs COMPLETED", b)
		}
		for _, r := range s.runs(t, key, id) {
			var out struct {
				Bytes  int    `json:"bytes"`
				SHA256 string `json:"sha256"`
				Type   string `json:"type"`
			}
			if r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil {
				t.Fatalf("run %d output %v", r.Index, deref(r.Output))
			}
			want, wantType := deref(r.Payload), "application/json"
			if r.Index == 1 {
				want, wantType = stored, batch.PayloadTypeStore
			}
			if out.Bytes != len(want) || out.SHA256 != sha(want) || out.Type != wantType {
				t.Errorf("run %d read %d bytes of type %s (sha %s), want %d of type %s", r.Index, out.Bytes, out.Type, out.SHA256, len(want), wantType)
			}
		}
	})
	step(t, "only the small payload enters the history", func(t *testing.T) { checkByReference(t, s, id, 0, 2) })
	step(t, "the payload route refuses a request without the reference's signature", func(t *testing.T) {
		resp, err := http.Get(s.URL + batch.PayloadRefPath(batch.RunID(id, 0)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unsigned payload request: %d, want 403", resp.StatusCode)
		}
	})
	if runsWorkflowOf(s, id) == runswf.WorkflowID(id) { // else it ran in its BatchIngest (batch_ingest_runs_here_*)
		recordHistory(t, s, runswf.WorkflowID(id), "batch_runs_payload_ref_v4")
	}
}
