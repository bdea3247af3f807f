package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// fakeChanges is an in-memory store.RunChanges: every change bumps a
// version, and an offset's snapshot "v:v:" has the changes before version v.
type fakeChanges struct {
	mu      sync.Mutex
	version int64
	runs    []fakeChanged
	// page is the most runs one call gives (0: all).
	page int
	// reads counts the calls (waitReads waits for them).
	reads int
	cond  *sync.Cond
	// envOf names a batch's environment.
	envOf func(batchID string) int64
}

type fakeChanged struct {
	store.RunChange
	version int64
}

func newFakeChanges(envOf func(string) int64) *fakeChanges {
	f := &fakeChanges{version: 1, envOf: envOf}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// waitReads waits until n calls were made in all, and returns n.
func (f *fakeChanges) waitReads(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.reads < n {
		f.cond.Wait()
	}
	return n
}

// readsNow is the number of calls so far.
func (f *fakeChanges) readsNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// set records run index of batchID as changed now, in status st with tags.
func (f *fakeChanges) set(batchID string, index int, st batch.RunStatus, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	opts, _ := json.Marshal(map[string]any{"tags": tags})
	now := time.Date(2026, 12, 7, 1, 2, 3, 4000000, time.UTC)
	c := store.RunChange{BatchID: batchID, Run: store.Run{ID: batch.RunID(batchID, index), Index: index, Task: "t", Status: st,
		PayloadType: batch.PayloadTypeJSON, Options: opts, CreatedAt: now}}
	if st.Final() {
		c.CompletedAt = &now
	}
	f.runs = slices.DeleteFunc(f.runs, func(r fakeChanged) bool { return r.ID == c.ID })
	f.runs = append(f.runs, fakeChanged{c, f.version})
}

func fakeSnap(v int64) string { return strconv.FormatInt(v, 10) + ":" + strconv.FormatInt(v, 10) + ":" }

func (f *fakeChanges) changes(_ context.Context, q store.ChangeQuery, at store.ChangeOffset, limit, _ int,
	fn func(*store.RunChange) bool) (store.ChangeOffset, bool, error) {
	f.mu.Lock()
	lower, upper := int64(0), f.version+1
	if at.Lower != "" {
		lower, _ = strconv.ParseInt(strings.Split(at.Lower, ":")[0], 10, 64)
	}
	if at.Upper != "" {
		upper, _ = strconv.ParseInt(strings.Split(at.Upper, ":")[0], 10, 64)
	}
	var sel []fakeChanged
	for _, r := range f.runs {
		match := r.BatchID == q.BatchID && (q.Index == nil || *q.Index == r.Index)
		if q.Tags != nil {
			match = f.envOf(r.BatchID) == q.EnvID && slices.ContainsFunc(q.Tags, func(tag string) bool { return slices.Contains(batch.StoredItemOptions(r.Options).Tags, tag) })
		}
		after := at.Upper == "" || r.version > at.AfterXid || (r.version == at.AfterXid && r.Index > at.AfterIndex)
		if match && r.version >= lower && r.version < upper && after {
			sel = append(sel, r)
		}
	}
	slices.SortFunc(sel, func(a, b fakeChanged) int {
		if a.version != b.version {
			return int(a.version - b.version)
		}
		return a.Index - b.Index
	})
	n := min(limit, len(sel))
	if f.page > 0 {
		n = min(n, f.page)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.reads++
		f.cond.Broadcast()
		f.mu.Unlock()
	}()
	for _, r := range sel[:n] {
		c := r.RunChange
		if !fn(&c) {
			return store.ChangeOffset{}, false, nil
		}
	}
	if n == len(sel) {
		return store.ChangeOffset{Lower: fakeSnap(upper)}, true, nil
	}
	last := sel[n-1]
	return store.ChangeOffset{Lower: at.Lower, Upper: fakeSnap(upper), AfterXid: last.version, AfterIndex: last.Index}, false, nil
}

// realtimeFixture is a handler fixture whose runs change in a fakeChanges.
func realtimeFixture() (*handlerFixture, *fakeChanges) {
	f := newHandlerFixture()
	ch := newFakeChanges(func(id string) int64 {
		b, err := f.store.GetBatchAnyEnv(context.Background(), id)
		if err != nil {
			return 0
		}
		return b.EnvironmentID
	})
	f.srv.runChanges = ch.changes
	f.srv.live = newLiveLimiter(realtimeLiveLimit(f.srv.opts.RealtimeLive))
	f.srv.opts.RealtimeWait, f.srv.opts.RealtimePoll = time.Minute, time.Millisecond
	return f, ch
}

// shapeAnswer is a decoded shape answer.
type shapeAnswer struct {
	answer
	messages []wire.ShapeMessage
	upToDate bool
}

func getShape(t *testing.T, f *handlerFixture, path, key string) shapeAnswer {
	t.Helper()
	a := shapeAnswer{answer: f.do(http.MethodGet, path, key, "", "")}
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	if err := json.Unmarshal([]byte(a.body), &a.messages); err != nil {
		t.Fatalf("GET %s: body %s: %v", path, a.body, err)
	}
	for _, h := range []string{"electric-offset", "electric-handle", "electric-schema", "electric-cursor"} {
		if a.header.Get(h) == "" {
			t.Fatalf("GET %s: no %s header (%v)", path, h, a.header)
		}
	}
	if n := len(a.messages); n > 0 && a.messages[n-1].Headers.Control == wire.ShapeUpToDate {
		a.upToDate, a.messages = true, a.messages[:n-1]
		if _, ok := a.header["Electric-Up-To-Date"]; !ok {
			t.Fatalf("GET %s: up to date without the electric-up-to-date header", path)
		}
	}
	return a
}

// ids lists the run ids and statuses of a's changes.
func (a shapeAnswer) ids() string {
	var out []string
	for _, m := range a.messages {
		out = append(out, m.Value.FriendlyID+"="+m.Value.Status)
	}
	return strings.Join(out, " ")
}

func TestRealtimeRefusals(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	id := f.store.add(testEnv, 3, batch.StatusProcessing)
	other := f.store.add(testEnv, 3, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 3, batch.StatusProcessing)
	run := f.store.addRun(id, 0, store.Run{Status: batch.RunQueued})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunQueued})
	ch.set(id, 0, batch.RunQueued, "a")
	ch.set(foreign, 0, batch.RunQueued, "a")
	cases := []struct {
		name, path, key string
		status          int
		want            string
	}{
		{"no key", "/realtime/v1/batches/" + id, "", 401, "Invalid or missing API key"},
		{"a wrong key", "/realtime/v1/batches/" + id, "sb_nope", 401, "Invalid API key"},
		{"a malformed offset", "/realtime/v1/batches/" + id + "?offset=12", testKey, 400, `offset "12" is not -1 or the electric-offset`},
		{"a forged offset", "/realtime/v1/batches/" + id + "?offset=" + url.QueryEscape("9:3:"), testKey, 400, "is not -1"},
		{"live neither true nor false", "/realtime/v1/batches/" + id + "?offset=-1&live=yes", testKey, 400, "live must be true or false"},
		{"skipping a required column", "/realtime/v1/runs/" + run + "?skipColumns=payload,status", testKey, 400, "skipColumns cannot skip status"},
		{"an unknown batch", "/realtime/v1/batches/" + batch.NewBatchID(), testKey, 404, "not found"},
		{"a malformed batch id", "/realtime/v1/batches/nope", testKey, 404, "not found"},
		{"another environment's batch", "/realtime/v1/batches/" + foreign, testKey, 404, "not found"},
		{"an unknown run", "/realtime/v1/runs/" + batch.RunID(id, 2), testKey, 404, "not found"},
		{"another environment's run", "/realtime/v1/runs/" + foreignRun, testKey, 404, "not found"},
		{"another environment's run, with its token", "/realtime/v1/runs/" + foreignRun,
			token(t, testEnv, testKeyID, "read:runs:"+foreignRun), 404, "not found"},
		{"another batch's token", "/realtime/v1/batches/" + id, token(t, testEnv, testKeyID, "read:batch:"+other), 403, "does not grant"},
		{"another run's token", "/realtime/v1/runs/" + run, token(t, testEnv, testKeyID, "read:runs:"+batch.RunID(id, 1)), 403, "does not grant"},
		{"tags missing", "/realtime/v1/runs", testKey, 400, "tags is required"},
		{"too many tags", "/realtime/v1/runs?tags=a,b,c,d,e,f,g,h,i,j,k", testKey, 400, "1 to 10 tags"},
		{"tasks", "/realtime/v1/runs?tags=a&tasks=t", testKey, 400, "tasks is not supported"},
		{"a bad createdAt", "/realtime/v1/runs?tags=a&createdAt=soon", testKey, 400, `createdAt: "soon" is not a period`},
		{"a tag the token may not read", "/realtime/v1/runs?tags=a,b", token(t, testEnv, testKeyID, "read:tags:a"), 403, "does not grant"},
		{"a batch token on tags", "/realtime/v1/runs?tags=a", token(t, testEnv, testKeyID, "read:batch:"+id), 403, "does not grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, f.do(http.MethodGet, tc.path, tc.key, "", ""), tc.status, tc.want)
		})
	}
	for _, tc := range []struct{ name, path, key string }{
		{"the batch's token", "/realtime/v1/batches/" + id, token(t, testEnv, testKeyID, "read:batch:"+id)},
		{"the batch's token, a run", "/realtime/v1/runs/" + run, token(t, testEnv, testKeyID, "read:batch:"+id)},
		{"the run's token", "/realtime/v1/runs/" + run, token(t, testEnv, testKeyID, "read:runs:"+run)},
		{"a tag's token", "/realtime/v1/runs?tags=a", token(t, testEnv, testKeyID, "read:tags:a")},
		{"read:runs", "/realtime/v1/runs?tags=a", token(t, testEnv, testKeyID, "read:runs")},
	} {
		t.Run(tc.name+" reads", func(t *testing.T) {
			if a := getShape(t, f, tc.path, tc.key); !strings.Contains(a.ids(), batch.RunID(id, 0)) ||
				strings.Contains(a.ids(), foreignRun) {
				t.Fatalf("runs %q, want %s and no other environment's", a.ids(), batch.RunID(id, 0))
			}
		})
	}
}

