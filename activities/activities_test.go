package activities

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
	"github.com/streambatch/streambatch/blob"
	"github.com/streambatch/streambatch/store"
	"github.com/streambatch/streambatch/workflows"
)

// fakeRuns and fakeObjects stand in for PostgreSQL and S3 in this unit test
// of the activity's decisions; the e2e tests run it against the real ones.
type fakeRuns struct {
	inserted []batch.Item
	dropped  []string
}

func (f *fakeRuns) InsertRuns(_ context.Context, _ string, items []batch.Item) (int, error) {
	f.inserted = append(f.inserted, items...)
	return len(items), nil
}
func (f *fakeRuns) GetBatchAnyEnv(context.Context, string) (store.Batch, error) {
	return store.Batch{}, nil
}
func (f *fakeRuns) SealBatch(context.Context, string) (store.Batch, error) { return store.Batch{}, nil }
func (f *fakeRuns) AbortBatch(context.Context, string, string, bool) (store.Batch, error) {
	return store.Batch{}, nil
}
func (f *fakeRuns) DropChunk(_ context.Context, _ string, stream string, seq int) error {
	f.dropped = append(f.dropped, fmt.Sprintf("%s/%d", stream, seq))
	return nil
}

type fakeObjects struct {
	sizes    map[string]int64
	heads    atomic.Int32
	mu       sync.Mutex
	prefixes []string // DeletePrefix calls
}

func (f *fakeObjects) Get(context.Context, string, int64) ([]byte, error) {
	return nil, blob.ErrNotFound
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
// creation (PAYLOAD_MISSING), and the chunk goes through; before, the
// activity retried for ever and held the batch until its seal timeout
// (issue 11.5).
func TestMissingPacketFailsItsRun(t *testing.T) {
	t.Parallel()
	present, lost := batch.PacketKey("dev", "batch_x", 0, "s"), batch.PacketKey("dev", "batch_x", 1, "s")
	runs := &fakeRuns{}
	a := &Activities{Runs: runs, Objects: &fakeObjects{sizes: map[string]int64{present: 600}}, Signer: testSigner}
	items := []batch.Item{
		{Index: 0, Task: "t", Payload: &present, PayloadType: batch.PayloadTypeStore, PacketSize: 600},
		{Index: 1, Task: "t", Payload: &lost, PayloadType: batch.PayloadTypeStore, PacketSize: 700},
	}
	in := workflows.EnqueueInput{BatchID: "batch_x", Env: "dev",
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
// touching PostgreSQL or S3, and its indexes are dropped so that the real
// stream can deliver them (issue 11.9).
func TestUnsignedChunkIsRefused(t *testing.T) {
	t.Parallel()
	theirs := batch.PacketKey("tenant-a", "batch_a", 0, "s")
	items := []batch.Item{{Index: 0, Task: "t", Payload: &theirs, PayloadType: batch.PayloadTypeStore, PacketSize: 600}}
	forged := workflows.EnqueueInput{BatchID: "batch_b", Env: "tenant-b",
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
	for name, in := range map[string]workflows.EnqueueInput{"unsigned": forged, "signed for another batch": signedElsewhere, "another secret": byOther} {
		runs := &fakeRuns{}
		objects := &fakeObjects{sizes: map[string]int64{theirs: 600}}
		a := &Activities{Runs: runs, Objects: objects, Signer: testSigner}
		_, err := a.OffloadAndEnqueue(context.Background(), in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != workflows.ErrTypeInvalidChunk || !app.NonRetryable() {
			t.Fatalf("%s: %v, want a non-retryable %s", name, err, workflows.ErrTypeInvalidChunk)
		}
		if len(runs.inserted) != 0 || len(runs.dropped) != 1 || objects.heads.Load() != 0 {
			t.Fatalf("%s: inserted %d runs, dropped %v, %d HEADs", name, len(runs.inserted), runs.dropped, objects.heads.Load())
		}
	}
}

// Aborting a PENDING batch deletes its staged chunks and no packet: runs
// start before the seal, so a run that completed already holds its output
// (item_<i>/output.json) under the batch's packet prefix, and before, the
// abort deleted it (issue 18.3). The sweeper deletes the packets no run
// holds.
func TestAbortDeletesNoPacket(t *testing.T) {
	t.Parallel()
	objects := &fakeObjects{}
	a := &Activities{Runs: &fakeRuns{}, Objects: objects}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a.Abort)
	if _, err := env.ExecuteActivity(a.Abort, workflows.AbortInput{BatchID: "batch_x", Env: "dev", Reason: "enough"}); err != nil {
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
