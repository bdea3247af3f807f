package activities

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/blob"
	"github.com/streambatch/streambatch/store"
	"github.com/streambatch/streambatch/workflows"
)

// fakeRuns and fakeObjects stand in for PostgreSQL and S3 in this unit test
// of the activity's decisions; the e2e tests run it against the real ones.
type fakeRuns struct{ inserted []batch.Item }

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
func (f *fakeRuns) DropChunk(context.Context, string, string, int) error { return nil }

type fakeObjects struct{ sizes map[string]int64 }

func (f *fakeObjects) Get(context.Context, string, int64) ([]byte, error) {
	return nil, blob.ErrNotFound
}
func (f *fakeObjects) Size(_ context.Context, key string) (int64, error) {
	if n, ok := f.sizes[key]; ok {
		return n, nil
	}
	return 0, blob.ErrNotFound
}
func (f *fakeObjects) DeletePrefix(context.Context, string) (int, error) { return 0, nil }
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
	present, lost := batch.PacketKey("dev", "batch_x", 0), batch.PacketKey("dev", "batch_x", 1)
	runs := &fakeRuns{}
	a := &Activities{Runs: runs, Objects: &fakeObjects{sizes: map[string]int64{present: 600}}}
	items := []batch.Item{
		{Index: 0, Task: "t", Payload: &present, PayloadType: batch.PayloadTypeStore, PacketSize: 600},
		{Index: 1, Task: "t", Payload: &lost, PayloadType: batch.PayloadTypeStore, PacketSize: 700},
	}
	in := workflows.EnqueueInput{BatchID: "batch_x", Env: "dev",
		Chunk: batch.ChunkRef{Stream: "s", Indexes: batch.Ranges{{0, 2}}, Items: items}}
	if _, err := a.OffloadAndEnqueue(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(runs.inserted) != 2 || runs.inserted[0].Failed() || runs.inserted[1].ErrorCode != batch.ErrorPayloadMissing {
		t.Fatalf("inserted %+v", runs.inserted)
	}
}
