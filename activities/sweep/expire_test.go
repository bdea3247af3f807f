package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	contract "github.com/streambatch/streambatch/workflows/sweep"
)

// overdueStore answers OverdueBatches and GetBatchAnyEnv (PENDING unless
// status says otherwise) and records AbortBatch in log; the rest of Store
// is not called.
type overdueStore struct {
	Store
	overdue  []store.OverdueBatch
	limit    int
	status   map[string]batch.Status
	aborted  []string
	abortErr error
	log      *[]string
}

func (s *overdueStore) AbortBatch(_ context.Context, id, reason string, _ bool) (store.Batch, error) {
	s.aborted = append(s.aborted, id+": "+reason)
	if s.log != nil {
		*s.log = append(*s.log, "row "+id)
	}
	return store.Batch{}, s.abortErr
}

func (s *overdueStore) GetBatchAnyEnv(_ context.Context, id string) (store.Batch, error) {
	return store.Batch{ID: id, Status: cmp.Or(s.status[id], batch.StatusPending)}, nil
}

func (s *overdueStore) OverdueBatches(_ context.Context, _ time.Time, limit int) ([]store.OverdueBatch, error) {
	s.limit = limit
	return s.overdue[:min(limit, len(s.overdue))], nil
}

// aborter records the batches whose runs it aborted (in log too), or
// answers err.
type aborter struct {
	aborted []string
	err     error
	log     *[]string
}

func (r *aborter) Abort(_ context.Context, batchID, env, _ string) error {
	if r.err != nil {
		return r.err
	}
	r.aborted = append(r.aborted, env+"/"+batchID)
	if r.log != nil {
		*r.log = append(*r.log, "runs "+batchID)
	}
	return nil
}

// starter records the inputs it starts BatchIngest with, and answers err
// for the batch ids in errs.
type starter struct {
	started []ingestwf.Input
	errs    map[string]error
}

func (s *starter) Start(_ context.Context, in ingestwf.Input) error {
	if err := s.errs[in.BatchID]; err != nil {
		return err
	}
	s.started = append(s.started, in)
	return nil
}

