package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// An abort that races a batch's first chunk: the API finds no workflow
// (the first chunk starts it) and aborts the row itself; the chunk, signed
// by the API before the abort, then starts the batch's BatchIngest, whose
// enqueue is refused (the batch is no longer PENDING). The workflow ends
// ABORTED at once, not at its seal deadline an hour later, and creates no
// run (change not-pending-ends; its history is recorded for replay).
func TestAbortRacingTheFirstChunkEndsItsWorkflow(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	env, key := s.newKey(t)
	const n = 2
	id := s.mustCreate(t, key, n)
	p0, p1 := `"a"`, `"b"`
	chunk := batch.ChunkRef{Stream: "raced", Seq: 0, Indexes: batch.Ranges{{0, n}}, Items: []batch.Item{
		{Index: 0, Task: "t", Payload: &p0, PayloadType: batch.PayloadTypeJSON},
		{Index: 1, Task: "t", Payload: &p1, PayloadType: batch.PayloadTypeJSON},
	}}
	signer, err := batch.NewChunkSigner(s.cfg.JWTSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.Sign(id, env, &chunk, nil); err != nil {
		t.Fatal(err)
	}
	if resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, stringsReader(`{"reason":"changed my mind"}`), "application/json", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
	}
	wf := ingestwf.NewClient(s.app.Temporal, s.cfg.TaskQueue)
	created := time.Now()
	in := ingestwf.Input{BatchID: id, Env: env, RunCount: n, CreatedAt: created, SealDeadline: created.Add(time.Hour)}
	if err := wf.SignalChunk(ctx, in, chunk); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := wf.Wait(wctx, id)
	if err != nil {
		t.Fatalf("the workflow did not end: %v", err)
	}
	if res.State != ingestwf.StateAborted || res.Enqueued != 0 {
		t.Fatalf("result %+v, want aborted with nothing enqueued", res)
	}
	if runs := s.runs(t, key, id); len(runs) != 0 {
		t.Fatalf("the raced chunk created %d runs", len(runs))
	}
	recordHistory(t, s, id, "batch_ingest_not_pending")
}