// A subscription's first answers give every run (insert), page by page,
// then only the runs that changed (update), each once.
func TestRealtimeOffsets(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	id := f.store.add(testEnv, 5, batch.StatusProcessing)
	for i := range 5 {
		ch.set(id, i, batch.RunQueued)
	}
	ch.page = 2
	path := "/realtime/v1/batches/" + id + "?offset="
	offset := "-1"
	var seen []string
	for range 10 {
		a := getShape(t, f, path+url.QueryEscape(offset), testKey)
		for _, m := range a.messages {
			if m.Headers.Operation != wire.ShapeInsert || m.Key != `"public"."TaskRun"/"`+m.Value.ID+`"` {
				t.Fatalf("first round message %+v, want an insert keyed by the run", m)
			}
			seen = append(seen, m.Value.FriendlyID)
		}
		offset = a.header.Get("electric-offset")
		if a.upToDate {
			break
		}
	}
	if len(seen) != 5 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 5 {
		t.Fatalf("first round gave %v, want the 5 runs once each", seen)
	}
	if a := getShape(t, f, path+url.QueryEscape(offset), testKey); len(a.messages) != 0 || !a.upToDate {
		t.Fatalf("nothing changed, answer %s", a.body)
	}
	ch.set(id, 3, batch.RunCompleted)
	a := getShape(t, f, path+url.QueryEscape(offset), testKey)
	if a.ids() != batch.RunID(id, 3)+"=COMPLETED_SUCCESSFULLY" || !a.upToDate || a.messages[0].Headers.Operation != wire.ShapeUpdate {
		t.Fatalf("after one change: %s", a.body)
	}
	if a := getShape(t, f, path+url.QueryEscape(a.header.Get("electric-offset")), testKey); len(a.messages) != 0 {
		t.Fatalf("the change again: %s", a.body)
	}
}

