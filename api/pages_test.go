package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

func init() { gin.SetMode(gin.TestMode) }

// fakeRuns is a batch of runs with payloads and outputs of the given sizes,
// served as store.EachRun serves them. With sqlBudget it also stops at the
// byte budget by stored sizes, as the query does; without, only the
// handler's own cut bounds a page.
type fakeRuns struct {
	id    string
	sizes []int
	// statuses and tasks, when set, are each run's status and task
	// (COMPLETED and "t" otherwise).
	statuses  []batch.RunStatus
	tasks     []string
	sqlBudget bool
	mu        sync.Mutex
	calls     int
}

func (f *fakeRuns) run(i int) store.Run {
	payload := strings.Repeat(strconv.Itoa(i%10), f.sizes[i])
	output := `{"n":` + strconv.Itoa(i) + `,"text":"` + strings.Repeat("o", f.sizes[i]) + `"}`
	ot := batch.OutputTypeJSON
	done := time.Unix(1_700_000_000, 0).UTC()
	r := store.Run{ID: batch.RunID(f.id, i), Index: i, Task: "t", Status: batch.RunCompleted, PayloadType: batch.PayloadTypeJSON,
		Payload: &payload, Output: &output, OutputType: &ot, CompletedAt: &done, StartedAt: &done,
		CreatedAt: fakeRunCreated.Add(time.Duration(i) * time.Minute)}
	if f.statuses != nil {
		r.Status = f.statuses[i]
	}
	if f.tasks != nil {
		r.Task = f.tasks[i]
	}
	return r
}

// fakeRunCreated is the creation time of a fakeRuns run 0; run i was
// created i minutes later.
var fakeRunCreated = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// admits reports whether filter lets r through (nil admits any).
func admits(filter store.RunFilter, r store.Run) bool {
	return (filter.Statuses == nil || slices.Contains(filter.Statuses, r.Status)) &&
		(filter.Tasks == nil || slices.Contains(filter.Tasks, r.Task)) &&
		(filter.CreatedFrom == nil || !r.CreatedAt.Before(*filter.CreatedFrom)) &&
		(filter.CreatedTo == nil || !r.CreatedAt.After(*filter.CreatedTo))
}

func (f *fakeRuns) each(_ context.Context, batchID string, filter store.RunFilter, after, limit, maxBytes int, fn func(*store.Run) bool) (bool, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if batchID != f.id {
		return false, errors.New("unknown batch")
	}
	given, size := 0, 0
	for i := after + 1; i < len(f.sizes); i++ {
		r := f.run(i)
		if !admits(filter, r) {
			continue
		}
		stored := len(*r.Payload) + len(*r.Output)
		if given == limit || (f.sqlBudget && given > 0 && size+stored > maxBytes) {
			return true, nil
		}
		if !fn(&r) {
			return true, nil
		}
		given++
		size += stored
	}
	return false, nil
}

// envEach serves f's runs as the runs of environment envID, newest (the
// highest index) first, as store.EachEnvRun serves them: a cursor that is
// not one of f's runs is store.ErrNotFound.
func (f *fakeRuns) envEach(envID int64) func(context.Context, int64, store.RunFilter, string, int, int, func(*store.Run) bool) (bool, error) {
	return func(_ context.Context, env int64, filter store.RunFilter, after string, limit, _ int, fn func(*store.Run) bool) (bool, error) {
		if env != envID {
			return false, nil
		}
		from := len(f.sizes) - 1
		if after != "" {
			id, i, ok := batch.ParseRunID(after)
			if !ok || id != f.id || i >= len(f.sizes) {
				return false, store.ErrNotFound
			}
			from = i - 1
		}
		given := 0
		for i := from; i >= 0; i-- {
			r := f.run(i)
			if !admits(filter, r) {
				continue
			}
			if given == limit || !fn(&r) {
				return true, nil
			}
			given++
		}
		return false, nil
	}
}

// eachBefore serves the page of f's runs before index before, as
// store.EachRunBefore serves it (in index order; more when runs that
// pass the filter remain before the page).
func (f *fakeRuns) eachBefore(_ context.Context, batchID string, filter store.RunFilter, before, limit, _ int, fn func(*store.Run) bool) (bool, error) {
	if batchID != f.id {
		return false, errors.New("unknown batch")
	}
	var page []int
	more := false
	for i := min(before, len(f.sizes)) - 1; i >= 0; i-- {
		if r := f.run(i); admits(filter, r) {
			if len(page) == limit {
				more = true
				break
			}
			page = append(page, i)
		}
	}
	for k := len(page) - 1; k >= 0; k-- {
		if r := f.run(page[k]); !fn(&r) {
			break
		}
	}
	return more, nil
}

