package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

var statuses = []batch.Status{batch.StatusPending, batch.StatusProcessing, batch.StatusCompleted, batch.StatusAborted}

// The lifecycle allows exactly these changes of status.
func TestLifecycleTable(t *testing.T) {
	t.Parallel()
	want := map[[2]batch.Status]bool{
		{batch.StatusPending, batch.StatusProcessing}:   true, // seal
		{batch.StatusPending, batch.StatusAborted}:      true, // abort
		{batch.StatusProcessing, batch.StatusAborted}:   true, // abort, sealed too
		{batch.StatusProcessing, batch.StatusCompleted}: true, // complete
		{batch.StatusCompleted, batch.StatusProcessing}: true, // replay
	}
	for _, from := range statuses {
		for _, to := range statuses {
			if got := allowed(from, to); got != want[[2]batch.Status{from, to}] {
				t.Errorf("allowed(%s, %s) = %v", from, to, got)
			}
		}
	}
	for _, tr := range lifecycle {
		if slices.Contains(tr.from, tr.to) || !slices.Contains(statuses, tr.to) {
			t.Errorf("transition %s: %v → %s", tr.name, tr.from, tr.to)
		}
	}
}

// No statement names a batch status it sets: each takes it from its
// transition (@to_status, @from_status), and a new batch is PENDING by the
// column's default.
func TestStatusStatementsTakeTheLifecycle(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("queries/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	update := regexp.MustCompile(`(?is)\bUPDATE\s+batches\b.*?\bSET\b(.*?)\bWHERE\b(.*)`)
	sets := regexp.MustCompile(`(?i)(^|[\s,])status\s*=`)
	n := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(src), "-- name: ")[1:] {
			name, _, _ := strings.Cut(stmt, " ")
			if regexp.MustCompile(`(?is)INSERT\s+INTO\s+batches\s*\([^)]*\bstatus\b`).MatchString(stmt) {
				t.Errorf("%s: %s inserts a status", f, name)
			}
			m := update.FindStringSubmatch(stmt)
			if m == nil || !sets.MatchString(m[1]) {
				continue
			}
			n++
			if !strings.Contains(m[1], "status = @to_status") || !strings.Contains(m[2], "status = ANY (@from_status::text[])") {
				t.Errorf("%s: %s sets a batch's status without its transition", f, name)
			}
		}
	}
	if n != 4 { // SealBatch, AbortBatch, CompleteBatch, ReplayBatch
		t.Errorf("found %d status-changing statements, want 4", n)
	}
}

// Each transition against PostgreSQL, and the changes the lifecycle refuses.
func TestLifecycleTransitions(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	// processing returns a sealed batch of one run; failed makes the run
	// fail while executing (a replay runs it again).
	processing := func(t *testing.T, failed bool) Batch {
		b := sealed(t, s, 1, items(0, 1))
		if !failed {
			return b
		}
		// A claim token of its own: a step's earlier claims (those of its
		// token) are its own whatever their batch.
		owner := b.ID + ":"
		step := Step{BatchID: b.ID, Owner: owner, Token: owner + "1", Claim: 1, MaxBytes: 1 << 20, Now: time.Now()}
		if _, err := s.DispatchStep(ctx, step); err != nil {
			t.Fatal(err)
		}
		res := RunResult{Index: 0, Status: batch.RunFailed, ErrorCode: strp(batch.ErrorTaskFailed), Attempts: 1, CompletedAt: time.Now()}
		if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: owner, Results: []RunResult{res}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	completed := func(t *testing.T) Batch {
		b := processing(t, true)
		if _, done, err := s.CompleteBatch(ctx, b.ID); err != nil || !done {
			t.Fatal(done, err)
		}
		return b
	}
	status := func(t *testing.T, id string, want batch.Status) {
		t.Helper()
		b, err := s.GetBatchAnyEnv(ctx, id)
		if err != nil || b.Status != want {
			t.Fatalf("status %s (%v), want %s", b.Status, err, want)
		}
	}

	t.Run("seal PENDING to PROCESSING", func(t *testing.T) {
		b := newBatch(t, s, 1)
		if _, err := s.InsertRuns(ctx, b.ID, items(0, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SealBatch(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		status(t, b.ID, batch.StatusProcessing)
	})
	t.Run("abort PENDING to ABORTED", func(t *testing.T) {
		b := newBatch(t, s, 1)
		if _, err := s.AbortBatch(ctx, b.ID, "test", false); err != nil {
			t.Fatal(err)
		}
		status(t, b.ID, batch.StatusAborted)
	})
	t.Run("abort sealed too PROCESSING to ABORTED", func(t *testing.T) {
		b := processing(t, false)
		if _, err := s.AbortBatch(ctx, b.ID, "test", true); err != nil {
			t.Fatal(err)
		}
		status(t, b.ID, batch.StatusAborted)
	})
	t.Run("complete PROCESSING to COMPLETED", func(t *testing.T) {
		b := completed(t)
		status(t, b.ID, batch.StatusCompleted)
	})
	t.Run("replay COMPLETED to PROCESSING", func(t *testing.T) {
		b := completed(t)
		if n, err := s.ReplayBatch(ctx, b.ID); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		status(t, b.ID, batch.StatusProcessing)
	})

	t.Run("refused abort of PROCESSING", func(t *testing.T) {
		b := processing(t, false)
		if _, err := s.AbortBatch(ctx, b.ID, "test", false); !errors.Is(err, ErrNotPending) {
			t.Fatalf("abort: %v", err)
		}
		status(t, b.ID, batch.StatusProcessing)
	})
	t.Run("refused seal of ABORTED", func(t *testing.T) {
		b := newBatch(t, s, 1)
		if _, err := s.AbortBatch(ctx, b.ID, "test", false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SealBatch(ctx, b.ID); !errors.Is(err, ErrNotPending) {
			t.Fatalf("seal: %v", err)
		}
		status(t, b.ID, batch.StatusAborted)
	})
	t.Run("refused completion of PENDING", func(t *testing.T) {
		b := newBatch(t, s, 1)
		if _, done, err := s.CompleteBatch(ctx, b.ID); err != nil || done {
			t.Fatal(done, err)
		}
		status(t, b.ID, batch.StatusPending)
	})
	t.Run("refused replay of PROCESSING", func(t *testing.T) {
		b := processing(t, true)
		if _, err := s.ReplayBatch(ctx, b.ID); !errors.Is(err, ErrNotCompleted) {
			t.Fatalf("replay: %v", err)
		}
		status(t, b.ID, batch.StatusProcessing)
	})
	t.Run("refused abort of COMPLETED", func(t *testing.T) {
		b := completed(t)
		if _, err := s.AbortBatch(ctx, b.ID, "test", true); !errors.Is(err, ErrNotPending) {
			t.Fatalf("abort: %v", err)
		}
		status(t, b.ID, batch.StatusCompleted)
	})
}
