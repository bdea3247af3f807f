package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/testenv"
)

var testStore *Store

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx := context.Background()
	url, drop, err := testenv.CreateDatabase(ctx, "store")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := Open(ctx, url, 20)
	if err == nil {
		_, err = s.Migrate(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		drop()
		os.Exit(1)
	}
	testStore = s
	code := m.Run()
	s.Close()
	drop()
	os.Exit(code)
}

func requireDB(t *testing.T) *Store {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	return testStore
}

// newBatch creates an environment and a PENDING batch of n runs.
func newBatch(t *testing.T, s *Store, n int) Batch {
	t.Helper()
	ctx := context.Background()
	env, err := s.EnsureEnvironment(ctx, "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	b, cached, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: n}, func(Batch) error { return nil })
	if err != nil || cached {
		t.Fatal(err, cached)
	}
	return b
}

func items(from, to int) []batch.Item {
	out := make([]batch.Item, 0, to-from)
	for i := from; i < to; i++ {
		p := fmt.Sprintf(`{"i":%d}`, i)
		out = append(out, batch.Item{Index: i, Task: "t", Payload: &p, PayloadType: batch.PayloadTypeJSON, Options: []byte(`{"tags":["x"]}`)})
	}
	return out
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	s := requireDB(t)
	var g errgroup.Group
	for range 4 {
		g.Go(func() error {
			applied, err := s.Migrate(context.Background())
			if err == nil && len(applied) != 0 {
				err = fmt.Errorf("applied %v again", applied)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAPIKeysAreHashedAndScoped(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, _ := s.EnsureEnvironment(ctx, "keys"+batch.NewStreamID())
	key, err := s.CreateAPIKey(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Authenticate(ctx, key)
	if err != nil || got != env {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if _, err := s.Authenticate(ctx, key+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong key: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, "select count(*) from api_keys where key_hash = $1::text::bytea or key_prefix = $1", key).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the key itself is stored (%d rows, %v)", n, err)
	}
}

func TestIdempotencyKeyReturnsTheFirstBatch(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, _ := s.EnsureEnvironment(ctx, "idem"+batch.NewStreamID())
	k := "same-key"
	first, cached, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 3, IdempotencyKey: &k}, func(Batch) error { return nil })
	if err != nil || cached {
		t.Fatal(err, cached)
	}
	started := false
	second, cached, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 9, IdempotencyKey: &k}, func(Batch) error { started = true; return nil })
	if err != nil || !cached || second.ID != first.ID || second.RunCount != 3 || started {
		t.Fatalf("second = %+v cached=%v started=%v err=%v", second, cached, started, err)
	}
	// A key of 2,048 four-byte characters (8 KiB) is fine too.
	long := strings.Repeat("😀", 2048)
	a, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, IdempotencyKey: &long}, func(Batch) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	b, cached, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, IdempotencyKey: &long}, func(Batch) error { return nil })
	if err != nil || !cached || b.ID != a.ID {
		t.Fatalf("long key: %+v cached=%v err=%v", b, cached, err)
	}
	// A failing start rolls the batch back.
	id := batch.NewBatchID()
	_, _, err = s.CreateBatchTx(ctx, NewBatch{ID: id, Env: env, RunCount: 1}, func(Batch) error { return errors.New("temporal down") })
	if err == nil {
		t.Fatal("want error")
	}
	if _, err := s.GetBatch(ctx, env.ID, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("batch exists after failed start: %v", err)
	}
}

func TestGetBatchHidesOtherEnvironments(t *testing.T) {
	s := requireDB(t)
	b := newBatch(t, s, 1)
	if _, err := s.GetBatch(context.Background(), b.EnvironmentID+1_000_000, b.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("foreign batch visible: %v", err)
	}
}

