package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/store"
	contract "github.com/streambatch/streambatch/workflows/ingest"
	"github.com/streambatch/streambatch/workflows/runs"
)

// fakeRuns and fakeObjects stand in for PostgreSQL and S3 in this unit test
// of the activity's decisions; the e2e tests run it against the real ones.
type fakeRuns struct {
	inserted   []batch.Item
	sealed     int // SealBatch calls
	sealedHere int // SealBatchRunningHere calls
	// aborted and abortErr are what AbortBatch returns.
	aborted  store.Batch
	abortErr error
	// refuse makes InsertRuns refuse items that are not pre-failed, as
	// PostgreSQL refuses text it cannot store.
	refuse bool
}

func (f *fakeRuns) InsertRuns(_ context.Context, _ string, items []batch.Item) (int, error) {
	for _, it := range items {
		if f.refuse && !it.Failed() {
			return 0, fmt.Errorf("store: copy runs: %w: invalid byte sequence (SQLSTATE 22021)", store.ErrInvalidData)
		}
	}
	f.inserted = append(f.inserted, items...)
	return len(items), nil
}
func (f *fakeRuns) GetBatchAnyEnv(context.Context, string) (store.Batch, error) {
	return store.Batch{}, nil
}
func (f *fakeRuns) SealBatch(context.Context, string) (store.Batch, error) {
	f.sealed++
	return store.Batch{}, nil
}
func (f *fakeRuns) SealBatchRunningHere(context.Context, string) (store.Batch, error) {
	f.sealedHere++
	return store.Batch{}, nil
}
func (f *fakeRuns) AbortBatch(context.Context, string, string, bool) (store.Batch, error) {
	return f.aborted, f.abortErr
}

type fakeObjects struct {
	sizes    map[string]int64
	objects  map[string][]byte // what Get reads
	heads    atomic.Int32
	gets     atomic.Int32
	mu       sync.Mutex
	prefixes []string // DeletePrefix calls
}

func (f *fakeObjects) Get(_ context.Context, key string, maxSize int64) ([]byte, error) {
	f.gets.Add(1)
	b, ok := f.objects[key]
	switch {
	case !ok:
		return nil, blob.ErrNotFound
	case int64(len(b)) > maxSize:
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrTooLarge)
	}
	return b, nil
}
func (f *fakeObjects) Size(_ context.Context, key string) (int64, error) {
	f.heads.Add(1)
	if n, ok := f.sizes[key]; ok {
		return n, nil
	}
	return 0, blob.ErrNotFound
}
func (f *fakeObjects) DeletePrefix(_ context.Context, prefix string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prefixes = append(f.prefixes, prefix)
	return 0, nil
}
func (f *fakeObjects) Put(context.Context, string, string, io.ReadSeeker, int64) error {
	return nil
}
func (f *fakeObjects) PresignGet(context.Context, string, time.Duration) (string, error) {
	return "", nil
}