// A batch subscription leaves out the batch's CACHED rows (items whose
// idempotency key named another batch's run): trigger.dev's shape has no
// such status.
func TestRealtimeLeavesOutCachedRows(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	id := f.store.add(testEnv, 3, batch.StatusProcessing)
	ch.set(id, 0, batch.RunQueued)
	ch.set(id, 1, batch.RunCached)
	ch.set(id, 2, batch.RunCompleted)
	a := getShape(t, f, "/realtime/v1/batches/"+id+"?offset=-1", testKey)
	if got, want := a.ids(), batch.RunID(id, 0)+"=PENDING "+batch.RunID(id, 2)+"=COMPLETED_SUCCESSFULLY"; got != want || !a.upToDate {
		t.Fatalf("first round gave %q (up to date %v), want %q", got, a.upToDate, want)
	}
}

// A live request waits for a change and answers with it.
func TestRealtimeLiveAnswersAChange(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	id := f.store.add(testEnv, 2, batch.StatusProcessing)
	f.store.addRun(id, 0, store.Run{Status: batch.RunExecuting})
	ch.set(id, 0, batch.RunExecuting)
	first := getShape(t, f, "/realtime/v1/runs/"+batch.RunID(id, 0)+"?offset=-1", testKey)
	reads := ch.readsNow()
	got := make(chan shapeAnswer, 1)
	go func() {
		got <- getShape(t, f, "/realtime/v1/runs/"+batch.RunID(id, 0)+"?live=true&offset="+
			url.QueryEscape(first.header.Get("electric-offset")), testKey)
	}()
	reads = ch.waitReads(reads + 2)   // the live request looked, and looked again: it waits
	ch.set(id, 1, batch.RunCompleted) // another run: not this subscription's
	ch.waitReads(reads + 2)
	ch.set(id, 0, batch.RunFailed)
	a := <-got
	if a.ids() != batch.RunID(id, 0)+"=COMPLETED_WITH_ERRORS" || !a.upToDate {
		t.Fatalf("live answer %s", a.body)
	}
	if a.messages[0].Value.CompletedAt == nil {
		t.Fatalf("a finished run without completedAt: %s", a.body)
	}
}