// envEachBefore serves the page of f's runs before the run with id before
// in envEach's order (the runs of higher indexes nearest it), newest first,
// as store.EachEnvRunBefore serves it.
func (f *fakeRuns) envEachBefore(envID int64) func(context.Context, int64, store.RunFilter, string, int, int, func(*store.Run) bool) (bool, error) {
	return func(_ context.Context, env int64, filter store.RunFilter, before string, limit, _ int, fn func(*store.Run) bool) (bool, error) {
		id, at, ok := batch.ParseRunID(before)
		if env != envID || !ok || id != f.id || at >= len(f.sizes) {
			return false, store.ErrNotFound
		}
		var page []int
		more := false
		for i := at + 1; i < len(f.sizes); i++ {
			if r := f.run(i); admits(filter, r) {
				if len(page) == limit {
					more = true
					break
				}
				page = append(page, i)
			}
		}
		for k := len(page) - 1; k >= 0; k-- {
			if r := f.run(page[k]); !fn(&r) {
				break
			}
		}
		return more, nil
	}
}

func testServer(budget int, runs *fakeRuns) *Server {
	return &Server{opts: Options{ReadPageBytes: budget}, eachRun: runs.each, store: newFakeStore(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// page calls write with a test context and returns the body.
func page(t *testing.T, write func(c *gin.Context)) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	write(c)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.Bytes())
	}
	return w.Body.Bytes()
}

// TestRunsPagesCutByBytes pages GET /api/v3/batches/:id/runs?limit=1000
// through runs of 100–300 KB payloads and outputs with a 1 MiB budget:
// every page stays within the budget (or holds one run), the cursor
// continues after the last run written, and every run comes exactly once,
// in order. Before pages had a byte budget, the first page held all runs.
func TestRunsPagesCutByBytes(t *testing.T) {
	const budget = 1 << 20
	for _, sqlBudget := range []bool{false, true} {
		t.Run("sqlBudget="+strconv.FormatBool(sqlBudget), func(t *testing.T) {
			runs := &fakeRuns{id: "batch_aaaaaaaaaaaaaaaaaaaaaaaa", sqlBudget: sqlBudget}
			for i := range 40 {
				runs.sizes = append(runs.sizes, 100_000+(i%5)*50_000)
			}
			// One run larger than the budget still makes its own page.
			runs.sizes[17] = 1_500_000
			s := testServer(budget, runs)
			b := store.Batch{ID: runs.id, RunCount: len(runs.sizes)}
			next, pages := -1, 0
			for {
				pages++
				if pages > len(runs.sizes)+1 {
					t.Fatal("the pages never end")
				}
				raw := page(t, func(c *gin.Context) { s.streamRunsPage(c, b, next, maxRunsLimit) })
				var p wire.RunsPage
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				if len(p.Data) == 0 {
					t.Fatalf("page %d is empty", pages)
				}
				if len(p.Data) > 1 && len(raw) > budget+200 {
					t.Fatalf("page %d: %d bytes, %d runs, over the %d byte budget", pages, len(raw), len(p.Data), budget)
				}
				for _, r := range p.Data {
					if r.Index != next+1 {
						t.Fatalf("page %d: run %d after %d: lost or repeated", pages, r.Index, next)
					}
					if want := *runs.run(r.Index).Payload; r.Payload == nil || *r.Payload != want {
						t.Fatalf("run %d: payload changed", r.Index)
					}
					next = r.Index
				}
				if p.NextCursor == nil {
					break
				}
				if *p.NextCursor != strconv.Itoa(next) {
					t.Fatalf("page %d: nextCursor %s, want the last run %d", pages, *p.NextCursor, next)
				}
			}
			if next != len(runs.sizes)-1 {
				t.Fatalf("the pages end at run %d of %d", next, len(runs.sizes))
			}
			if pages < 10 {
				t.Fatalf("%d pages: the byte budget did not cut them", pages)
			}
		})
	}
}

