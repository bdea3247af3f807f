package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// idempotencyKeys.reset: the body the SDK sends, per environment, secret
// keys only; every refusal names what is wrong.
func TestResetIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	f.store.keys[fmt.Sprint(testEnv.ID, "/t/k 1")] = true
	f.store.keys[fmt.Sprint(otherEnv.ID, "/t/theirs")] = true
	reset := func(key, auth, body string) answer {
		return f.do(http.MethodPost, "/api/v1/idempotencyKeys/"+url.PathEscape(key)+"/reset", auth, "application/json", body)
	}
	cases := []struct {
		name, key, auth, body string
		status                int
		want                  string
	}{
		{"no taskIdentifier", "k 1", testKey, `{}`, 400, "taskIdentifier is required"},
		{"an empty taskIdentifier", "k 1", testKey, `{"taskIdentifier":""}`, 400, "taskIdentifier is required"},
		{"a taskIdentifier not a string", "k 1", testKey, `{"taskIdentifier":5}`, 400, "taskIdentifier is required"},
		{"not JSON", "k 1", testKey, `taskIdentifier=t`, 400, "Invalid JSON"},
		{"a key too long", strings.Repeat("k", 2049), testKey, `{"taskIdentifier":"t"}`, 400, "1 to 2048 characters"},
		{"a body too large", "k 1", testKey, `{"taskIdentifier":"` + strings.Repeat("t", 70<<10) + `"}`, 413, "too large"},
		{"no key", "k 1", "", `{"taskIdentifier":"t"}`, 401, ""},
		{"a public access token", "k 1", token(t, testEnv, testKeyID, "read:runs", "write:runs"), `{"taskIdentifier":"t"}`, 401, "secret API key"},
		{"another task's key", "k 1", testKey, `{"taskIdentifier":"u"}`, 404, "No runs found with idempotency key: k 1 and task: u"},
		{"another environment's key", "theirs", testKey, `{"taskIdentifier":"t"}`, 404, "No runs found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := reset(tc.key, tc.auth, tc.body)
			if tc.want == "" {
				if a.status != tc.status {
					t.Fatalf("answer %d %s, want %d", a.status, a.body, tc.status)
				}
				return
			}
			wantRefused(t, a, tc.status, tc.want)
		})
	}
	t.Run("a key is reset once", func(t *testing.T) {
		if a := reset("k 1", testKey, `{"taskIdentifier":"t"}`); a.status != 200 || a.body != `{"id":"k 1"}` {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		wantRefused(t, reset("k 1", testKey, `{"taskIdentifier":"t"}`), 404, "No runs found")
	})
	t.Run("PostgreSQL down is a retryable 503", func(t *testing.T) {
		g := newHandlerFixture()
		g.store.err = errors.New("dial tcp: connection refused")
		g.store.keys[fmt.Sprint(testEnv.ID, "/t/k")] = true
		// The key is authenticated first, which fails the same way.
		a := g.do(http.MethodPost, "/api/v1/idempotencyKeys/k/reset", testKey, "application/json", `{"taskIdentifier":"t"}`)
		if a.status < 500 {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
	})
}

// cachedFixture is a batch whose index 1 is CACHED: its item's key named
// run 0 of an earlier batch.
type cachedFixture struct {
	*handlerFixture
	first, second    string // batch ids
	named, ownRow    string // the run index 1 names, and its own row id
	ownRun0, ownRun2 string
}

func newCachedFixture(t *testing.T) cachedFixture {
	f := newHandlerFixture()
	c := cachedFixture{handlerFixture: f}
	c.first = f.store.add(testEnv, 1, batch.StatusCompleted)
	c.second = f.store.add(testEnv, 3, batch.StatusCompleted)
	c.named = f.store.addRun(c.first, 0, store.Run{Status: batch.RunCompleted, Options: []byte(`{"idempotencyKey":"k"}`),
		Output: strp(`{"v":1}`), OutputType: strp(batch.OutputTypeJSON)})
	c.ownRun0 = f.store.addRun(c.second, 0, store.Run{Status: batch.RunFailed, ErrorCode: strp("Boom")})
	c.ownRow = f.store.addRun(c.second, 1, store.Run{Status: batch.RunCached, CachedRunID: c.named, Options: []byte(`{"idempotencyKey":"k"}`)})
	c.ownRun2 = f.store.addRun(c.second, 2, store.Run{Status: batch.RunCompleted, Output: strp(`{"v":2}`), OutputType: strp(batch.OutputTypeJSON)})
	// Pages of the fake store's runs, in index order.
	f.srv.eachRun = func(_ context.Context, batchID string, filter store.RunFilter, after, limit, _ int, fn func(*store.Run) bool) (bool, error) {
		var rs []store.Run
		for i := after + 1; ; i++ {
			r, err := f.store.GetRun(context.Background(), batchID, i)
			if err != nil {
				break
			}
			if filter.Admits(&r) {
				rs = append(rs, r)
			}
		}
		for k := range rs {
			if k == limit {
				return true, nil
			}
			if !fn(&rs[k]) {
				return true, nil
			}
		}
		return false, nil
	}
	return c
}

func strp(s string) *string { return &s }

// A CACHED row is shown as the run it names wherever the trigger.dev SDK
// reads a batch's runs; pages continue after the row.
func TestCachedRunsShowTheRunTheyName(t *testing.T) {
	t.Parallel()
	c := newCachedFixture(t)
	t.Run("batch.retrieve lists the named run's id", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v1/batches/"+c.second, testKey, "", "")
		var got wire.TriggerDevBatch
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		if want := []string{c.ownRun0, c.named, c.ownRun2}; !slices.Equal(got.Runs, want) {
			t.Fatalf("runs %v, want %v", got.Runs, want)
		}
	})
	t.Run("runs.retrieve of the row answers the named run", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v3/runs/"+c.ownRow, testKey, "", "")
		var got wire.TriggerDevRetrievedRun
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || got.ID != c.named || got.BatchID != c.first ||
			got.Status != "COMPLETED" {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("runs.list of the batch shows it in the row's place", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v1/runs?filter[batch]="+c.second+"&page[size]=2", testKey, "", "")
		var got struct {
			Data       []wire.TriggerDevListedRun `json:"data"`
			Pagination wire.TriggerDevPagination  `json:"pagination"`
		}
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || len(got.Data) != 2 {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		if got.Data[0].ID != c.ownRun0 || got.Data[1].ID != c.named || got.Data[1].Status != "COMPLETED" {
			t.Fatalf("runs %s", a.body)
		}
		if got.Pagination.Next != c.ownRow {
			t.Fatalf("pagination.next %q, want the row %q", got.Pagination.Next, c.ownRow)
		}
	})
	t.Run("a status filter applies to the named run", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v1/runs?filter[batch]="+c.second+"&filter[status]=COMPLETED", testKey, "", "")
		var got struct {
			Data []wire.TriggerDevListedRun `json:"data"`
		}
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		var ids []string
		for _, r := range got.Data {
			ids = append(ids, r.ID)
		}
		if want := []string{c.named, c.ownRun2}; !slices.Equal(ids, want) {
			t.Fatalf("COMPLETED runs %v, want %v", ids, want)
		}
	})
	t.Run("the batch's results hold the named run's", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v1/batches/"+c.second+"/results", testKey, "", "")
		var got struct {
			Items []wire.TriggerDevResult `json:"items"`
		}
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || len(got.Items) != 3 {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		if got.Items[1].ID != c.named || !got.Items[1].OK || deref(got.Items[1].Output) != `{"v":1}` {
			t.Fatalf("result of the cached item: %+v", got.Items[1])
		}
	})
	t.Run("the native runs page shows the row as it is", func(t *testing.T) {
		a := c.do(http.MethodGet, "/api/v3/batches/"+c.second+"/runs", testKey, "", "")
		var got struct {
			Data []wire.Run `json:"data"`
		}
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || len(got.Data) != 3 {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		if r := got.Data[1]; r.ID != c.ownRow || r.Status != "CACHED" || r.CachedRunID != c.named {
			t.Fatalf("row 1: %+v", r)
		}
	})
}

// runs.list({idempotencyKey}) lists the run a key names, within a batch
// too when the batch's CACHED row names it.
func TestListRunsByIdempotencyKey(t *testing.T) {
	t.Parallel()
	c := newCachedFixture(t)
	list := func(query string) []string {
		t.Helper()
		a := c.do(http.MethodGet, "/api/v1/runs?"+query, testKey, "", "")
		var got struct {
			Data []wire.TriggerDevListedRun `json:"data"`
		}
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		ids := []string{}
		for _, r := range got.Data {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"the environment", "filter[idempotencyKey]=k", []string{c.named}},
		{"an unknown key", "filter[idempotencyKey]=nope", []string{}},
		{"the run's batch", "filter[idempotencyKey]=k&filter[batch]=" + c.first, []string{c.named}},
		{"a batch whose row names it", "filter[idempotencyKey]=k&filter[batch]=" + c.second, []string{c.named}},
		{"a batch without it", "filter[idempotencyKey]=k&filter[batch]=" + c.store.add(testEnv, 1, batch.StatusCompleted), []string{}},
		{"another status", "filter[idempotencyKey]=k&filter[status]=FAILED", []string{}},
		{"another task", "filter[idempotencyKey]=k&filter[taskIdentifier]=u", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.query); !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
		})
	}
}