// A packet that is not in the bucket makes its item a run that failed at
// creation (PAYLOAD_MISSING), and the chunk goes through: retrying for
// ever would hold the batch until its seal timeout.
func TestMissingPacketFailsItsRun(t *testing.T) {
	t.Parallel()
	present, lost := batch.PacketKey("dev", "batch_x", 0, "s"), batch.PacketKey("dev", "batch_x", 1, "s")
	runs := &fakeRuns{}
	a := &Activities{Runs: runs, Objects: &fakeObjects{sizes: map[string]int64{present: 600}}, Signer: testSigner}
	items := []batch.Item{
		{Index: 0, Task: "t", Payload: &present, PayloadType: batch.PayloadTypeStore, PacketSize: 600},
		{Index: 1, Task: "t", Payload: &lost, PayloadType: batch.PayloadTypeStore, PacketSize: 700},
	}
	in := contract.EnqueueInput{BatchID: "batch_x", Env: "dev",
		Chunk: batch.ChunkRef{Stream: "s", Indexes: batch.Ranges{{0, 2}}, Items: items}}
	if err := testSigner.Sign(in.BatchID, in.Env, &in.Chunk, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OffloadAndEnqueue(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(runs.inserted) != 2 || runs.inserted[0].Failed() || runs.inserted[1].ErrorCode != batch.ErrorPayloadMissing {
		t.Fatalf("inserted %+v", runs.inserted)
	}
}

var testSigner = func() *batch.ChunkSigner {
	s, err := batch.NewChunkSigner("test-secret-test-secret-test-secret")
	if err != nil {
		panic(err)
	}
	return s
}()

// A chunk the API did not sign (a hand-made signal: here one pointing a
// run of this batch at another environment's object) is refused without
// touching PostgreSQL or S3 (the workflow opens its indexes again, so that
// the real stream can deliver them; no Phase 2 request recorded them).
func TestUnsignedChunkIsRefused(t *testing.T) {
	t.Parallel()
	theirs := batch.PacketKey("tenant-a", "batch_a", 0, "s")
	items := []batch.Item{{Index: 0, Task: "t", Payload: &theirs, PayloadType: batch.PayloadTypeStore, PacketSize: 600}}
	forged := contract.EnqueueInput{BatchID: "batch_b", Env: "tenant-b",
		Chunk: batch.ChunkRef{Stream: "s", Indexes: batch.Ranges{{0, 1}}, Items: items}}
	signedElsewhere := forged
	if err := testSigner.Sign("batch_a", "tenant-a", &signedElsewhere.Chunk, nil); err != nil {
		t.Fatal(err)
	}
	other, _ := batch.NewChunkSigner("not-this-server-not-this-server-not")
	byOther := forged
	if err := other.Sign(forged.BatchID, forged.Env, &byOther.Chunk, nil); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]contract.EnqueueInput{"unsigned": forged, "signed for another batch": signedElsewhere, "another secret": byOther} {
		runs := &fakeRuns{}
		objects := &fakeObjects{sizes: map[string]int64{theirs: 600}}
		a := &Activities{Runs: runs, Objects: objects, Signer: testSigner}
		_, err := a.OffloadAndEnqueue(context.Background(), in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != contract.ErrTypeInvalidChunk || !app.NonRetryable() {
			t.Fatalf("%s: %v, want a non-retryable %s", name, err, contract.ErrTypeInvalidChunk)
		}
		if len(runs.inserted) != 0 || objects.heads.Load() != 0 {
			t.Fatalf("%s: inserted %d runs, %d HEADs", name, len(runs.inserted), objects.heads.Load())
		}
	}
}

// stagedChunk returns the input of a staged chunk of four items (indexes
// 0–3, two of them already delivered by another chunk: the chunk owns 1
// and 2) and its staged object's content, signed by testSigner.
func stagedChunk(t *testing.T) (contract.EnqueueInput, []byte) {
	t.Helper()
	var items []batch.Item
	for i := range 4 {
		p := fmt.Sprintf(`{"n":%d}`, i)
		items = append(items, batch.Item{Index: i, Task: "t", Payload: &p, PayloadType: batch.PayloadTypeJSON})
	}
	body := batch.EncodeItems(items)
	in := contract.EnqueueInput{BatchID: "batch_x", Env: "dev", Owned: batch.Ranges{{1, 3}},
		Chunk: batch.ChunkRef{Stream: "s", Seq: 3, Indexes: batch.Ranges{{0, 4}},
			Key: batch.StagedChunkKey("dev", "batch_x", "s", 3), Size: int64(len(body))}}
	if err := testSigner.Sign(in.BatchID, in.Env, &in.Chunk, body); err != nil {
		t.Fatal(err)
	}
	return in, body
}

// A chunk the API signed, answered as durably accepted, whose staged
// object was then lost or changed, or cannot be decoded, becomes runs
// failed at creation (CHUNK_UNREADABLE) for exactly the indexes it owns,
// and the activity succeeds, so the batch seals: refusing the chunk would
// reopen its indexes after the client had stopped sending, and the seal
// timeout would abort the whole batch.
func TestUnreadableChunkFailsItsRuns(t *testing.T) {
	t.Parallel()
	in, body := stagedChunk(t)
	garbage := contract.EnqueueInput{BatchID: in.BatchID, Env: in.Env, Chunk: in.Chunk}
	garbageBody := []byte("not an encoding of items")
	garbage.Chunk.Size = int64(len(garbageBody))
	if err := testSigner.Sign(garbage.BatchID, garbage.Env, &garbage.Chunk, garbageBody); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), body...)
	changed[len(changed)/2] ^= 1
	for name, c := range map[string]struct {
		in     contract.EnqueueInput
		stored map[string][]byte
		owned  []int
		reason string
	}{
		"missing":     {in, nil, []int{1, 2}, "missing from the bucket"},
		"changed":     {in, map[string][]byte{in.Chunk.Key: changed}, []int{1, 2}, "was changed"},
		"longer":      {in, map[string][]byte{in.Chunk.Key: append(body, ' ')}, []int{1, 2}, "more than the"},
		"undecodable": {garbage, map[string][]byte{in.Chunk.Key: garbageBody}, []int{0, 1, 2, 3}, "cannot be decoded"},
	} {
		runs := &fakeRuns{}
		objects := &fakeObjects{objects: c.stored}
		a := &Activities{Runs: runs, Objects: objects, Signer: testSigner}
		res, err := a.OffloadAndEnqueue(context.Background(), c.in)
		if err != nil {
			t.Fatalf("%s: %v, want the chunk's runs failed at creation", name, err)
		}
		if res.Inserted != len(c.owned) || len(runs.inserted) != len(c.owned) {
			t.Fatalf("%s: inserted %d (%+v); want runs %v", name, res.Inserted, runs.inserted, c.owned)
		}
		for k, it := range runs.inserted {
			if it.Index != c.owned[k] || it.ErrorCode != batch.ErrorChunkUnreadable || it.Task == "" || it.PayloadType == "" ||
				!strings.Contains(it.ErrorMessage, c.in.Chunk.Key) || !strings.Contains(it.ErrorMessage, c.reason) {
				t.Errorf("%s: run %+v, want index %d failed with %s naming %s and %q", name, it, c.owned[k], batch.ErrorChunkUnreadable, c.in.Chunk.Key, c.reason)
			}
		}
	}

	// The same chunk intact: its owned items, as they were sent.
	runs := &fakeRuns{}
	a := &Activities{Runs: runs, Objects: &fakeObjects{objects: map[string][]byte{in.Chunk.Key: body}}, Signer: testSigner}
	if _, err := a.OffloadAndEnqueue(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(runs.inserted) != 2 || runs.inserted[0].Index != 1 || runs.inserted[0].Failed() || runs.inserted[1].Task != "t" {
		t.Fatalf("intact chunk: inserted %+v", runs.inserted)
	}
}

// An offloaded packet found with another size than the API wrote makes
// its item a run failed at creation (PAYLOAD_CHANGED); the chunk's other
// items are enqueued, and no index reopens.
func TestChangedPacketFailsItsRun(t *testing.T) {
	t.Parallel()
	good, changed := batch.PacketKey("dev", "batch_x", 0, "s"), batch.PacketKey("dev", "batch_x", 1, "s")
	runs := &fakeRuns{}
	a := &Activities{Runs: runs, Objects: &fakeObjects{sizes: map[string]int64{good: 600, changed: 699}}, Signer: testSigner}
	in := contract.EnqueueInput{BatchID: "batch_x", Env: "dev",
		Chunk: batch.ChunkRef{Stream: "s", Indexes: batch.Ranges{{0, 2}}, Items: []batch.Item{
			{Index: 0, Task: "t", Payload: &good, PayloadType: batch.PayloadTypeStore, PacketSize: 600},
			{Index: 1, Task: "t", Payload: &changed, PayloadType: batch.PayloadTypeStore, PacketSize: 700},
		}}}
	if err := testSigner.Sign(in.BatchID, in.Env, &in.Chunk, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OffloadAndEnqueue(context.Background(), in); err != nil {
		t.Fatalf("%v, want item 1 failed at creation", err)
	}
	if len(runs.inserted) != 2 || runs.inserted[0].Failed() ||
		runs.inserted[1].ErrorCode != batch.ErrorPayloadChanged || !strings.Contains(runs.inserted[1].ErrorMessage, changed) {
		t.Fatalf("inserted %+v", runs.inserted)
	}
}

// A staged chunk's reference the API did not sign is still refused, its
// staged object present or not, and a version 2 forgery without reading
// S3: a forger cannot turn indexes into failed runs either.
func TestForgedStagedChunkIsRefused(t *testing.T) {
	t.Parallel()
	in, body := stagedChunk(t)
	other, _ := batch.NewChunkSigner("not-this-server-not-this-server-not")
	byOther := in
	if err := other.Sign(in.BatchID, in.Env, &byOther.Chunk, body); err != nil {
		t.Fatal(err)
	}
	moreIndexes := in
	moreIndexes.Chunk.Indexes = batch.Ranges{{0, 5}}
	bare := in
	bare.Chunk.MAC = strings.TrimPrefix(in.Chunk.MAC, "2.") // looks like version 1
	unsignedRef := in
	unsignedRef.Chunk.MAC, unsignedRef.Chunk.Digest = "", ""
	for name, in := range map[string]contract.EnqueueInput{
		"another secret": byOther, "indexes changed": moreIndexes, "version 1 form": bare, "unsigned": unsignedRef,
	} {
		for _, stored := range []map[string][]byte{nil, {in.Chunk.Key: body}} {
			runs := &fakeRuns{}
			objects := &fakeObjects{objects: stored}
			a := &Activities{Runs: runs, Objects: objects, Signer: testSigner}
			_, err := a.OffloadAndEnqueue(context.Background(), in)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != contract.ErrTypeInvalidChunk || !app.NonRetryable() {
				t.Fatalf("%s (object stored: %v): %v, want a non-retryable %s", name, stored != nil, err, contract.ErrTypeInvalidChunk)
			}
			if len(runs.inserted) != 0 {
				t.Fatalf("%s (object stored: %v): inserted %d runs", name, stored != nil, len(runs.inserted))
			}
			if strings.HasPrefix(in.Chunk.MAC, "2.") && objects.gets.Load() != 0 {
				t.Errorf("%s: a version 2 forgery read S3", name)
			}
		}
	}
}

// Items PostgreSQL refuses to store (validation should have refused them)
// are accepted items all the same: the chunk's owned indexes become runs
// failed at creation; no index reopens.
func TestRefusedDataFailsItsRuns(t *testing.T) {
	t.Parallel()
	in, body := stagedChunk(t)
	runs := &fakeRuns{refuse: true}
	a := &Activities{Runs: runs, Objects: &fakeObjects{objects: map[string][]byte{in.Chunk.Key: body}}, Signer: testSigner}
	if _, err := a.OffloadAndEnqueue(context.Background(), in); err != nil {
		t.Fatalf("%v, want the chunk's runs failed at creation", err)
	}
	if len(runs.inserted) != 2 || runs.inserted[0].Index != 1 ||
		runs.inserted[1].ErrorCode != batch.ErrorChunkUnreadable || !strings.Contains(runs.inserted[1].ErrorMessage, "PostgreSQL refused") {
		t.Fatalf("inserted %+v", runs.inserted)
	}
}

// Aborting a PENDING batch deletes its staged chunks and no packet: runs
// start before the seal, so a run that completed already holds its output
// (item_<i>/output.json) under the batch's packet prefix, which the abort
// must keep. The sweeper deletes the packets no run
// holds.
func TestAbortDeletesNoPacket(t *testing.T) {
	t.Parallel()
	objects := &fakeObjects{}
	a := &Activities{Runs: &fakeRuns{}, Objects: objects}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a.Abort)
	if _, err := env.ExecuteActivity(a.Abort, contract.AbortInput{BatchID: "batch_x", Env: "dev", Reason: "enough"}); err != nil {
		t.Fatal(err)
	}
	output := batch.OutputKey("dev", "batch_x", 0)
	staged := false
	for _, p := range objects.prefixes {
		if strings.HasPrefix(output, p) || strings.HasPrefix(p, batch.PacketPrefix("dev")) {
			t.Fatalf("abort deleted prefix %s, which holds run outputs or payloads", p)
		}
		staged = staged || p == batch.StagingPrefix("dev", "batch_x")
	}
	if !staged {
		t.Fatalf("abort deleted %v, want the staged chunks %s", objects.prefixes, batch.StagingPrefix("dev", "batch_x"))
	}
}

// countingNotifier counts the hints the activities hand to BatchRuns.
type countingNotifier struct{ hints []runs.Hint }

func (n *countingNotifier) Notify(_ context.Context, _, _ string, h runs.Hint) error {
	n.hints = append(n.hints, h)
	return nil
}

func (n *countingNotifier) Abort(context.Context, string, string, string) error { return nil }

// Seal tells BatchRuns the batch is sealed, unless the workflow executes
// the runs itself (RunsHere): then it marks the row so and tells nobody.
func TestSealTellsBatchRunsUnlessRunsHere(t *testing.T) {
	t.Parallel()
	for _, here := range []bool{false, true} {
		t.Run(fmt.Sprintf("runsHere=%v", here), func(t *testing.T) {
			t.Parallel()
			fr, n := &fakeRuns{}, &countingNotifier{}
			a := &Activities{Runs: fr, Objects: &fakeObjects{}, Signer: testSigner, Dispatcher: n}
			if _, err := a.Seal(context.Background(), contract.SealInput{BatchID: "batch_x", Env: "dev", InlineOnly: true, RunsHere: here}); err != nil {
				t.Fatal(err)
			}
			if here && (fr.sealedHere != 1 || len(n.hints) != 0) {
				t.Fatalf("sealed here %d times, %d hints; want the row marked and no hint", fr.sealedHere, len(n.hints))
			}
			if !here && (fr.sealedHere != 0 || len(n.hints) != 1 || !n.hints[0].Sealed) {
				t.Fatalf("sealed here %d times, hints %+v; want one sealed hint", fr.sealedHere, n.hints)
			}
		})
	}
}

// An abort that finds the batch sealed leaves it sealed (the workflow ends
// SEALED) and finishes the seal whose result the workflow never learnt: a
// PROCESSING batch's runs go to BatchRuns, which hears of the seal (a small
// batch's row stops saying its BatchIngest executes them), and its staged
// chunks go; a COMPLETED batch needs nothing.
func TestAbortOfASealedBatchHandsItsRunsToBatchRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		row          store.Batch
		hints, seals int
	}{
		{"processing", store.Batch{Status: batch.StatusProcessing, Sealed: true}, 1, 0},
		{"processing, sealed to run here", store.Batch{Status: batch.StatusProcessing, Sealed: true, RunsHere: true}, 1, 1},
		{"completed", store.Batch{Status: batch.StatusCompleted, Sealed: true}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fr := &fakeRuns{aborted: tc.row, abortErr: store.ErrNotPending}
			objects, n := &fakeObjects{}, &countingNotifier{}
			a := &Activities{Runs: fr, Objects: objects, Dispatcher: n}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivity(a.Abort)
			var res contract.AbortResult
			val, err := env.ExecuteActivity(a.Abort, contract.AbortInput{BatchID: "batch_x", Env: "dev", Reason: "seal timeout"})
			if err == nil {
				err = val.Get(&res)
			}
			if err != nil || !res.Sealed {
				t.Fatalf("abort: %+v %v, want sealed", res, err)
			}
			if len(n.hints) != tc.hints || (tc.hints > 0 && !n.hints[0].Sealed) {
				t.Fatalf("hints %+v, want %d sealed", n.hints, tc.hints)
			}
			if fr.sealed != tc.seals {
				t.Fatalf("%d plain seals, want %d", fr.sealed, tc.seals)
			}
			if staged := len(objects.prefixes) == 1 && objects.prefixes[0] == batch.StagingPrefix("dev", "batch_x"); staged != (tc.hints > 0) {
				t.Fatalf("deleted %v", objects.prefixes)
			}
		})
	}
}
