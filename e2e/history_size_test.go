package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// BatchRuns' history bytes per run, for 100 runs of 1 KiB and of 8 KiB
// payloads (inline: below the offload threshold), as the Temporal server
// counts them (HistorySizeBytes). It measures and prints; the bound it
// checks is loose: a run's payload is written to the history once, so a
// run costs less than twice its payload.
//
//	go test ./e2e -count=1 -run TestRunsHistoryBytesPerRun -v
func TestRunsHistoryBytesPerRun(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	const n = 100
	for _, size := range []int{1 << 10, 8 << 10} {
		t.Run(fmt.Sprintf("%dKiB", size>>10), func(t *testing.T) {
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
			perRun := info.GetHistorySizeBytes() / n
			t.Logf("BatchRuns history of %d runs with %d-byte payloads: %d bytes, %d events: %d bytes per run",
				n, size, info.GetHistorySizeBytes(), info.GetHistoryLength(), perRun)
			if perRun >= int64(2*size) {
				t.Errorf("%d history bytes per run of a %d-byte payload: the payload is written twice", perRun, size)
			}
		})
	}
}