func TestInsertRunsDedupsAndOrders(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 10)
	n, err := s.InsertRuns(ctx, b.ID, items(0, 6))
	if err != nil || n != 6 {
		t.Fatal(n, err)
	}
	fail := items(6, 7)
	fail[0].ErrorCode, fail[0].ErrorMessage, fail[0].Payload = batch.ErrorPayloadTooLarge, "too large", nil
	n, err = s.InsertRuns(ctx, b.ID, append(items(4, 6), append(fail, items(7, 10)...)...))
	if err != nil || n != 4 {
		t.Fatalf("second insert: %d, %v (want 4 new)", n, err)
	}
	total, failed, err := s.CountRuns(ctx, b.ID)
	if err != nil || total != 10 || failed != 1 {
		t.Fatal(total, failed, err)
	}
	runs, err := s.ListRuns(ctx, b.ID, 3, 100)
	if err != nil || len(runs) != 6 || runs[0].Index != 4 || runs[2].Status != batch.RunFailed {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	if want := b.CreatedAt.Add(4 * 1e6); !runs[0].QueueTimestamp.Equal(want) {
		t.Fatalf("queue timestamp %v, want created + 4 ms = %v", runs[0].QueueTimestamp, want)
	}
	if runs[0].ID != "run_"+b.ID[len("batch_"):]+"_4" || string(runs[0].Options) != `{"tags": ["x"]}` {
		t.Fatalf("run = %+v", runs[0])
	}
	set, err := s.RunIndexes(ctx, b.ID, 10)
	if err != nil || set.Len() != 10 {
		t.Fatal(set, err)
	}
}

func TestSealNeedsEveryRunAndIsIdempotent(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 5)
	if _, err := s.InsertRuns(ctx, b.ID, items(0, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealBatch(ctx, b.ID); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("sealing 4 of 5: %v", err)
	}
	if _, err := s.InsertRuns(ctx, b.ID, items(4, 5)); err != nil {
		t.Fatal(err)
	}
	sealed, err := s.SealBatch(ctx, b.ID)
	if err != nil || !sealed.Sealed || sealed.Status != batch.StatusProcessing || sealed.SealedAt == nil {
		t.Fatalf("seal: %+v %v", sealed, err)
	}
	again, err := s.SealBatch(ctx, b.ID)
	if err != nil || !again.SealedAt.Equal(*sealed.SealedAt) {
		t.Fatalf("second seal changed the row: %+v %v", again, err)
	}
	if _, err := s.AbortBatch(ctx, b.ID, "late", false); !errors.Is(err, ErrNotPending) {
		t.Fatalf("aborting a sealed batch: %v", err)
	}
}

// A small batch sealed for its BatchIngest to execute its runs says so, and
// another does not; a plain seal after it (the Seal activity that follows a
// local seal whose result was lost, and tells BatchRuns) and a replay (which
// BatchRuns executes) say the runs execute in BatchRuns.
func TestSealRecordsWhereRunsExecute(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	sealWith := func(t *testing.T, seal func(context.Context, string) (Batch, error)) Batch {
		t.Helper()
		b := newBatch(t, s, 2)
		if _, err := s.InsertRuns(ctx, b.ID, items(0, 2)); err != nil {
			t.Fatal(err)
		}
		got, err := seal(ctx, b.ID)
		if err != nil || !got.Sealed {
			t.Fatalf("seal: %+v %v", got, err)
		}
		return got
	}
	runsHere := func(t *testing.T, id string) bool {
		t.Helper()
		b, err := s.GetBatchAnyEnv(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return b.RunsHere
	}
	t.Run("sealed to run here", func(t *testing.T) {
		b := sealWith(t, s.SealBatchRunningHere)
		if again, err := s.SealBatchRunningHere(ctx, b.ID); !b.RunsHere || err != nil || !again.RunsHere || !runsHere(t, b.ID) {
			t.Fatalf("runs here: %v, after a second seal %v (%v)", b.RunsHere, again.RunsHere, err)
		}
	})
	t.Run("sealed for BatchRuns", func(t *testing.T) {
		b := sealWith(t, s.SealBatch)
		if again, err := s.SealBatch(ctx, b.ID); b.RunsHere || err != nil || again.RunsHere {
			t.Fatalf("runs here: %v, after a second seal %v (%v)", b.RunsHere, again.RunsHere, err)
		}
	})
	t.Run("sealed again for BatchRuns", func(t *testing.T) {
		b := sealWith(t, s.SealBatchRunningHere)
		again, err := s.SealBatch(ctx, b.ID)
		if err != nil || again.RunsHere || runsHere(t, b.ID) || !again.SealedAt.Equal(*b.SealedAt) {
			t.Fatalf("after a plain seal: %+v (%v)", again, err)
		}
	})
	t.Run("replayed", func(t *testing.T) {
		b := sealWith(t, s.SealBatchRunningHere)
		now := time.Now()
		if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:1", Claim: 10, MaxBytes: 1 << 20, Now: now}); err != nil {
			t.Fatal(err)
		}
		results := []RunResult{
			{Index: 0, Status: batch.RunFailed, ErrorCode: strp("Boom"), ErrorMessage: strp("boom"), Attempts: 1, CompletedAt: now},
			{Index: 1, Status: batch.RunCompleted, Output: strp(`1`), OutputType: strp(batch.OutputTypeJSON), Attempts: 1, CompletedAt: now},
		}
		if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Results: results}); err != nil {
			t.Fatal(err)
		}
		if _, done, err := s.CompleteBatch(ctx, b.ID); err != nil || !done {
			t.Fatalf("complete: %v %v", done, err)
		}
		if n, err := s.ReplayBatch(ctx, b.ID); err != nil || n != 1 {
			t.Fatalf("replay: %d %v", n, err)
		}
		if runsHere(t, b.ID) {
			t.Fatal("a replayed batch still says its BatchIngest executes its runs")
		}
	})
}