// A CACHED row whose run a status filter drops still moves the page's
// cursor: the pages after it are reached.
func TestFilteredPagesPassOverCachedRows(t *testing.T) {
	t.Parallel()
	c := newCachedFixture(t)
	// The second batch's runs: 0 FAILED, 1 CACHED (a COMPLETED run), 2
	// COMPLETED. A third batch: 0 CACHED (the same run), 1 FAILED.
	third := c.store.add(testEnv, 2, batch.StatusCompleted)
	row := c.store.addRun(third, 0, store.Run{Status: batch.RunCached, CachedRunID: c.named})
	failed := c.store.addRun(third, 1, store.Run{Status: batch.RunFailed, ErrorCode: strp("Boom")})
	type page struct {
		Data       []wire.TriggerDevListedRun `json:"data"`
		Pagination wire.TriggerDevPagination  `json:"pagination"`
	}
	get := func(query string) page {
		t.Helper()
		a := c.do(http.MethodGet, "/api/v1/runs?filter[batch]="+third+"&filter[status]=FAILED&page[size]=1"+query, testKey, "", "")
		var p page
		if a.status != 200 || json.Unmarshal([]byte(a.body), &p) != nil {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		return p
	}
	first := get("")
	if len(first.Data) != 0 || first.Pagination.Next != row {
		t.Fatalf("first page %+v, want no run and next %s", first, row)
	}
	second := get("&page[after]=" + first.Pagination.Next)
	if len(second.Data) != 1 || second.Data[0].ID != failed {
		t.Fatalf("second page %+v, want %s", second, failed)
	}
}