// TestTDRunsPagesCutByBytes: runs.list pages (page[size]=100) are cut by
// bytes too (large metadata), with pagination.next continuing.
func TestTDRunsPagesCutByBytes(t *testing.T) {
	const budget = 256 << 10
	runs := &fakeRuns{id: "batch_bbbbbbbbbbbbbbbbbbbbbbbb"}
	for range 30 {
		runs.sizes = append(runs.sizes, 10)
	}
	meta := `{"metadata":{"blob":"` + strings.Repeat("m", 60_000) + `"}}`
	base := runs.each
	s := testServer(budget, runs)
	s.eachRun = func(ctx context.Context, id string, filter store.RunFilter, after, limit, maxBytes int, fn func(*store.Run) bool) (bool, error) {
		return base(ctx, id, filter, after, limit, maxBytes, func(r *store.Run) bool {
			r.Options = json.RawMessage(meta)
			return fn(r)
		})
	}
	b := store.Batch{ID: runs.id, RunCount: 30}
	env := store.Environment{ID: 7, Name: "e"}
	after, seen, pages := -1, 0, 0
	for {
		pages++
		raw := page(t, func(c *gin.Context) {
			s.streamTDRunsPage(c, env, map[bool]tdCursor{false: tdFirst, true: tdAfter}[after >= 0], func(fn func(*store.Run) bool) (bool, error) {
				return s.eachRun(c.Request.Context(), b.ID, store.RunFilter{}, after, maxTDPage, s.pageBudget(), fn)
			})
		})
		var p wire.TriggerDevRunsPage
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Data) == 0 || (len(p.Data) > 1 && len(raw) > budget+500) {
			t.Fatalf("page %d: %d runs in %d bytes", pages, len(p.Data), len(raw))
		}
		for _, r := range p.Data {
			if r.ID != batch.RunID(runs.id, seen) {
				t.Fatalf("page %d: %s, want run %d", pages, r.ID, seen)
			}
			seen++
		}
		if p.Pagination.Next == "" {
			break
		}
		if p.Pagination.Next != p.Data[len(p.Data)-1].ID {
			t.Fatalf("next %s is not the last run of the page", p.Pagination.Next)
		}
		_, after, _ = batch.ParseRunID(p.Pagination.Next)
	}
	if seen != 30 || pages < 5 {
		t.Fatalf("%d runs in %d pages", seen, pages)
	}
}

// TestResultsStreamEveryRun: the results route has no pages; it reads the
// runs page by page within the budget and writes every result.
func TestResultsStreamEveryRun(t *testing.T) {
	runs := &fakeRuns{id: "batch_cccccccccccccccccccccccc", sqlBudget: true}
	for range 25 {
		runs.sizes = append(runs.sizes, 100_000)
	}
	s := testServer(512<<10, runs)
	raw := page(t, func(c *gin.Context) { s.streamResults(c, store.Batch{ID: runs.id, RunCount: 25}) })
	var res struct {
		ID    string                  `json:"id"`
		Items []wire.TriggerDevResult `json:"items"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if res.ID != runs.id || len(res.Items) != 25 {
		t.Fatalf("%s: %d items", res.ID, len(res.Items))
	}
	for i, it := range res.Items {
		if it.ID != batch.RunID(runs.id, i) || !it.OK || it.Output == nil || *it.Output != *runs.run(i).Output {
			t.Fatalf("item %d: %+v", i, it.ID)
		}
	}
	if runs.calls < 5 {
		t.Fatalf("%d reads: the results were not read page by page", runs.calls)
	}
}

// TestHeavyReadsLimitedPerEnvironment: beyond the limit of heavy reads in
// flight, an environment's next read is answered 429 with Retry-After and
// an {"error"}; another environment is not affected; once a read ends, the
// next is admitted.
func TestHeavyReadsLimitedPerEnvironment(t *testing.T) {
	s := &Server{reads: newLocalReadGate(2), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	inside := make(chan struct{})
	leave := make(chan struct{})
	r := gin.New()
	r.GET("/read/:env", func(c *gin.Context) {
		id, _ := strconv.ParseInt(c.Param("env"), 10, 64)
		c.Set(envKey, store.Environment{ID: id})
	}, s.heavyRead, func(c *gin.Context) {
		if c.Query("hold") != "" {
			inside <- struct{}{}
			<-leave
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(path string) *http.Response {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := get("/read/1?hold=1")
			resp.Body.Close()
		}()
		<-inside
	}
	resp := get("/read/1")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e wire.ErrorBody
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "at most 2") {
		t.Fatalf("third read of env 1: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp := get("/read/2"); resp.StatusCode != http.StatusOK {
		t.Fatalf("env 2: %d", resp.StatusCode)
	}
	close(leave)
	wg.Wait()
	if resp := get("/read/1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("env 1 after its reads ended: %d", resp.StatusCode)
	}
}

// localReadGate counts heavy reads in this process: the unit tests'
// ReadGate.
type localReadGate struct {
	max    int
	mu     sync.Mutex
	perEnv map[int64]int
}

func newLocalReadGate(max int) ReadGate {
	return &localReadGate{max: max, perEnv: map[int64]int{}}
}

func (g *localReadGate) Limit() int { return g.max }

func (g *localReadGate) Enter(_ context.Context, env int64) (func(), time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perEnv[env] >= g.max {
		return nil, readRetryAfter, nil
	}
	g.perEnv[env]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.perEnv[env]--
		})
	}, 0, nil
}
