package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// Whoever can signal a batch's workflow but does not hold the server
// secret cannot forge runs: a hand-made items signal that points tenant
// B's runs at tenant A's object is refused by the enqueue activity, its
// indexes open again, and the real stream then delivers B's own items.
func TestSecurityForgedChunkSignal(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	envA, _ := s.newKey(t)
	envB, keyB := s.newKey(t)
	secret := batch.PacketPrefix(envA) + "secret.json"
	if err := s.app.Blob.Put(ctx, secret, "application/json", bytes.NewReader([]byte(`"A-SECRET"`)), 10); err != nil {
		t.Fatal(err)
	}
	const n = 2
	id := s.mustCreate(t, keyB, n)
	forged := batch.ChunkRef{Stream: "forged", Seq: 0, Indexes: batch.Ranges{{0, n}}, Items: []batch.Item{
		{Index: 0, Task: "steal", Payload: &secret, PayloadType: batch.PayloadTypeStore, PacketSize: 10},
		{Index: 1, Task: "steal", Payload: &secret, PayloadType: batch.PayloadTypeStore},
	}, MAC: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	// Signal-With-Start, as the API's first chunk would: the batch's
	// BatchIngest starts with its first chunk.
	wf := ingestwf.NewClient(s.app.Temporal, s.cfg.TaskQueue)
	in := ingestwf.Input{BatchID: id, Env: envB, RunCount: n, CreatedAt: time.Now(), SealDeadline: time.Now().Add(time.Hour)}
	if err := wf.SignalChunk(ctx, in, forged); err != nil {
		t.Fatal(err)
	}
	// The workflow takes the indexes, then gives them back when the
	// activity refuses the chunk.
	deadline := time.Now().Add(time.Minute)
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		p, err := wf.Progress(qctx, id)
		cancel()
		if err == nil && p.ChunksReceived == 1 && p.Accepted == 0 && p.PendingActivities == 0 && p.QueuedChunks == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forged chunk was not refused: %+v %v", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if runs := s.runs(t, keyB, id); len(runs) != 0 {
		t.Fatalf("the forged chunk created %d runs: %+v", len(runs), runs)
	}
	status, res, raw := s.stream(t, keyB, id, ndjson([]item{{Index: 0, Task: "b", Payload: "B0"}, {Index: 1, Task: "b", Payload: "B1"}}))
	if status != http.StatusOK || !res.Sealed {
		t.Fatalf("the real stream: %d %s", status, raw)
	}
	runs := s.runs(t, keyB, id)
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	for _, r := range runs {
		if r.Task != "b" || r.Payload == nil || !strings.Contains(*r.Payload, "B") || strings.Contains(r.PayloadType, "store") {
			t.Fatalf("run %d: task %q, payload %v (%s)", r.Index, r.Task, r.Payload, r.PayloadType)
		}
	}
}
