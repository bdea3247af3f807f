package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/proc"
)

// The worker process is killed with SIGKILL mid-batch and a new one is
// started: the batch seals with exactly N runs, no duplicate rows and no
// duplicate or damaged objects.
func TestWorkerKilledMidBatch(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	// Its own task queue: only the worker processes of this test run these
	// workflows.
	cfg := s.config("crash-" + batch.NewStreamID())
	api := s.withConfig(t, cfg)

	startWorker := func(name string) *proc.Process {
		p, err := proc.StartProcess(filepath.Join(s.dir, name+".log"), s.env(cfg), s.bin, "worker")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const n = 20000
	items := simpleItems(n)
	large := map[int]string{}
	for i := 7; i < n; i += 1000 {
		large[i] = randomText(uint64(i), 600<<10)
		items[i].Payload = large[i]
	}
	id := api.mustCreate(t, key, n)
	w1 := startWorker("worker1")
	defer w1.Kill()

	type answer struct {
		status int
		res    streamResp
		raw    []byte
	}
	done := make(chan answer, 1)
	go func() {
		status, res, raw := api.stream(t, key, id, ndjson(items))
		done <- answer{status, res, raw}
	}()

	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var atKill int
	for {
		total, _, err := s.app.Store.CountRuns(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if total > 0 {
			atKill = total
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no run was created within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w1.Kill()
	if atKill >= n {
		t.Fatalf("the batch finished before the kill (%d runs); make it bigger", atKill)
	}
	t.Logf("worker killed with %d of %d runs created", atKill, n)
	w2 := startWorker("worker2")
	defer w2.Stop(10 * time.Second)

	var ans answer
	select {
	case ans = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("phase 2 did not answer within 3 minutes")
	}
	if ans.status != http.StatusOK || !ans.res.Sealed || ans.res.ItemsAccepted != n {
		t.Fatalf("phase 2: %d %s", ans.status, ans.raw)
	}
	total, failed, err := s.app.Store.CountRuns(ctx, id)
	if err != nil || total != n || failed != 0 {
		t.Fatalf("runs: %d (failed %d), want %d: %v", total, failed, n, err)
	}
	set, err := s.app.Store.RunIndexes(ctx, id, n)
	if err != nil || !set.Full() {
		t.Fatalf("indexes: %d distinct: %v", set.Len(), err)
	}
	keys, err := s.app.Blob.List(ctx, batch.PacketPrefix(env))
	if err != nil || len(keys) != len(large) {
		t.Fatalf("%d packet objects, want %d: %v", len(keys), len(large), err)
	}
	byIndex := map[int]string{}
	for _, r := range s.runs(t, key, id) {
		if r.Payload != nil {
			byIndex[r.Index] = *r.Payload
		}
	}
	for i, want := range large {
		obj, err := s.app.Blob.Get(ctx, byIndex[i], 1<<20)
		if err != nil || sha(string(obj)) != sha(want) {
			t.Fatalf("packet %d damaged: %v", i, err)
		}
	}
	if keys, _ := s.app.Blob.List(ctx, batch.StagingPrefix(env, id)); len(keys) != 0 {
		t.Fatalf("staged chunks left: %d", len(keys))
	}
}