func TestExpireOverdue(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	deadline := created.Add(30 * time.Minute)
	overdue := []store.OverdueBatch{
		{BatchID: "batch_a", Env: "e", RunCount: 3, CreatedAt: created, SealDeadline: deadline},
		{BatchID: "batch_b", Env: "e", RunCount: 5, CreatedAt: created, SealDeadline: deadline},
		{BatchID: "batch_c", Env: "f", RunCount: 1, CreatedAt: created, SealDeadline: deadline},
	}
	t.Run("starts each batch's workflow with its deadline", func(t *testing.T) {
		t.Parallel()
		st := &starter{}
		a := &Activities{Store: &overdueStore{overdue: overdue}, Ingest: st}
		n, err := a.ExpireOverdue(context.Background(), 10)
		if err != nil || n != 3 || len(st.started) != 3 {
			t.Fatalf("got %d, %v; started %+v", n, err, st.started)
		}
		want := ingestwf.Input{BatchID: "batch_b", Env: "e", RunCount: 5, CreatedAt: created, SealDeadline: deadline}
		if st.started[1] != want {
			t.Fatalf("started %+v, want %+v", st.started[1], want)
		}
	})
	t.Run("takes at most the limit", func(t *testing.T) {
		t.Parallel()
		s, st := &overdueStore{overdue: overdue}, &starter{}
		a := &Activities{Store: s, Ingest: st}
		if n, err := a.ExpireOverdue(context.Background(), 2); err != nil || n != 2 || s.limit != 2 {
			t.Fatalf("got %d, %v, limit %d", n, err, s.limit)
		}
	})
	t.Run("a batch whose workflow ended is aborted here, runs then row", func(t *testing.T) {
		t.Parallel()
		var log []string
		s, runs := &overdueStore{overdue: overdue, log: &log}, &aborter{log: &log}
		st := &starter{errs: map[string]error{"batch_a": fmt.Errorf("start: %w", ingestwf.ErrClosed)}}
		a := &Activities{Store: s, Ingest: st, Runs: runs}
		if n, err := a.ExpireOverdue(context.Background(), 10); err != nil || n != 3 || len(st.started) != 2 {
			t.Fatalf("got %d, %v; started %+v", n, err, st.started)
		}
		want := "batch_a: seal timeout: not all 3 items arrived by 2026-12-07T08:30:00Z (its BatchIngest had ended)"
		if len(s.aborted) != 1 || s.aborted[0] != want {
			t.Fatalf("aborted %q, want %q", s.aborted, want)
		}
		if len(runs.aborted) != 1 || runs.aborted[0] != "e/batch_a" {
			t.Fatalf("runs aborted %q, want e/batch_a's", runs.aborted)
		}
		if !slices.Equal(log, []string{"runs batch_a", "row batch_a"}) {
			t.Fatalf("order %q, want the runs (BatchRuns tells the parent) before the row", log)
		}
	})
	t.Run("a batch sealed meanwhile is left alone", func(t *testing.T) {
		t.Parallel()
		s, runs := &overdueStore{overdue: overdue[:1], status: map[string]batch.Status{"batch_a": batch.StatusProcessing}}, &aborter{}
		st := &starter{errs: map[string]error{"batch_a": ingestwf.ErrClosed}}
		a := &Activities{Store: s, Ingest: st, Runs: runs}
		if n, err := a.ExpireOverdue(context.Background(), 10); err != nil || n != 1 || len(runs.aborted) != 0 || len(s.aborted) != 0 {
			t.Fatalf("got %d, %v; runs aborted %q, rows aborted %q", n, err, runs.aborted, s.aborted)
		}
	})
	t.Run("a batch whose runs could not be aborted stays PENDING for the next sweep", func(t *testing.T) {
		t.Parallel()
		down := errors.New("unavailable")
		s, runs := &overdueStore{overdue: overdue[:1]}, &aborter{err: down}
		st := &starter{errs: map[string]error{"batch_a": ingestwf.ErrClosed}}
		a := &Activities{Store: s, Ingest: st, Runs: runs}
		if _, err := a.ExpireOverdue(context.Background(), 10); !errors.Is(err, down) || len(s.aborted) != 0 {
			t.Fatalf("got %v, rows aborted %q; want %v and the row left PENDING", err, s.aborted, down)
		}
	})
	t.Run("a batch that fails does not stop the others", func(t *testing.T) {
		t.Parallel()
		st := &starter{errs: map[string]error{"batch_b": errors.New("refused")}}
		a := &Activities{Store: &overdueStore{overdue: overdue}, Ingest: st}
		if n, err := a.ExpireOverdue(context.Background(), 10); err != nil || n != 2 || len(st.started) != 2 {
			t.Fatalf("got %d, %v; started %+v", n, err, st.started)
		}
	})
	t.Run("Temporal unavailable fails the activity", func(t *testing.T) {
		t.Parallel()
		down := errors.New("unavailable")
		st := &starter{errs: map[string]error{"batch_a": down, "batch_b": down, "batch_c": down}}
		a := &Activities{Store: &overdueStore{overdue: overdue}, Ingest: st}
		if _, err := a.ExpireOverdue(context.Background(), 10); !errors.Is(err, down) {
			t.Fatalf("got %v, want %v", err, down)
		}
	})
	t.Run("without a starter nothing is read", func(t *testing.T) {
		t.Parallel()
		s := &overdueStore{overdue: overdue}
		a := &Activities{Store: s}
		if n, err := a.ExpireOverdue(context.Background(), 10); err != nil || n != 0 || s.limit != 0 {
			t.Fatalf("got %d, %v; read with limit %d", n, err, s.limit)
		}
	})
}

// With object sweeping off (Input.ExpireOnly) a SweepObjects only expires
// overdue batches: it reads no finished batch and deletes no key (the
// store here answers nothing else).
func TestSweepObjectsExpireOnly(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	s, st := &overdueStore{overdue: []store.OverdueBatch{{BatchID: "batch_a", Env: "e", RunCount: 1, CreatedAt: created, SealDeadline: created}}}, &starter{}
	a := &Activities{Store: s, Ingest: st}
	res, err := a.SweepObjects(context.Background(), contract.Input{Limit: 50, ExpireOnly: true})
	if err != nil || res.Expired != 1 || res.Batches != 0 || len(st.started) != 1 || s.limit != 50 {
		t.Fatalf("result %+v, %v; started %d, limit %d", res, err, len(st.started), s.limit)
	}
}