func TestAbortCancelsRunsAndStopsInserts(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 10)
	if _, err := s.InsertRuns(ctx, b.ID, items(0, 5)); err != nil {
		t.Fatal(err)
	}
	ab, err := s.AbortBatch(ctx, b.ID, "seal timeout", false)
	if err != nil || ab.Status != batch.StatusAborted || *ab.AbortReason != "seal timeout" {
		t.Fatalf("abort: %+v %v", ab, err)
	}
	if _, err := s.AbortBatch(ctx, b.ID, "again", false); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	n, err := s.InsertRuns(ctx, b.ID, items(5, 10))
	if err != nil || n != 0 {
		t.Fatalf("insert after abort: %d %v", n, err)
	}
	runs, _ := s.ListRuns(ctx, b.ID, -1, 100)
	for _, r := range runs {
		if r.Status != batch.RunCanceled {
			t.Fatalf("run %d is %s after abort", r.Index, r.Status)
		}
	}
	if _, err := s.SealBatch(ctx, b.ID); !errors.Is(err, ErrNotPending) {
		t.Fatalf("sealing an aborted batch: %v", err)
	}
}

// Inserts racing an abort never leave a QUEUED run in an aborted batch.
func TestAbortRacingInsertsLeavesNoQueuedRun(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		b := newBatch(t, s, 4000)
		var wg sync.WaitGroup
		for k := 0; k < 8; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = s.InsertRuns(ctx, b.ID, items(500*k, 500*k+500))
			}()
		}
		if _, err := s.AbortBatch(ctx, b.ID, "race", false); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		var queued int
		if err := s.pool.QueryRow(ctx, "select count(*) from runs where batch_id = $1 and status = 'QUEUED'", b.ID).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued != 0 {
			t.Fatalf("round %d: %d QUEUED runs in an aborted batch", round, queued)
		}
	}
}

