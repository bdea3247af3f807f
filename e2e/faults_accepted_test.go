package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
)

// Items answered as durably accepted never vanish. With the
// default answer (on durable acceptance, no seal wait) and no worker
// serving the batch's queue, a 400-item batch is answered sealed: true;
// then, before any worker reads it, one staged chunk object is deleted,
// another is rewritten (same size, one byte changed), and the packet of an
// offloaded payload is overwritten with other bytes. When the worker
// starts, the batch seals and completes: the lost and changed chunks'
// indexes are runs failed at creation (CHUNK_UNREADABLE, naming the staged
// object), the changed packet's item one failed with PAYLOAD_CHANGED, and
// every other run completes on the task worker. Before, those chunks were
// refused, their indexes reopened after the client had stopped sending,
// and the batch stayed PENDING until its seal timeout aborted all of it.
func TestAcceptedChunkLostInS3BecomesFailedRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	cfg := s.config("accepted-" + batch.NewStreamID()) // no worker serves it yet
	cfg.SealWait = 0                                   // answer on durable acceptance (the default)
	a := &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s.app.Store, Blob: s.app.Blob, Temporal: s.app.Temporal}
	api := s.withApp(t, a)
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)

	// ~400 B per item: the e2e configuration's 100-item chunks are staged.
	const n, big = 400, 250
	items := make([]item, n)
	for i := range items {
		items[i] = item{Index: i, Task: "echo", Payload: map[string]any{"n": i, "pad": randomText(uint64(i), 400)}}
	}
	items[big] = item{Index: big, Task: "big", Payload: randomText(big, 600<<10)} // offloaded to its packet
	id := api.mustCreate(t, key, n)
	if status, res, raw := api.stream(t, key, id, ndjson(items)); status != http.StatusOK || !res.Sealed {
		t.Fatalf("phase 2: %d %s", status, raw)
	}

	// The faults, after the answer and before any worker read a chunk.
	staged, err := s.app.Blob.List(ctx, batch.StagingPrefix(env, id))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(staged)
	holds := map[string][]int{} // staged key → its indexes
	var packet string
	for _, k := range staged {
		body, err := s.app.Blob.Get(ctx, k, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		its, err := batch.DecodeItems(body)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, it := range its {
			holds[k] = append(holds[k], it.Index)
			if it.Index == big && it.Payload != nil {
				packet = *it.Payload
			}
		}
	}
	var lost, changed string
	for _, k := range staged {
		switch {
		case slices.Contains(holds[k], big):
		case lost == "":
			lost = k
		case changed == "":
			changed = k
		}
	}
	if lost == "" || changed == "" || packet == "" {
		t.Fatalf("staged chunks %v (packet of item %d: %q): want two staged chunks without it, and its packet", holds, big, packet)
	}
	if err := s.app.Blob.Delete(ctx, []string{lost}); err != nil {
		t.Fatal(err)
	}
	body, err := s.app.Blob.Get(ctx, changed, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 1
	if err := s.app.Blob.Put(ctx, changed, "application/octet-stream", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	other := []byte("not the payload that was sent")
	if err := s.app.Blob.Put(ctx, packet, "application/json", bytes.NewReader(other), int64(len(other))); err != nil {
		t.Fatal(err)
	}

	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	unreadable := len(holds[lost]) + len(holds[changed])
	want := map[string]int{"COMPLETED": n - unreadable - 1, "FAILED": unreadable + 1}
	step(t, "the batch seals and completes", func(t *testing.T) {
		b := api.waitBatch(t, key, id, 3*time.Minute)
		if b.Status != "COMPLETED" || !b.Sealed || fmt.Sprint(b.RunCounts) != fmt.Sprint(want) {
			t.Fatalf("batch %+v, want COMPLETED with %v", b, want)
		}
	})
	step(t, "the unreadable indexes fail at creation, every other run completes", func(t *testing.T) {
		runs := api.runs(t, key, id)
		if len(runs) != n {
			t.Fatalf("%d runs, want %d", len(runs), n)
		}
		for k, r := range runs {
			var code, where string
			switch {
			case slices.Contains(holds[lost], r.Index):
				code, where = batch.ErrorChunkUnreadable, lost
			case slices.Contains(holds[changed], r.Index):
				code, where = batch.ErrorChunkUnreadable, changed
			case r.Index == big:
				code, where = batch.ErrorPayloadChanged, packet
			}
			switch {
			case r.Index != k:
				t.Fatalf("run %d has index %d", k, r.Index)
			case code == "" && r.Status != "COMPLETED":
				t.Fatalf("run %d: %+v, want COMPLETED", k, r)
			case code != "" && (r.Status != "FAILED" || r.Error == nil || r.Error.Code != code || !strings.Contains(r.Error.Message, where) || r.Attempts != 0):
				t.Fatalf("run %d: %+v (error %+v), want FAILED at creation with %s naming %s", k, r, r.Error, code, where)
			}
		}
		t.Logf("%d staged chunks; %d indexes of a lost and a changed one became %s runs, 1 %s; %d runs completed",
			len(staged), unreadable, batch.ErrorChunkUnreadable, batch.ErrorPayloadChanged, want["COMPLETED"])
	})
}