// With nothing changing, a live request answers up-to-date alone when its
// wait ends.
func TestRealtimeLiveTimesOut(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	f.srv.opts.RealtimeWait = 50 * time.Millisecond
	id := f.store.add(testEnv, 1, batch.StatusProcessing)
	ch.set(id, 0, batch.RunExecuting)
	first := getShape(t, f, "/realtime/v1/batches/"+id+"?offset=-1", testKey)
	a := getShape(t, f, "/realtime/v1/batches/"+id+"?live=true&offset="+url.QueryEscape(first.header.Get("electric-offset")), testKey)
	if len(a.messages) != 0 || !a.upToDate {
		t.Fatalf("live answer without a change: %s", a.body)
	}
}

// Live requests beyond RealtimeLive per environment get 429; a client that
// leaves frees its slot.
func TestRealtimeLiveLimit(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	f.srv.live = newLiveLimiter(1)
	id := f.store.add(testEnv, 1, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusProcessing)
	ch.set(id, 0, batch.RunExecuting)
	first := getShape(t, f, "/realtime/v1/batches/"+id+"?offset=-1", testKey)
	live := "/realtime/v1/batches/" + id + "?live=true&offset=" + url.QueryEscape(first.header.Get("electric-offset"))

	reads := ch.readsNow()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		req := httptest.NewRequest(http.MethodGet, live, http.NoBody).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+testKey)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		done <- w.Code
	}()
	ch.waitReads(reads + 1) // the first live request waits
	wantRefused(t, f.do(http.MethodGet, live, testKey, "", ""), http.StatusTooManyRequests, "Too many live realtime subscriptions")
	// Another environment has its own slots.
	f.srv.opts.RealtimeWait = time.Millisecond
	if a := f.do(http.MethodGet, "/realtime/v1/batches/"+foreign+"?live=true&offset="+url.QueryEscape(first.header.Get("electric-offset")),
		otherKey, "", ""); a.status != http.StatusOK {
		t.Fatalf("another environment's live request: %d %s", a.status, a.body)
	}
	cancel()
	<-done
	if n := f.srv.live.inFlight(testEnv.ID); n != 0 {
		t.Fatalf("%d live requests after the client left", n)
	}
	if a := f.do(http.MethodGet, live, testKey, "", ""); a.status != http.StatusOK {
		t.Fatalf("after the slot was freed: %d %s", a.status, a.body)
	}
}

func TestRealtimeCORSPreflight(t *testing.T) {
	t.Parallel()
	f, _ := realtimeFixture()
	a := f.do(http.MethodOptions, "/realtime/v1/batches/"+batch.NewBatchID(), "", "", "")
	if a.status != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "authorization") {
		t.Fatalf("preflight: %d %v", a.status, a.header)
	}
	b := f.do(http.MethodGet, "/realtime/v1/batches/"+batch.NewBatchID(), testKey, "", "")
	if b.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(b.header.Get("Access-Control-Expose-Headers"), "electric-offset") {
		t.Fatalf("a refusal without CORS headers: %v", b.header)
	}
}

