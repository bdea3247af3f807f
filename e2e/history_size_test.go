package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// BatchRuns' history bytes per run, for 100 runs of 1 KiB and of 3 KiB
// payloads (inline: below STREAMBATCH_PAYLOAD_REF_THRESHOLD, 4 KiB) and of
// 8 KiB payloads (by reference), as the Temporal server counts them
// (HistorySizeBytes). It prints all three and checks two things: the cost
// of an inline payload byte (the difference between the 1 and 3 KiB sizes
// per payload byte added) is about 1, each payload written to the history
// once, not 2; and an 8 KiB run costs less than a 1 KiB run plus 1 KiB,
// its payload not in the history at all (inline, it would cost 7 KiB more).
//
//	go test ./e2e -count=1 -run TestRunsHistoryBytesPerRun -v
func TestRunsHistoryBytesPerRun(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	// More runs than STREAMBATCH_SMALL_BATCH_RUNS (100), so that BatchRuns
	// executes them: its history is the batch's runs' alone.
	const n, small, large, byRef = 150, 1 << 10, 3 << 10, 8 << 10
	perRun := map[int]int64{}
	for _, size := range []int{small, large, byRef} {
		var body bytes.Buffer
		for i := range n {
			fmt.Fprintf(&body, `{"index":%d,"task":"big","payload":%q}`+"\n", i, randomText(uint64(i), size))
		}
		id := s.mustCreate(t, key, n)
		if code, res, raw := s.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
			t.Fatalf("stream: %d %s", code, raw)
		}
		if b := s.waitBatch(t, key, id, 2*time.Minute); b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
			t.Fatalf("batch %+v, want %d runs COMPLETED", b, n)
		}
		desc, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), runswf.WorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		info := desc.GetWorkflowExecutionInfo()
		if info.GetFirstRunId() != info.GetExecution().GetRunId() {
			t.Fatalf("BatchRuns continued as new: its last run's history is not the batch's")
		}
		perRun[size] = info.GetHistorySizeBytes() / n
		t.Logf("BatchRuns history of %d runs with %d-byte payloads: %d bytes, %d events: %d bytes per run",
			n, size, info.GetHistorySizeBytes(), info.GetHistoryLength(), perRun[size])
	}
	perByte := float64(perRun[large]-perRun[small]) / float64(large-small)
	t.Logf("history bytes per payload byte: %.2f", perByte)
	if perByte >= 1.5 {
		t.Errorf("each payload byte costs %.2f history bytes: the payload is written more than once", perByte)
	}
	if perRun[byRef] >= perRun[small]+1<<10 {
		t.Errorf("a run of an 8 KiB payload costs %d history bytes, one of 1 KiB %d: the payload went inline, not by reference", perRun[byRef], perRun[small])
	}
}
