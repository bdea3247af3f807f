package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
)

// BenchmarkInsertPath compares the run insert (one multi-row INSERT … SELECT
// FROM unnest … ON CONFLICT DO NOTHING per chunk) with COPY of the same
// rows into a table shaped like runs, 1,000 rows a round trip.
func BenchmarkInsertPath(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	s := testStore
	ctx := context.Background()
	const chunk = 1000
	payload := string(make([]byte, 0)) + fmt.Sprintf("%0256d", 0)
	mk := func(from int) []batch.Item {
		out := make([]batch.Item, chunk)
		for k := range out {
			p := payload
			out[k] = batch.Item{Index: from + k, Task: "bench", Payload: &p, PayloadType: "text/plain"}
		}
		return out
	}
	b.Run("insert_runs", func(b *testing.B) {
		bt := newBatch(&testing.T{}, s, 1<<30)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := s.InsertRuns(ctx, bt.ID, mk(n)); err != nil {
				b.Fatal(err)
			}
			n += chunk
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("copy", func(b *testing.B) {
		bt := newBatch(&testing.T{}, s, 1<<30)
		if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_copy (LIKE runs INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES INCLUDING CONSTRAINTS)`); err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			items := mk(n)
			_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"bench_copy"},
				[]string{"batch_id", "batch_index", "environment_id", "task", "payload", "payload_type", "status", "queue_timestamp"},
				pgx.CopyFromSlice(len(items), func(k int) ([]any, error) {
					return []any{bt.ID, int32(items[k].Index), bt.EnvironmentID, items[k].Task, *items[k].Payload, items[k].PayloadType, "QUEUED", bt.CreatedAt}, nil
				}))
			if err != nil {
				b.Fatal(err)
			}
			n += chunk
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkInsertRunsParallel inserts chunks of one batch from 8 goroutines,
// as concurrent chunk activities do.
func BenchmarkInsertRunsParallel(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	s := testStore
	ctx := context.Background()
	bt := newBatch(&testing.T{}, s, 1<<30)
	var next atomic.Int64
	payload := fmt.Sprintf("%0256d", 0)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			from := int(next.Add(1000)) - 1000
			items := make([]batch.Item, 1000)
			for k := range items {
				p := payload
				items[k] = batch.Item{Index: from + k, Task: "bench", Payload: &p, PayloadType: "text/plain"}
			}
			if _, err := s.InsertRuns(ctx, bt.ID, items); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInsertRunsKeyed inserts chunks of 1,000 runs (COPY, the usual
// path) with none, 10 % and every item carrying an idempotency key of its
// own: the keyed chunks pay one more statement each (the claim of their
// keys), never one per item.
func BenchmarkInsertRunsKeyed(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	s := testStore
	ctx := context.Background()
	const chunk = 1000
	payload := fmt.Sprintf("%0256d", 0)
	for _, pct := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("keys=%d%%", pct), func(b *testing.B) {
			bt := newBatch(&testing.T{}, s, 1<<30)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				items := make([]batch.Item, chunk)
				for k := range items {
					p, i := payload, n+k
					opts := []byte(`{"payloadType":"text/plain"}`)
					if i%100 < pct {
						opts = fmt.Appendf(nil, `{"idempotencyKey":"%s-%d","payloadType":"text/plain"}`, bt.ID, i)
					}
					items[k] = batch.Item{Index: i, Task: "bench", Payload: &p, PayloadType: "text/plain", Options: opts}
				}
				if _, err := s.InsertRuns(ctx, bt.ID, items); err != nil {
					b.Fatal(err)
				}
				n += chunk
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