// The row of a run as the SDK's SubscribeRunRawShape reads it.
func TestRealtimeRow(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	done := started.Add(1500 * time.Millisecond)
	code, msg, notJSON, out, outType := "E", "boom", "plain text", `{"ok":1}`, batch.PayloadTypeJSON
	r := &store.RunChange{BatchID: "b", Run: store.Run{ID: "run_x_1", Task: "t", Status: batch.RunFailed, CreatedAt: started,
		StartedAt: &started, CompletedAt: &done, ErrorCode: &code, ErrorMessage: &msg, Payload: &notJSON,
		PayloadType: batch.PayloadTypeJSON, Output: &out, OutputType: &outType,
		Options: []byte(`{"tags":["a\"b","c\\d","e,f"],"metadata":{"p":1},"idempotencyKey":"k"}`)}}
	row := shapeRow(r, nil)
	if row.Status != "COMPLETED_WITH_ERRORS" || *row.CompletedAt != "2026-12-07T01:00:01.500" || *row.UsageDurationMs != "1500" {
		t.Fatalf("row %+v", row)
	}
	if *row.RunTags != `{"a\"b","c\\d","e,f"}` {
		t.Fatalf("runTags %s", *row.RunTags)
	}
	if **row.Payload != `"plain text"` || **row.Metadata != `{"p":1}` || *row.IdempotencyKey != "k" {
		t.Fatalf("payload %s metadata %s", **row.Payload, **row.Metadata)
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(**row.Error), &e); err != nil || e["type"] != "BUILT_IN_ERROR" || e["name"] != "E" || e["message"] != "boom" {
		t.Fatalf("error %s", **row.Error)
	}
	skipped := shapeRow(r, map[string]bool{"payload": true, "output": true})
	raw, _ := json.Marshal(skipped)
	if strings.Contains(string(raw), `"payload"`) || strings.Contains(string(raw), `"output"`) || !strings.Contains(string(raw), `"payloadType"`) {
		t.Fatalf("skipColumns payload,output: %s", raw)
	}
	store := "packets/x"
	storeType := batch.PayloadTypeStore
	if p, pt := shapePacket(&store, &storeType); p != nil || pt != nil {
		t.Fatalf("an application/store payload in a shape: %v %v", p, pt)
	}
}

// runs.list's filter[tag] reaches the store's filter, in a batch and over
// the environment; a token may list the tags it reads.
func TestTDListRunsFilterTag(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 1, batch.StatusProcessing)
	var got []string
	capture := func(filter store.RunFilter) { got = filter.Tags }
	f.srv.eachRun = func(_ context.Context, _ string, filter store.RunFilter, _, _, _ int, _ func(*store.Run) bool) (bool, error) {
		capture(filter)
		return false, nil
	}
	f.srv.eachEnvRun = func(_ context.Context, _ int64, filter store.RunFilter, _ string, _, _ int, _ func(*store.Run) bool) (bool, error) {
		capture(filter)
		return false, nil
	}
	for _, tc := range []struct{ path, key string }{
		{"/api/v1/runs?filter[batch]=" + id + "&filter[tag]=a,b", testKey},
		{"/api/v1/runs?filter[tag]=a,b", testKey},
		{"/api/v1/runs?filter[tag]=a&filter[tag]=b", token(t, testEnv, testKeyID, "read:tags:a", "read:tags:b")},
	} {
		got = nil
		if a := f.do(http.MethodGet, tc.path, tc.key, "", ""); a.status != http.StatusOK || !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("GET %s: %d %s, store filter tags %v", tc.path, a.status, a.body, got)
		}
	}
	wantRefused(t, f.do(http.MethodGet, "/api/v1/runs?filter[tag]=a,b", token(t, testEnv, testKeyID, "read:tags:a"), "", ""),
		http.StatusForbidden, "does not grant")
}

// The first pages of a subscription count as heavy reads; a live request
// does not (RealtimeLive bounds it).
func TestRealtimeHeavyReads(t *testing.T) {
	t.Parallel()
	f, ch := realtimeFixture()
	f.srv.reads = newLocalReadGate(1)
	f.srv.opts.RealtimeWait = time.Millisecond
	id := f.store.add(testEnv, 1, batch.StatusProcessing)
	ch.set(id, 0, batch.RunExecuting)
	release, _, _ := f.srv.reads.Enter(context.Background(), testEnv.ID) // the environment's one read
	wantRefused(t, f.do(http.MethodGet, "/realtime/v1/batches/"+id+"?offset=-1", testKey, "", ""), http.StatusTooManyRequests, "Too many reads")
	if a := f.do(http.MethodGet, "/realtime/v1/batches/"+id+"?offset=-1&live=true", testKey, "", ""); a.status != http.StatusOK {
		t.Fatalf("a live request under a full read gate: %d %s", a.status, a.body)
	}
	release()
	if a := f.do(http.MethodGet, "/realtime/v1/batches/"+id+"?offset=-1", testKey, "", ""); a.status != http.StatusOK {
		t.Fatalf("after the read ended: %d %s", a.status, a.body)
	}
}