// TestRunsInsertedCounterIsExact checks that runs_inserted counts every run
// once — COPY, the duplicate-skipping path, and concurrent inserts of
// overlapping chunks — and that the seal still counts the runs when the
// counter falls short (runs inserted by a worker that predates it).
func TestRunsInsertedCounterIsExact(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	counter := func(id string) int {
		t.Helper()
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT runs_inserted FROM batches WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	b := newBatch(t, s, 400)
	var g errgroup.Group
	for k := range 8 { // chunks of 100 at offsets of 50: every index is sent twice
		g.Go(func() error {
			_, err := s.InsertRuns(ctx, b.ID, items(k*50, min(k*50+100, 400)))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := counter(b.ID); got != 400 {
		t.Fatalf("runs_inserted = %d after 400 distinct runs", got)
	}
	if _, err := s.SealBatch(ctx, b.ID); err != nil {
		t.Fatalf("seal: %v", err)
	}

	old := newBatch(t, s, 3)
	if _, err := s.InsertRuns(ctx, old.ID, items(0, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE batches SET runs_inserted = 0 WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if sealed, err := s.SealBatch(ctx, old.ID); err != nil || !sealed.Sealed {
		t.Fatalf("seal of a batch whose runs the counter missed: %+v %v", sealed, err)
	}
}

// TestEachRunStopsAtTheByteBudget: a page of runs ends before the run whose
// stored bytes would pass the budget (the first always comes), says whether
// runs remain, and paging on from the last run gives every run once.
func TestEachRunStopsAtTheByteBudget(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 10)
	its := items(0, 10)
	for k := range its {
		size := 300_000
		if k == 6 {
			size = 2_000_000 // larger than the budget: a page of its own
		}
		// octet_length counts the text as written, however TOAST stores it.
		p := `"` + strings.Repeat(string(rune('a'+k)), size) + `"`
		its[k].Payload = &p
	}
	if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
		t.Fatal(err)
	}
	const budget = 1 << 20
	var pages [][]int
	for after, more := -1, true; more; {
		var page []int
		var err error
		more, err = s.EachRun(ctx, b.ID, RunFilter{}, after, 100, budget, func(r *Run) bool {
			if r.Payload == nil || *r.Payload != *its[r.Index].Payload {
				t.Fatalf("run %d: payload differs", r.Index)
			}
			page = append(page, r.Index)
			after = r.Index
			return true
		})
		if err != nil || len(page) == 0 || len(pages) > 10 {
			t.Fatalf("page %d: %v, %v", len(pages), page, err)
		}
		pages = append(pages, page)
	}
	want := "[[0 1 2] [3 4 5] [6] [7 8 9]]"
	if got := fmt.Sprint(pages); got != want {
		t.Fatalf("pages %s, want %s", got, want)
	}
	// The row limit still applies, and more is exact at the end.
	var got []int
	more, err := s.EachRun(ctx, b.ID, RunFilter{}, 6, 2, 100<<20, func(r *Run) bool { got = append(got, r.Index); return true })
	if err != nil || !more || fmt.Sprint(got) != "[7 8]" {
		t.Fatalf("limit 2 after 6: %v more=%v %v", got, more, err)
	}
	got = nil
	more, err = s.EachRun(ctx, b.ID, RunFilter{}, 6, 3, 100<<20, func(r *Run) bool { got = append(got, r.Index); return true })
	if err != nil || more || fmt.Sprint(got) != "[7 8 9]" {
		t.Fatalf("limit 3 after 6: %v more=%v %v", got, more, err)
	}
	// fn stopping leaves runs behind.
	more, err = s.EachRun(ctx, b.ID, RunFilter{}, 6, 3, 100<<20, func(r *Run) bool { return false })
	if err != nil || !more {
		t.Fatalf("stopped: more=%v %v", more, err)
	}
}

// TestEachRunFilters: EachRun lists only the runs whose status and task
// the filter names (nil admits any, empty admits none), and pages across a
// filter continue after the last run listed, each at most limit runs and
// within the byte budget.
func TestEachRunFilters(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 20)
	its := items(0, 20)
	for k := range its {
		// Tasks a, b, c in turn; every third run (0, 3, 6 …) failed.
		its[k].Task = string(rune('a' + k%3))
		if k%3 == 0 {
			its[k].ErrorCode, its[k].ErrorMessage, its[k].Payload = batch.ErrorPayloadTooLarge, "too large", nil
		}
	}
	// Runs 9 and 12 (failed, task a) and 10 and 13 (task b) are large: a
	// page holds one of each pair.
	for _, k := range []int{9, 12} {
		its[k].ErrorMessage = strings.Repeat("e", 600_000)
	}
	for _, k := range []int{10, 13} {
		p := `"` + strings.Repeat("p", 600_000) + `"`
		its[k].Payload = &p
	}
	if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
		t.Fatal(err)
	}
	// list pages through f, limit runs a page, and returns the pages.
	list := func(t *testing.T, f RunFilter, limit int) string {
		t.Helper()
		var pages [][]string
		for after, more := -1, true; more; {
			var page []string
			var err error
			more, err = s.EachRun(ctx, b.ID, f, after, limit, 1<<20, func(r *Run) bool {
				page = append(page, fmt.Sprintf("%d%s%s", r.Index, r.Task, r.Status[:1]))
				after = r.Index
				return true
			})
			if err != nil || len(pages) > 20 || (more && len(page) == 0) {
				t.Fatalf("page %d: %v more=%v %v", len(pages), page, more, err)
			}
			pages = append(pages, page)
		}
		return fmt.Sprint(pages)
	}
	cases := []struct {
		name  string
		f     RunFilter
		limit int
		want  string
	}{
		{"status FAILED", RunFilter{Statuses: []batch.RunStatus{batch.RunFailed}}, 100,
			"[[0aF 3aF 6aF 9aF] [12aF 15aF 18aF]]"},
		{"status FAILED, 2 a page", RunFilter{Statuses: []batch.RunStatus{batch.RunFailed}}, 2,
			"[[0aF 3aF] [6aF 9aF] [12aF 15aF] [18aF]]"},
		{"task b", RunFilter{Tasks: []string{"b"}}, 3,
			"[[1bQ 4bQ 7bQ] [10bQ] [13bQ 16bQ 19bQ]]"},
		{"tasks a and c, QUEUED or CANCELED", RunFilter{Statuses: []batch.RunStatus{batch.RunQueued, batch.RunCanceled}, Tasks: []string{"a", "c"}}, 3,
			"[[2cQ 5cQ 8cQ] [11cQ 14cQ 17cQ]]"},
		{"no status", RunFilter{Statuses: []batch.RunStatus{}}, 100, "[[]]"},
		{"an unknown task", RunFilter{Tasks: []string{"z"}}, 100, "[[]]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tc.f, tc.limit); got != tc.want {
				t.Fatalf("pages %s, want %s", got, tc.want)
			}
		})
	}
}

