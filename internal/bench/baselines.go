package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/internal/blob"
)

// Baselines runs the algorithms streambatch replaces, without Temporal, on
// the same PostgreSQL and S3 (through the latency proxy).
type Baselines struct {
	DB        *pgxpool.Pool
	Objects   *blob.Store
	Threshold int
	// FloorConcurrency lists the PUT concurrencies the floor tries; the
	// best one counts.
	FloorConcurrency []int
}

// Prepare creates the baselines' table, shaped like runs (same indexes).
func (b *Baselines) Prepare(ctx context.Context) error {
	_, err := b.DB.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_runs (LIKE runs INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES INCLUDING CONSTRAINTS)`)
	return err
}

// Sequential processes each item in turn: offload if large, then insert
// its run (the algorithm before trigger.dev's fix).
func (b *Baselines) Sequential(ctx context.Context, s Scenario) (time.Duration, error) {
	return b.perItem(ctx, s, 1)
}

// PMap10 is the same with 10 items in flight per request (trigger.dev's fix).
func (b *Baselines) PMap10(ctx context.Context, s Scenario) (time.Duration, error) {
	return b.perItem(ctx, s, 10)
}

func (b *Baselines) perItem(ctx context.Context, s Scenario, concurrency int) (time.Duration, error) {
	run := fmt.Sprintf("base%d-%d", concurrency, time.Now().UnixNano())
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for bi := range s.Batches {
		g.Go(func() error {
			batchID := fmt.Sprintf("%s-%d", run, bi)
			ig, ictx := errgroup.WithContext(gctx)
			ig.SetLimit(concurrency)
			for i := range s.Items {
				ig.Go(func() error { return b.oneItem(ictx, batchID, bi, i, s.PayloadSize(i)) })
			}
			return ig.Wait()
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

func (b *Baselines) oneItem(ctx context.Context, batchID string, bi, i, size int) error {
	data := payload(bi, i, size)
	stored, ptype := data, "text/plain"
	if size >= b.Threshold {
		key := fmt.Sprintf("bench/%s/item_%d/payload.json", batchID, i)
		if err := b.Objects.Put(ctx, key, "text/plain", strings.NewReader(data), int64(size)); err != nil {
			return err
		}
		stored, ptype = key, "application/store"
	}
	_, err := b.DB.Exec(ctx, `INSERT INTO bench_runs (batch_id, batch_index, environment_id, task, payload, payload_type, status, queue_timestamp)
		VALUES ($1, $2, 0, 'bench', $3, $4, 'QUEUED', now()) ON CONFLICT DO NOTHING`, batchID, i, stored, ptype)
	return err
}

// Floor moves the same data once: the large payloads by raw PUTs (best of
// FloorConcurrency) plus one COPY of every row.
func (b *Baselines) Floor(ctx context.Context, s Scenario) (time.Duration, error) {
	run := fmt.Sprintf("floor-%d", time.Now().UnixNano())
	type obj struct{ bi, i, size int }
	var large []obj
	for bi := range s.Batches {
		for i := range s.Items {
			if size := s.PayloadSize(i); size >= b.Threshold {
				large = append(large, obj{bi, i, size})
			}
		}
	}
	best := time.Duration(0)
	if len(large) > 0 {
		for _, conc := range b.FloorConcurrency {
			start := time.Now()
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(conc)
			for _, o := range large {
				g.Go(func() error {
					key := fmt.Sprintf("bench/%s-c%d/%d/item_%d", run, conc, o.bi, o.i)
					return b.Objects.Put(gctx, key, "text/plain", strings.NewReader(payload(o.bi, o.i, o.size)), int64(o.size))
				})
			}
			if err := g.Wait(); err != nil {
				return 0, err
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
	}
	start := time.Now()
	rows := &floorRows{s: s, run: run, threshold: b.Threshold}
	if _, err := b.DB.CopyFrom(ctx, pgx.Identifier{"bench_runs"},
		[]string{"batch_id", "batch_index", "environment_id", "task", "payload", "payload_type", "status", "queue_timestamp"}, rows); err != nil {
		return 0, err
	}
	return best + time.Since(start), nil
}

// floorRows feeds COPY without holding every row in memory.
type floorRows struct {
	s         Scenario
	run       string
	threshold int
	bi, i     int
	started   bool
	now       time.Time
}

func (r *floorRows) Next() bool {
	if !r.started {
		r.started, r.now = true, time.Now()
		return r.s.Batches > 0 && r.s.Items > 0
	}
	r.i++
	if r.i == r.s.Items {
		r.i, r.bi = 0, r.bi+1
	}
	return r.bi < r.s.Batches
}

func (r *floorRows) Values() ([]any, error) {
	size := r.s.PayloadSize(r.i)
	batchID := fmt.Sprintf("%s-%d", r.run, r.bi)
	p, t := payload(r.bi, r.i, size), "text/plain"
	if size >= r.threshold {
		p, t = fmt.Sprintf("bench/%s/item_%d/payload.json", batchID, r.i), "application/store"
	}
	return []any{batchID, int32(r.i), int64(0), "bench", p, t, "QUEUED", r.now}, nil
}

func (r *floorRows) Err() error { return nil }

// Cleanup removes what the baselines wrote.
func (b *Baselines) Cleanup(ctx context.Context) error {
	if _, err := b.DB.Exec(ctx, `TRUNCATE bench_runs`); err != nil {
		return err
	}
	_, err := b.Objects.DeletePrefix(ctx, "bench/")
	return err
}