// TestEachRunCreatedAt: EachRun lists only the runs created within the
// filter's bounds (both inclusive), with the other filters; so does
// EachRunBefore, which gives the page before an index.
func TestEachRunCreatedAt(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 6)
	its := items(0, 6)
	for k := range its {
		its[k].Task = string(rune('a' + k%2))
	}
	if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
		t.Fatal(err)
	}
	// Run i was created i minutes after base.
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, `UPDATE runs SET created_at = $2::timestamptz + batch_index * interval '1 minute' WHERE batch_id = $1`, b.ID, base); err != nil {
		t.Fatal(err)
	}
	at := func(m int) *time.Time { t := base.Add(time.Duration(m) * time.Minute); return &t }
	cases := []struct {
		name string
		f    RunFilter
		want string
	}{
		{"from", RunFilter{CreatedFrom: at(4)}, "[4 5]"},
		{"to", RunFilter{CreatedTo: at(1)}, "[0 1]"},
		{"from and to", RunFilter{CreatedFrom: at(1), CreatedTo: at(3)}, "[1 2 3]"},
		{"from and to, task b", RunFilter{CreatedFrom: at(1), CreatedTo: at(3), Tasks: []string{"b"}}, "[1 3]"},
		{"after every run", RunFilter{CreatedFrom: at(6)}, "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			if _, err := s.EachRun(ctx, b.ID, tc.f, -1, 100, 1<<20, func(r *Run) bool { got = append(got, r.Index); return true }); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("runs %v, want %s", got, tc.want)
			}
		})
	}
	// EachRunBefore gives the page just before an index, in index order;
	// more tells whether runs remain before the page.
	before := []struct {
		name          string
		f             RunFilter
		before, limit int
		want          string
	}{
		{"before 4, 2 a page", RunFilter{}, 4, 2, "[2 3] true"},
		{"before 2", RunFilter{}, 2, 5, "[0 1] false"},
		{"before 5, task b", RunFilter{Tasks: []string{"b"}}, 5, 10, "[1 3] false"},
		{"before 5, created to 03:02", RunFilter{CreatedTo: at(2)}, 5, 10, "[0 1 2] false"},
	}
	for _, tc := range before {
		t.Run(tc.name, func(t *testing.T) {
			got := []int{}
			more, err := s.EachRunBefore(ctx, b.ID, tc.f, tc.before, tc.limit, 1<<20, func(r *Run) bool { got = append(got, r.Index); return true })
			if page := fmt.Sprint(got, " ", more); err != nil || page != tc.want {
				t.Fatalf("page %s (%v), want %s", page, err, tc.want)
			}
		})
	}
}

// TestEachEnvRun: EachEnvRun lists an environment's runs across its
// batches, newest first, never another environment's; pages continue
// after the cursor run, with the filters, and a cursor that is not a run
// of the environment is ErrNotFound.
func TestEachEnvRun(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b1 := newBatch(t, s, 3)
	env := Environment{ID: b1.EnvironmentID, Name: b1.EnvName}
	b2, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 3}, func(Batch) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	other := newBatch(t, s, 3)
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	for k, b := range []Batch{b1, b2, other} {
		its := items(0, 3)
		its[1].Task = "b"
		if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
			t.Fatal(err)
		}
		// b1's runs were created at 03:00, 03:01, 03:02; b2's and the
		// other environment's all at 03:10 (k = 1, 2).
		if _, err := s.pool.Exec(ctx, `UPDATE runs SET created_at = $2::timestamptz + (CASE WHEN $3 THEN batch_index ELSE 10 END) * interval '1 minute' WHERE batch_id = $1`,
			b.ID, base, k == 0); err != nil {
			t.Fatal(err)
		}
	}
	name := func(r *Run) string {
		if id, i, _ := batch.ParseRunID(r.ID); id == b1.ID {
			return fmt.Sprintf("1.%d", i)
		} else if id == b2.ID {
			return fmt.Sprintf("2.%d", i)
		}
		return "other:" + r.ID
	}
	// list pages through f, limit runs a page, and returns the pages.
	list := func(t *testing.T, f RunFilter, limit int) string {
		t.Helper()
		var pages [][]string
		for after, more := "", true; more; {
			var page []string
			more, err = s.EachEnvRun(ctx, b1.EnvironmentID, f, after, limit, 1<<20, func(r *Run) bool {
				page = append(page, name(r))
				after = r.ID
				return true
			})
			if err != nil || len(pages) > 10 || (more && len(page) == 0) {
				t.Fatalf("page %d: %v more=%v %v", len(pages), page, more, err)
			}
			pages = append(pages, page)
		}
		return fmt.Sprint(pages)
	}
	at := func(m int) *time.Time { t := base.Add(time.Duration(m) * time.Minute); return &t }
	cases := []struct {
		name  string
		f     RunFilter
		limit int
		want  string
	}{
		{"all", RunFilter{}, 100, "[[2.2 2.1 2.0 1.2 1.1 1.0]]"},
		{"all, 4 a page", RunFilter{}, 4, "[[2.2 2.1 2.0 1.2] [1.1 1.0]]"},
		{"all, 1 a page", RunFilter{}, 1, "[[2.2] [2.1] [2.0] [1.2] [1.1] [1.0]]"},
		{"task b", RunFilter{Tasks: []string{"b"}}, 1, "[[2.1] [1.1]]"},
		{"status FAILED", RunFilter{Statuses: []batch.RunStatus{batch.RunFailed}}, 100, "[[]]"},
		{"created from 03:01 to 03:05", RunFilter{CreatedFrom: at(1), CreatedTo: at(5)}, 1, "[[1.2] [1.1]]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tc.f, tc.limit); got != tc.want {
				t.Fatalf("pages %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("a cursor of another environment", func(t *testing.T) {
		_, err := s.EachEnvRun(ctx, b1.EnvironmentID, RunFilter{}, batch.RunID(other.ID, 0), 10, 1<<20, func(*Run) bool { return true })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
		_, err = s.EachEnvRunBefore(ctx, b1.EnvironmentID, RunFilter{}, batch.RunID(other.ID, 0), 10, 1<<20, func(*Run) bool { return true })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("before: err %v, want ErrNotFound", err)
		}
	})
	// Pages before a cursor come in list order (newest first); more tells
	// whether runs remain before the page.
	before := []struct {
		name   string
		f      RunFilter
		cursor string
		limit  int
		want   string
	}{
		{"before 1.1, 2 a page", RunFilter{}, batch.RunID(b1.ID, 1), 2, "[2.0 1.2] true"},
		{"before 1.0", RunFilter{}, batch.RunID(b1.ID, 0), 100, "[2.2 2.1 2.0 1.2 1.1] false"},
		{"before the newest", RunFilter{}, batch.RunID(b2.ID, 2), 100, "[] false"},
		{"before 1.0, task b", RunFilter{Tasks: []string{"b"}}, batch.RunID(b1.ID, 0), 100, "[2.1 1.1] false"},
	}
	for _, tc := range before {
		t.Run(tc.name, func(t *testing.T) {
			page := []string{}
			more, err := s.EachEnvRunBefore(ctx, b1.EnvironmentID, tc.f, tc.cursor, tc.limit, 1<<20, func(r *Run) bool { page = append(page, name(r)); return true })
			if got := fmt.Sprint(page, " ", more); err != nil || got != tc.want {
				t.Fatalf("page %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

// The accepted indexes are those of the recorded chunks, and only those: a
// repeated record changes nothing, and a run whose chunk no Phase 2
// request recorded adds nothing.
func TestAcceptedIndexesAreTheRecordedChunks(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 10)
	for _, rec := range []struct {
		seq     int
		indexes batch.Ranges
	}{{0, batch.Ranges{{0, 3}, {5, 6}}}, {1, batch.Ranges{{2, 4}}}, {1, batch.Ranges{{2, 4}}}} {
		if err := s.RecordChunk(ctx, b.ID, "s", rec.seq, rec.indexes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.InsertRuns(ctx, b.ID, items(8, 9)); err != nil {
		t.Fatal(err)
	}
	set, err := s.AcceptedIndexes(ctx, b.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Missing(10).String(); got != (batch.Ranges{{4, 5}, {6, 10}}).String() {
		t.Fatalf("missing %s, want [4,5) and [6,10)", got)
	}
}

// The create records the seal deadline; OverdueBatches lists the PENDING
// batches past theirs, and neither those within it nor settled ones.
func TestOverdueBatches(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env, err := s.EnsureEnvironment(ctx, "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	create := func(timeout time.Duration) Batch {
		t.Helper()
		b, _, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: 1, SealTimeout: timeout}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	due, later, aborted := create(time.Minute), create(time.Hour), create(time.Minute)
	if due.SealDeadline == nil || !due.SealDeadline.Equal(due.CreatedAt.Add(time.Minute)) {
		t.Fatalf("created %v with deadline %v, want a minute later", due.CreatedAt, due.SealDeadline)
	}
	if got, err := s.GetBatch(ctx, env.ID, due.ID); err != nil || got.SealDeadline == nil || !got.SealDeadline.Equal(*due.SealDeadline) {
		t.Fatalf("read back: %+v, %v", got.SealDeadline, err)
	}
	if _, err := s.AbortBatch(ctx, aborted.ID, "enough", false); err != nil {
		t.Fatal(err)
	}
	overdue, err := s.OverdueBatches(ctx, due.CreatedAt.Add(2*time.Minute), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]OverdueBatch{}
	for _, o := range overdue {
		found[o.BatchID] = o
	}
	want := OverdueBatch{BatchID: due.ID, Env: env.Name, RunCount: 1, CreatedAt: due.CreatedAt, SealDeadline: *due.SealDeadline}
	if got := found[due.ID]; !got.CreatedAt.Equal(want.CreatedAt) || !got.SealDeadline.Equal(want.SealDeadline) ||
		got.BatchID != want.BatchID || got.Env != want.Env || got.RunCount != want.RunCount {
		t.Fatalf("overdue batch %+v, want %+v", got, want)
	}
	if _, ok := found[later.ID]; ok {
		t.Fatal("a batch within its deadline is listed")
	}
	if _, ok := found[aborted.ID]; ok {
		t.Fatal("an aborted batch is listed")
	}
}
