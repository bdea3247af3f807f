package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// The handlers' behaviour with fakes of their collaborators: each route's
// refusals (status and message) and the mapping of each error kind to its
// status. The e2e package drives the same routes against the real stack.

const (
	testKey      = "sb_test_key"
	otherKey     = "sb_other_key"
	testKeyID    = 7
	otherKeyID   = 8
	testSecret   = "handler-test-secret-handler-test-secret"
	testMaxItems = 1000
)

var (
	testEnv  = store.Environment{ID: 1, Name: "test"}
	otherEnv = store.Environment{ID: 2, Name: "other"}
)

// fakeStore is an in-memory batchStore of two environments, one key each.
type fakeStore struct {
	mu      sync.Mutex
	batches map[string]store.Batch
	// err, when set, is what every call answers (a dependency down).
	err error
	// createErr is what CreateBatchTx answers.
	createErr error
	// replayErr is what ReplayBatch answers.
	replayErr error
	streams   int
	// usedTokens are the one-time tokens CreateBatchTx used;
	// tokenBatches the tasks of the batches tokens created, by token hash
	// and batch id.
	usedTokens   map[string]bool
	tokenBatches map[string][]string
	// runs answers GetRun, by run id.
	runs map[string]store.Run
	// keys are the idempotency keys ResetIdempotencyKey frees, as
	// "<env id>/<task>/<key>".
	keys map[string]bool
	// settled and settledLive answer WatchSettled; watched, when set, is
	// closed by its next call.
	settled     chan struct{}
	settledLive bool
	watched     chan struct{}
	// rowReads, when set, receives after each GetBatchAnyEnv (dropped
	// when full).
	rowReads chan struct{}
}

func newFakeStore() *fakeStore {
	return &fakeStore{batches: map[string]store.Batch{}, usedTokens: map[string]bool{}, tokenBatches: map[string][]string{},
		runs: map[string]store.Run{}, keys: map[string]bool{}}
}

// addRun stores run r as index index of batch batchID and returns its id.
func (f *fakeStore) addRun(batchID string, index int, r store.Run) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ID, r.Index = batch.RunID(batchID, index), index
	if r.Task == "" {
		r.Task = "t"
	}
	f.runs[r.ID] = r
	return r.ID
}

// add stores a batch of env in status st and returns its id.
func (f *fakeStore) add(env store.Environment, runCount int, st batch.Status) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := batch.NewBatchID()
	f.batches[id] = store.Batch{ID: id, EnvironmentID: env.ID, EnvName: env.Name, RunCount: runCount, Status: st,
		Sealed: st == batch.StatusProcessing || st == batch.StatusCompleted, CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
	return id
}

func (f *fakeStore) AuthenticateKey(_ context.Context, key string) (store.Environment, int64, error) {
	if f.err != nil {
		return store.Environment{}, 0, f.err
	}
	switch key {
	case testKey:
		return testEnv, testKeyID, nil
	case otherKey:
		return otherEnv, otherKeyID, nil
	}
	return store.Environment{}, 0, store.ErrNotFound
}

func (f *fakeStore) ActiveKeyEnvironment(_ context.Context, id int64) (store.Environment, error) {
	switch id {
	case testKeyID:
		return testEnv, nil
	case otherKeyID:
		return otherEnv, nil
	}
	return store.Environment{}, store.ErrNotFound
}

// The secrets of the two environments' keys, which sign SDK tokens.
const (
	testKeySecret  = "sdk-secret-of-the-test-key"
	otherKeySecret = "sdk-secret-of-the-other-key"
)

func (f *fakeStore) EnvironmentKeySecrets(_ context.Context, envID int64) (store.Environment, []store.KeySecret, error) {
	switch envID {
	case testEnv.ID:
		return testEnv, []store.KeySecret{{ID: testKeyID, Secret: []byte(testKeySecret)}}, nil
	case otherEnv.ID:
		return otherEnv, []store.KeySecret{{ID: otherKeyID, Secret: []byte(otherKeySecret)}}, nil
	}
	return store.Environment{}, nil, store.ErrNotFound
}

func (f *fakeStore) CreateBatchTx(_ context.Context, nb store.NewBatch, started func(store.Batch) error) (store.Batch, bool, error) {
	if f.createErr != nil {
		return store.Batch{}, false, f.createErr
	}
	b := store.Batch{ID: nb.ID, EnvironmentID: nb.Env.ID, EnvName: nb.Env.Name, RunCount: nb.RunCount, Status: batch.StatusPending}
	if nb.SealTimeout > 0 {
		deadline := time.Now().Add(nb.SealTimeout)
		b.SealDeadline = &deadline
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if nb.Token != nil && nb.Token.OneTime && f.usedTokens[string(nb.Token.Hash)] {
		return store.Batch{}, false, store.ErrTokenUsed
	}
	if started != nil {
		if err := started(b); err != nil {
			return store.Batch{}, false, err
		}
	}
	if nb.Token != nil {
		f.usedTokens[string(nb.Token.Hash)] = nb.Token.OneTime
		f.tokenBatches[string(nb.Token.Hash)+"/"+nb.ID] = nb.TaskIdentifiers
	}
	f.batches[b.ID] = b
	return b, false, nil
}

func (f *fakeStore) TokenBatchTasks(_ context.Context, envID int64, batchID string, hash []byte) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tasks, ok := f.tokenBatches[string(hash)+"/"+batchID]
	if !ok || f.batches[batchID].EnvironmentID != envID {
		return nil, store.ErrNotFound
	}
	return tasks, nil
}

func (f *fakeStore) GetBatch(_ context.Context, envID int64, id string) (store.Batch, error) {
	if f.err != nil {
		return store.Batch{}, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.batches[id]
	if !ok || b.EnvironmentID != envID {
		return store.Batch{}, store.ErrNotFound
	}
	return b, nil
}

func (f *fakeStore) WatchSettled(string) (<-chan struct{}, func() bool, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watched != nil {
		close(f.watched)
		f.watched = nil
	}
	live := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.settledLive
	}
	return f.settled, live, func() {}
}

func (f *fakeStore) GetBatchAnyEnv(_ context.Context, id string) (store.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rowReads != nil {
		select {
		case f.rowReads <- struct{}{}:
		default:
		}
	}
	b, ok := f.batches[id]
	if !ok {
		return store.Batch{}, store.ErrNotFound
	}
	return b, nil
}

func (f *fakeStore) BeginStream(context.Context, string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams++
	return f.streams, nil
}

func (f *fakeStore) MarkAccepted(context.Context, string) error { return nil }

func (f *fakeStore) AcceptedIndexes(_ context.Context, _ string, runCount int) (*batch.IndexSet, error) {
	return batch.NewIndexSet(runCount), nil
}

func (f *fakeStore) RunIndexes(_ context.Context, _ string, runCount int) (*batch.IndexSet, error) {
	return batch.NewIndexSet(runCount), nil
}

func (f *fakeStore) AbortBatch(_ context.Context, id, reason string, _ bool) (store.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[id]
	b.Status, b.AbortReason = batch.StatusAborted, &reason
	f.batches[id] = b
	return b, nil
}

func (f *fakeStore) ReplayBatch(context.Context, string) (int, error) { return 0, f.replayErr }

func (f *fakeStore) GetRun(_ context.Context, batchID string, index int) (store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[batch.RunID(batchID, index)]
	if !ok {
		return store.Run{}, store.ErrNotFound
	}
	return r, nil
}

// ReplayRun requeues a failed run of a COMPLETED batch, as the store does.
func (f *fakeStore) ReplayRun(_ context.Context, batchID string, index int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.batches[batchID]
	if b.Status != batch.StatusCompleted {
		return store.ErrNotCompleted
	}
	id := batch.RunID(batchID, index)
	r := f.runs[id]
	if r.Status != batch.RunFailed && r.Status != batch.RunExpired && r.Status != batch.RunTimedOut {
		return store.ErrNotReplayable
	}
	r.Status, r.CompletedAt, r.ErrorCode, r.ErrorMessage = batch.RunQueued, nil, nil, nil
	f.runs[id] = r
	b.Status = batch.StatusProcessing
	f.batches[batchID] = b
	return nil
}

// RescheduleRun moves a DELAYED run's time, as the store does.
func (f *fakeStore) RescheduleRun(_ context.Context, batchID string, index int, until time.Time) (store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := batch.RunID(batchID, index)
	r := f.runs[id]
	if r.Status != batch.RunDelayed {
		return store.Run{}, store.ErrNotDelayed
	}
	r.DelayUntil = &until
	f.runs[id] = r
	return r, nil
}

// AddRunTags adds the tags a run lacks, up to ten, as the store does.
func (f *fakeStore) AddRunTags(_ context.Context, batchID string, index int, tags []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := batch.RunID(batchID, index)
	r, ok := f.runs[id]
	if !ok {
		return 0, store.ErrNotFound
	}
	have := batch.StoredItemOptions(r.Options).Tags
	n := len(have)
	for _, t := range tags {
		if !slices.Contains(have, t) {
			have = append(have, t)
		}
	}
	if len(have) > batch.MaxRunTags {
		return 0, store.ErrTooManyTags
	}
	r.Options, _ = json.Marshal(map[string][]string{"tags": have})
	f.runs[id] = r
	return len(have) - n, nil
}

// UpdateRunMetadata changes a run's options.metadata, as the store does.
func (f *fakeStore) UpdateRunMetadata(_ context.Context, batchID string, index int,
	change func(json.RawMessage, batch.RunStatus) (json.RawMessage, error)) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := batch.RunID(batchID, index)
	r, ok := f.runs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	out, err := change(batch.StoredItemOptions(r.Options).Metadata, r.Status)
	if err != nil {
		return nil, err
	}
	r.Options, _ = json.Marshal(map[string]json.RawMessage{"metadata": out})
	f.runs[id] = r
	return out, nil
}

func (f *fakeStore) CancelRun(context.Context, string, int, string) (store.Run, bool, error) {
	return store.Run{}, false, store.ErrNotFound
}

func (f *fakeStore) RunCountsWaiting(context.Context, string) (map[batch.RunStatus]int, store.Waiting, error) {
	return map[batch.RunStatus]int{}, store.Waiting{}, nil
}

func (f *fakeStore) HasCreationErrors(context.Context, string) (bool, error) { return false, nil }

func (f *fakeStore) EachCreationError(context.Context, string, func(store.CreationError) bool) error {
	return nil
}

func (f *fakeStore) ResetIdempotencyKey(_ context.Context, envID int64, key, task string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	k := fmt.Sprint(envID, "/", task, "/", key)
	if !f.keys[k] {
		return store.ErrNotFound
	}
	delete(f.keys, k)
	return nil
}

// IdempotencyKeyRuns answers the runs whose options carry key.
func (f *fakeStore) IdempotencyKeyRuns(_ context.Context, envID int64, key string) ([]store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Run
	for id, r := range f.runs {
		bid, _, _ := batch.ParseRunID(id)
		if r.CachedRunID == "" && f.batches[bid].EnvironmentID == envID && batch.StoredItemOptions(r.Options).IdempotencyKey == key {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Run) int { return strings.Compare(a.Task, b.Task) })
	return out, nil
}

func (f *fakeStore) RunsByID(_ context.Context, envID int64, ids []string) (map[string]store.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]store.Run{}
	for _, id := range ids {
		bid, _, _ := batch.ParseRunID(id)
		if r, ok := f.runs[id]; ok && f.batches[bid].EnvironmentID == envID {
			out[id] = r
		}
	}
	return out, nil
}

func (f *fakeStore) HasCachedRuns(_ context.Context, batchID string) (bool, error) {
	has := false
	err := f.EachCachedRun(context.Background(), batchID, func(int, string) bool { has = true; return false })
	return has, err
}

func (f *fakeStore) EachCachedRun(_ context.Context, batchID string, fn func(int, string) bool) error {
	f.mu.Lock()
	var cached []store.Run
	for id, r := range f.runs {
		if bid, _, _ := batch.ParseRunID(id); bid == batchID && r.CachedRunID != "" {
			cached = append(cached, r)
		}
	}
	f.mu.Unlock()
	slices.SortFunc(cached, func(a, b store.Run) int { return a.Index - b.Index })
	for _, r := range cached {
		if !fn(r.Index, r.CachedRunID) {
			break
		}
	}
	return nil
}

// fakeIngestWorkflows answers BatchIngest's calls: Wait reports sealed.
type fakeIngestWorkflows struct {
	// wait, when set, answers Wait (default: sealed at once).
	wait func(ctx context.Context) (ingestwf.Result, error)
}

func (w *fakeIngestWorkflows) Wait(ctx context.Context, _ string) (ingestwf.Result, error) {
	if w.wait != nil {
		return w.wait(ctx)
	}
	return ingestwf.Result{State: ingestwf.StateSealed}, nil
}

func (w *fakeIngestWorkflows) Abort(context.Context, string, string) error { return nil }

// fakeRunWorkflows answers the run workflows' calls and counts notifications.
type fakeRunWorkflows struct {
	notified int
	// hint is the last notification's.
	hint runswf.Hint
	// aborted lists the batches Abort was called for.
	aborted []string
}

func (w *fakeRunWorkflows) Tell(_ context.Context, _, _ string, h runswf.Hint) error {
	w.notified++
	w.hint = h
	return nil
}
func (w *fakeRunWorkflows) Abort(_ context.Context, batchID, _, _ string) error {
	w.aborted = append(w.aborted, batchID)
	return nil
}
func (w *fakeRunWorkflows) CancelRun(context.Context, string, int) error { return nil }
func (w *fakeRunWorkflows) Wait(context.Context, string, bool) (runswf.Result, error) {
	return runswf.Result{}, nil
}

// fakeIngester reads the whole body and answers res and err; tasks is
// the last request's Tasks.
type fakeIngester struct {
	res   ingest.Result
	err   error
	tasks []string
}

func (g *fakeIngester) Ingest(_ context.Context, req ingest.Request) (ingest.Result, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	g.tasks = req.Tasks
	return g.res, g.err
}

type fakePresigner struct{}

func (fakePresigner) PresignPut(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://s3.test/" + key + "?X-Amz-Signature=x", nil
}

func (fakePresigner) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	return "https://s3.test/" + key, nil
}

// handlerFixture is a Server on fakes and its handler.
type handlerFixture struct {
	store    *fakeStore
	wf       *fakeIngestWorkflows
	runs     *fakeRunWorkflows
	ingester *fakeIngester
	srv      *Server
	h        http.Handler
}

func newHandlerFixture() *handlerFixture {
	f := &handlerFixture{store: newFakeStore(), wf: &fakeIngestWorkflows{}, runs: &fakeRunWorkflows{}, ingester: &fakeIngester{}}
	f.srv = &Server{
		opts:  Options{MaxItems: testMaxItems, SealWait: time.Second, AbortWait: time.Second, BodyIdleTimeout: time.Minute},
		store: f.store, wf: f.wf, runs: f.runs, ingester: f.ingester, packets: fakePresigner{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), jwtSecret: []byte(testSecret),
	}
	f.h = f.srv.Handler()
	return f
}

// answer is a recorded answer with its {"error": ...} message.
type answer struct {
	status int
	header http.Header
	body   string
	msg    string
}

// do sends one request; key and ct are set when not empty.
func (f *handlerFixture) do(method, path, key, ct, body string) answer {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body == "" {
		req = httptest.NewRequest(method, path, http.NoBody)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	a := answer{status: w.Code, header: w.Header(), body: w.Body.String()}
	var e wire.ErrorBody
	if json.Unmarshal(w.Body.Bytes(), &e) == nil {
		a.msg = e.Error
	}
	return a
}

// wantRefused checks a refusal: its status, and a {"error": ...} body whose
// message contains want.
func wantRefused(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.status != status || a.msg == "" || !strings.Contains(a.msg, want) {
		t.Fatalf("answer %d %s, want %d with an error containing %q", a.status, a.body, status, want)
	}
}

// token signs a public access token of env's key keyID with scopes.
func token(t *testing.T, env store.Environment, keyID int64, scopes ...string) string {
	t.Helper()
	now := time.Now()
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: strconv.FormatInt(env.ID, 10), Issuer: issuerStreambatch,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
		Scopes: scopes, Pub: true, KeyID: keyID,
	}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

const ndjsonCT = "application/x-ndjson"

// Each error kind of a Phase 2 request answers its status and a message a
// person can act on; a dependency down is a retryable 503 naming it, a bug
// a 500.
func TestErrorKindsMapToStatuses(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"syntax error", &ingest.SyntaxError{Line: 2, Msg: "Invalid JSON at line 2"}, http.StatusBadRequest, "Invalid JSON at line 2"},
		{"validation error", &ingest.ValidationError{Msg: "index 9 is out of range"}, http.StatusUnprocessableEntity, "index 9 is out of range"},
		{"idle body", &ingest.BodyError{Err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded)}, http.StatusRequestTimeout, "sent nothing for 1m0s"},
		{"client left", &ingest.BodyError{Err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF)}, http.StatusBadRequest, "ended before the stream did"},
		{"PostgreSQL cut mid-stream", fmt.Errorf("store: record chunk: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable, "PostgreSQL is unavailable"},
		{"malformed framing", &ingest.BodyError{Err: errors.New("bad chunk length")}, http.StatusBadRequest, "could not be read: bad chunk length"},
		{"PostgreSQL down", fmt.Errorf("store: insert: %w", refused), http.StatusServiceUnavailable, "PostgreSQL is unavailable"},
		{"a bug", errors.New("a bug"), http.StatusInternalServerError, "Something went wrong"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandlerFixture()
			id := f.store.add(testEnv, 3, batch.StatusPending)
			f.ingester.err = tc.err
			a := f.do(http.MethodPost, itemsPathOf(id), testKey, ndjsonCT, `{"index":0,"task":"t"}`+"\n")
			wantRefused(t, a, tc.status, tc.msg)
			if strings.Contains(a.msg, "bug") {
				t.Fatalf("the message shows the internal error: %q", a.msg)
			}
			if retry := a.header.Get("Retry-After"); (tc.status == http.StatusServiceUnavailable) != (retry != "") {
				t.Fatalf("Retry-After %q on a %d", retry, tc.status)
			}
		})
	}
	t.Run("a failed read of a batch is retryable", func(t *testing.T) {
		t.Parallel()
		f := newHandlerFixture()
		id := f.store.add(testEnv, 3, batch.StatusPending)
		f.srv.store = failingGets{f.store}
		a := f.do(http.MethodGet, "/api/v3/batches/"+id, testKey, "", "")
		wantRefused(t, a, http.StatusInternalServerError, "Something went wrong")
		if a.header.Get("x-should-retry") != "" {
			t.Fatalf("x-should-retry %q on a retryable 500", a.header.Get("x-should-retry"))
		}
	})
	t.Run("a failed create is not retried by the SDK", func(t *testing.T) {
		t.Parallel()
		f := newHandlerFixture()
		f.store.createErr = errors.New("a bug")
		a := f.do(http.MethodPost, "/api/v3/batches", testKey, "application/json", `{"runCount":3}`)
		wantRefused(t, a, http.StatusInternalServerError, "Something went wrong")
		if a.header.Get("x-should-retry") != "false" {
			t.Fatalf("x-should-retry %q, want false", a.header.Get("x-should-retry"))
		}
	})
	t.Run("a dependency down at authentication is a 503", func(t *testing.T) {
		t.Parallel()
		f := newHandlerFixture()
		f.store.err = fmt.Errorf("store: authenticate: %w", refused)
		a := f.do(http.MethodGet, "/api/v3/batches/"+batch.NewBatchID(), testKey, "", "")
		wantRefused(t, a, http.StatusServiceUnavailable, "PostgreSQL is unavailable")
	})
}

// failingGets is a store whose reads of a batch fail.
type failingGets struct{ *fakeStore }

func (failingGets) GetBatch(context.Context, int64, string) (store.Batch, error) {
	return store.Batch{}, errors.New("a bug")
}

func itemsPathOf(id string) string { return "/api/v3/batches/" + id + "/items" }

// Authentication refusals, the same on every route that takes a key.
func TestAuthenticationRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 3, batch.StatusPending)
	routes := []struct{ method, path, ct, body string }{
		{http.MethodPost, "/api/v3/batches", "application/json", `{"runCount":1}`},
		{http.MethodPost, itemsPathOf(id), ndjsonCT, `{"index":0,"task":"t"}` + "\n"},
		{http.MethodGet, "/api/v3/batches/" + id, "", ""},
		{http.MethodGet, "/api/v3/batches/" + id + "/runs", "", ""},
		{http.MethodGet, "/api/v3/batches/" + id + "/missing", "", ""},
		{http.MethodPost, "/api/v3/batches/" + id + "/abort", "", ""},
		{http.MethodPost, "/api/v3/batches/" + id + "/replay", "", ""},
		{http.MethodPut, "/api/v2/packets/x.json", "", ""},
	}
	for _, r := range routes {
		t.Run(r.method+" "+strings.ReplaceAll(r.path, id, ":id"), func(t *testing.T) {
			t.Run("no key", func(t *testing.T) {
				wantRefused(t, f.do(r.method, r.path, "", r.ct, r.body), http.StatusUnauthorized, "Invalid or missing API key")
			})
			t.Run("unknown key", func(t *testing.T) {
				wantRefused(t, f.do(r.method, r.path, "sb_unknown", r.ct, r.body), http.StatusUnauthorized, "Invalid API key")
			})
			t.Run("key over 512 bytes", func(t *testing.T) {
				wantRefused(t, f.do(r.method, r.path, "sb_"+strings.Repeat("k", 600), r.ct, r.body), http.StatusUnauthorized, "Invalid API key")
			})
			t.Run("forged token", func(t *testing.T) {
				forged := token(t, testEnv, testKeyID, "read:all", "write:batch:"+id)
				forged = forged[:len(forged)-4] + "AAAA"
				a := f.do(r.method, r.path, forged, r.ct, r.body)
				if a.status != http.StatusUnauthorized {
					t.Fatalf("answer %d %s, want 401", a.status, a.body)
				}
			})
		})
	}
	t.Run("a token on a route that needs a secret key", func(t *testing.T) {
		tok := token(t, testEnv, testKeyID, "read:all", "write:batch:"+id)
		for _, path := range []string{"/api/v3/batches/" + id + "/abort", "/api/v3/batches/" + id + "/replay"} {
			wantRefused(t, f.do(http.MethodPost, path, tok, "application/json", `{"runCount":1}`), http.StatusUnauthorized, "needs a secret API key")
		}
	})
	t.Run("a token of a revoked key", func(t *testing.T) {
		a := f.do(http.MethodGet, "/api/v3/batches/"+id, token(t, testEnv, 99, "read:batch:"+id), "", "")
		wantRefused(t, a, http.StatusUnauthorized, "Invalid public access token")
	})
	t.Run("a token whose key is of another environment", func(t *testing.T) {
		a := f.do(http.MethodGet, "/api/v3/batches/"+id, token(t, testEnv, otherKeyID, "read:batch:"+id), "", "")
		wantRefused(t, a, http.StatusUnauthorized, "Invalid public access token")
	})
}

// Phase 1 refusals: each answers its status and names the problem.
func TestCreateBatchRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"bad JSON", `{"runCount":`, 400, "Invalid JSON"},
		{"not an object", `[1]`, 400, "expected a JSON object"},
		{"empty body", ``, 400, "Request body is empty"},
		{"no runCount", `{}`, 400, "runCount is required"},
		{"runCount not an integer", `{"runCount":1.5}`, 400, "runCount must be a positive integer"},
		{"runCount zero", `{"runCount":0}`, 400, "runCount must be a positive integer"},
		{"over the item limit", fmt.Sprintf(`{"runCount":%d}`, testMaxItems+1), 400, "exceeds maximum allowed of 1000"},
		{"empty taskIdentifiers", `{"runCount":1,"taskIdentifiers":[]}`, 400, "taskIdentifiers must be a non-empty array"},
		{"parentRunId not a string", `{"runCount":1,"parentRunId":5}`, 400, "parentRunId must be a run id string"},
		{"resumeParentOnCompletion not a boolean", `{"runCount":1,"resumeParentOnCompletion":"yes"}`, 400, "must be a boolean"},
		{"empty idempotencyKey", `{"runCount":1,"idempotencyKey":""}`, 400, "idempotencyKey must be a non-empty string"},
		{"bad idempotencyKeyOptions", `{"runCount":1,"idempotencyKeyOptions":{"key":"k","scope":"x"}}`, 400, "idempotencyKeyOptions must be"},
		{"parent is a streambatch workflow", `{"runCount":1,"parentRunId":"batch_aaaaaaaaaaaaaaaaaaaaaaaa"}`, 422, "names one of streambatch's own workflows"},
		{"body over 128 KiB", `{"runCount":1,"x":"` + strings.Repeat("x", 129<<10) + `"}`, 413, "Request body too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandlerFixture()
			wantRefused(t, f.do(http.MethodPost, "/api/v3/batches", testKey, "application/json", tc.body), tc.status, tc.want)
			if n := len(f.store.batches); n != 0 {
				t.Fatalf("a refused create stored %d batches", n)
			}
		})
	}
	t.Run("a valid create answers 202 with its token and stores the seal deadline", func(t *testing.T) {
		t.Parallel()
		f := newHandlerFixture()
		f.srv.opts.SealTimeout = time.Hour
		a := f.do(http.MethodPost, "/api/v3/batches", testKey, "application/json", `{"runCount":3}`)
		var out wire.CreateBatchResponse
		if a.status != http.StatusAccepted || json.Unmarshal([]byte(a.body), &out) != nil || out.RunCount != 3 || !batch.ValidBatchID(out.ID) {
			t.Fatalf("create: %d %s", a.status, a.body)
		}
		if a.header.Get("x-trigger-jwt") == "" {
			t.Fatal("create: no token")
		}
		if b := f.store.batches[out.ID]; b.SealDeadline == nil {
			t.Fatalf("create: the batch %+v has no seal deadline", b)
		}
	})
}

// Phase 2 refusals: content type before authentication, then the batch.
func TestStreamItemsRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	pending := f.store.add(testEnv, 3, batch.StatusPending)
	aborted := f.store.add(testEnv, 3, batch.StatusAborted)
	foreign := f.store.add(otherEnv, 3, batch.StatusPending)
	line := `{"index":0,"task":"t"}` + "\n"
	cases := []struct {
		name, id, key, ct, body string
		status                  int
		want                    string
	}{
		{"wrong content type, before authentication", pending, "", "application/json", line, 415, "Content-Type must be application/x-ndjson"},
		{"no content type", pending, testKey, "", line, 415, "Content-Type must be application/x-ndjson"},
		{"unknown batch", batch.NewBatchID(), testKey, ndjsonCT, line, 422, "not found"},
		{"malformed batch id", "batch_..", testKey, ndjsonCT, line, 422, "Batch batch_.. not found"},
		{"another environment's batch", foreign, testKey, ndjsonCT, line, 422, "Batch " + foreign + " not found"},
		{"aborted batch", aborted, testKey, ndjsonCT, line, 422, "is not in PENDING status (current: ABORTED)"},
		{"empty body", pending, testKey, ndjsonCT, "", 400, "Request body is required"},
		{"token that only reads the batch", pending, token(t, testEnv, testKeyID, "read:batch:"+pending), ndjsonCT, line, 403, "does not grant access"},
		{"token that writes another batch", pending, token(t, testEnv, testKeyID, "write:batch:"+aborted), ndjsonCT, line, 403, "does not grant access"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, f.do(http.MethodPost, itemsPathOf(tc.id), tc.key, tc.ct, tc.body), tc.status, tc.want)
		})
	}
	t.Run("Content-Encoding", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, itemsPathOf(pending), strings.NewReader(line))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", ndjsonCT)
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != http.StatusUnsupportedMediaType || !strings.Contains(w.Body.String(), "Content-Encoding gzip is not supported") {
			t.Fatalf("answer %d %s, want 415", w.Code, w.Body)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		wantRefused(t, f.do(http.MethodGet, itemsPathOf(pending), testKey, "", ""), 405, "Use POST to stream batch items")
	})
	t.Run("a sealed batch answers sealed at once", func(t *testing.T) {
		sealed := f.store.add(testEnv, 3, batch.StatusProcessing)
		a := f.do(http.MethodPost, itemsPathOf(sealed), testKey, ndjsonCT, line)
		var out wire.StreamItemsResponse
		if a.status != 200 || json.Unmarshal([]byte(a.body), &out) != nil || !out.Sealed || out.ID != sealed {
			t.Fatalf("answer %d %s, want 200 sealed", a.status, a.body)
		}
	})
	t.Run("a token that writes the batch streams", func(t *testing.T) {
		g := newHandlerFixture()
		id := g.store.add(testEnv, 1, batch.StatusPending)
		g.ingester.res = ingest.Result{Items: 1, Accepted: 1}
		a := g.do(http.MethodPost, itemsPathOf(id), token(t, testEnv, testKeyID, "write:batch:"+id), ndjsonCT, line)
		if a.status != 200 {
			t.Fatalf("answer %d %s, want 200", a.status, a.body)
		}
	})
}

// Read routes: their parameters, the batch of another environment, a token
// of another batch.
func TestReadRouteRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 3, batch.StatusPending)
	foreign := f.store.add(otherEnv, 3, batch.StatusPending)
	other := f.store.add(testEnv, 3, batch.StatusPending)
	f.srv.eachEnvRun = (&fakeRuns{id: id, sizes: []int{10, 10, 10}}).envEach(testEnv.ID)
	f.srv.eachEnvRunBefore = (&fakeRuns{id: id, sizes: []int{10, 10, 10}}).envEachBefore(testEnv.ID)
	cases := []struct {
		name, path, key string
		status          int
		want            string
	}{
		{"GET batch, bad wait", "/api/v3/batches/" + id + "?wait=forever", testKey, 400, "wait must be a duration"},
		{"GET batch, wait over 5m", "/api/v3/batches/" + id + "?wait=6m", testKey, 400, "wait must be a duration"},
		{"GET batch, unknown", "/api/v3/batches/" + batch.NewBatchID(), testKey, 404, "not found"},
		{"GET batch, another environment's", "/api/v3/batches/" + foreign, testKey, 404, "not found"},
		{"GET runs, limit 0", "/api/v3/batches/" + id + "/runs?limit=0", testKey, 400, "limit must be an integer from 1 to 1000"},
		{"GET runs, limit over 1000", "/api/v3/batches/" + id + "/runs?limit=1001", testKey, 400, "limit must be an integer from 1 to 1000"},
		{"GET runs, bad cursor", "/api/v3/batches/" + id + "/runs?cursor=x", testKey, 400, "cursor is invalid"},
		{"GET runs, another environment's", "/api/v3/batches/" + foreign + "/runs", testKey, 404, "not found"},
		{"GET missing, bad limit", "/api/v3/batches/" + id + "/missing?limit=10001", testKey, 400, "limit must be an integer from 1 to 10000"},
		{"GET missing, unknown", "/api/v3/batches/" + batch.NewBatchID() + "/missing", testKey, 404, "not found"},
		{"token of another batch", "/api/v3/batches/" + id, token(t, testEnv, testKeyID, "read:batch:"+other), 403, "does not grant access"},
		{"runs.list without a batch, a cursor of another environment", "/api/v1/runs?page[after]=" + batch.RunID(foreign, 0), testKey, 400,
			"page[after] must be a run id of the environment"},
		{"runs.list without a batch, a malformed cursor", "/api/v1/runs?page[after]=x", testKey, 400, "page[after] must be a run id of the environment"},
		{"runs.list, bad page size", "/api/v1/runs?filter[batch]=" + id + "&page[size]=101", testKey, 400, "page[size] must be an integer from 1 to 100"},
		{"runs.list, page[before] not a run of the batch", "/api/v1/runs?filter[batch]=" + id + "&page[before]=" + batch.RunID(other, 1), testKey, 400,
			"page[before] must be a run id of the batch"},
		{"runs.list without a batch, page[before] of another environment", "/api/v1/runs?page[before]=" + batch.RunID(foreign, 0), testKey, 400,
			"page[before] must be a run id of the environment"},
		{"runs.list, another environment's batch", "/api/v1/runs?filter[batch]=" + foreign, testKey, 404, "not found"},
		{"runs.list, unknown status", "/api/v1/runs?filter[batch]=" + id + "&filter[status]=FAILED,DONE", testKey, 400, `filter[status]: "DONE" is not a run status`},
		{"runs.list, malformed createdAt from", "/api/v1/runs?filter[batch]=" + id + "&filter[createdAt][from]=yesterday", testKey, 400,
			`filter[createdAt][from]: "yesterday" is neither milliseconds since the epoch nor an ISO 8601 time`},
		{"runs.list, malformed createdAt to", "/api/v1/runs?filter[batch]=" + id + "&filter[createdAt][to]=-5", testKey, 400,
			`filter[createdAt][to]: "-5" is neither`},
		{"runs.list, malformed createdAt period", "/api/v1/runs?filter[batch]=" + id + "&filter[createdAt][period]=7x", testKey, 400,
			`filter[createdAt][period]: "7x" is not a period`},
		{"runs.list, createdAt unknown bound", "/api/v1/runs?filter[batch]=" + id + "&filter[createdAt][since]=1", testKey, 400,
			"filter[createdAt][since] is not supported"},
		{"runs.list, idempotencyKey and a cursor", "/api/v1/runs?filter[idempotencyKey]=k&page[after]=" + batch.RunID(id, 0), testKey, 400,
			"page[after] and page[before] do not apply"},
		{"runs.list, idempotencyKey, another environment's batch", "/api/v1/runs?filter[batch]=" + foreign + "&filter[idempotencyKey]=k", testKey, 404, "not found"},
		{"runs.list, isTest", "/api/v1/runs?filter[batch]=" + id + "&filter[isTest]=false", testKey, 400, "filter[isTest] is not supported"},
		{"runs.list, queue", "/api/v1/runs?filter[batch]=" + id + "&filter[queue]=task/t", testKey, 400, "filter[queue] is not supported"},
		{"runs.list, an unknown filter", "/api/v1/runs?filter[batch]=" + id + "&filter[whatever]=1", testKey, 400, "filter[whatever] is not supported"},
		{"runs.list, an unknown page key", "/api/v1/runs?filter[batch]=" + id + "&page[number]=2", testKey, 400, "page[number] is not supported"},
		{"runs.retrieve, malformed id", "/api/v3/runs/run_x", testKey, 404, "Run run_x not found"},
		{"runs.retrieve, another environment's", "/api/v3/runs/" + batch.RunID(foreign, 0), testKey, 404, "not found"},
		{"unknown route", "/api/v3/nothing", testKey, 404, "Not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, f.do(http.MethodGet, tc.path, tc.key, "", ""), tc.status, tc.want)
		})
	}
	t.Run("a token of the batch reads it", func(t *testing.T) {
		if a := f.do(http.MethodGet, "/api/v3/batches/"+id, token(t, testEnv, testKeyID, "read:batch:"+id), "", ""); a.status != 200 {
			t.Fatalf("answer %d %s, want 200", a.status, a.body)
		}
	})
}

// TestTDListRunsFilters: runs.list lists only the runs of the batch whose
// trigger.dev status and task the filters name, and pages across a filter
// continue after the last run listed.
func TestTDListRunsFilters(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	runs := &fakeRuns{id: f.store.add(testEnv, 9, batch.StatusProcessing)}
	sts := []batch.RunStatus{batch.RunCompleted, batch.RunFailed, batch.RunTimedOut}
	for i := range 9 {
		runs.sizes = append(runs.sizes, 10)
		runs.statuses = append(runs.statuses, sts[i%3])
		runs.tasks = append(runs.tasks, []string{"a", "b"}[i%2])
	}
	f.srv.eachRun = runs.each
	// list pages through query and returns the pages as index + task +
	// status letters.
	list := func(t *testing.T, query string) string {
		t.Helper()
		var pages []string
		path := "/api/v1/runs?filter[batch]=" + runs.id + "&" + query
		for next := ""; ; {
			p := path
			if next != "" {
				p += "&page[after]=" + next
			}
			a := f.do(http.MethodGet, p, testKey, "", "")
			var page wire.TriggerDevRunsPage
			if a.status != 200 || json.Unmarshal([]byte(a.body), &page) != nil || len(pages) > 9 {
				t.Fatalf("%s: answer %d %s", p, a.status, a.body)
			}
			var got []string
			for _, r := range page.Data {
				_, i, _ := batch.ParseRunID(r.ID)
				got = append(got, fmt.Sprintf("%d%s%s", i, r.TaskIdentifier, r.Status[:1]))
			}
			pages = append(pages, strings.Join(got, " "))
			if page.Pagination.Next == "" {
				return strings.Join(pages, " | ")
			}
			if last := page.Data[len(page.Data)-1].ID; page.Pagination.Next != last {
				t.Fatalf("pagination.next %s, want the last run %s", page.Pagination.Next, last)
			}
			next = page.Pagination.Next
		}
	}
	cases := []struct{ name, query, want string }{
		{"FAILED", "filter[status]=FAILED", "1bF 4aF 7bF"},
		{"FAILED, 2 a page", "filter[status]=FAILED&page[size]=2", "1bF 4aF | 7bF"},
		{"FAILED and TIMED_OUT", "filter[status]=FAILED,TIMED_OUT", "1bF 2aT 4aF 5bT 7bF 8aT"},
		{"task a", "filter[taskIdentifier]=a&page[size]=3", "0aC 2aT 4aF | 6aC 8aT"},
		{"task b, COMPLETED", "filter[taskIdentifier]=b&filter[status]=COMPLETED", "3bC"},
		{"a status streambatch never shows", "filter[status]=CRASHED", ""},
		{"an unknown task", "filter[taskIdentifier]=z", ""},
		// Run i was created at 03:0i on 2026-01-02 (1767322800000 ms is 03:00).
		{"created from (ms)", "filter[createdAt][from]=1767323220000", "7bF 8aT"},
		{"created to (ms)", "filter[createdAt][to]=1767322920000", "0aC 1bF 2aT"},
		{"created from and to (ISO 8601), FAILED", "filter[createdAt][from]=2026-01-02T03:01:00Z&filter[createdAt][to]=2026-01-02T04:07:00%2B01:00&filter[status]=FAILED", "1bF 4aF 7bF"},
		{"created in the last 7 days", "filter[createdAt][period]=7d", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tc.query); got != tc.want {
				t.Fatalf("pages %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTDListEnvRuns: runs.list without filter[batch] lists the
// environment's runs newest first, with the filters, and pages continue
// after the last run listed; another environment sees none of them.
func TestTDListEnvRuns(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	runs := &fakeRuns{id: f.store.add(testEnv, 5, batch.StatusProcessing)}
	for i := range 5 {
		runs.sizes = append(runs.sizes, 10)
		runs.statuses = append(runs.statuses, []batch.RunStatus{batch.RunCompleted, batch.RunFailed}[i%2])
	}
	f.srv.eachEnvRun = runs.envEach(testEnv.ID)
	// list pages through query with key and returns the pages' run indexes
	// and status letters.
	list := func(t *testing.T, key, query string) string {
		t.Helper()
		var pages []string
		for next := ""; ; {
			p := "/api/v1/runs?" + query
			if next != "" {
				p += "&page[after]=" + next
			}
			a := f.do(http.MethodGet, p, key, "", "")
			var page wire.TriggerDevRunsPage
			if a.status != 200 || json.Unmarshal([]byte(a.body), &page) != nil || len(pages) > 5 {
				t.Fatalf("%s: answer %d %s", p, a.status, a.body)
			}
			var got []string
			for _, r := range page.Data {
				_, i, _ := batch.ParseRunID(r.ID)
				got = append(got, fmt.Sprintf("%d%s", i, r.Status[:1]))
			}
			pages = append(pages, strings.Join(got, " "))
			if page.Pagination.Next == "" {
				return strings.Join(pages, " | ")
			}
			next = page.Pagination.Next
		}
	}
	cases := []struct{ name, key, query, want string }{
		{"all", testKey, "", "4C 3F 2C 1F 0C"},
		{"2 a page", testKey, "page[size]=2", "4C 3F | 2C 1F | 0C"},
		{"FAILED", testKey, "filter[status]=FAILED", "3F 1F"},
		{"created to 03:02", testKey, "filter[createdAt][to]=2026-01-02T03:02:00Z", "2C 1F 0C"},
		{"another environment", otherKey, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tc.key, tc.query); got != tc.want {
				t.Fatalf("pages %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTDListRunsBefore: page[before] gives the page just before a run, in
// list order (a batch's: index order; an environment's: newest first),
// with the filters, whatever page[after] comes with it; pagination.next is
// its last run and pagination.previous its first while runs remain before
// it.
func TestTDListRunsBefore(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	runs := &fakeRuns{id: f.store.add(testEnv, 9, batch.StatusProcessing)}
	for i := range 9 {
		runs.sizes = append(runs.sizes, 10)
		runs.statuses = append(runs.statuses, []batch.RunStatus{batch.RunCompleted, batch.RunFailed}[i%2])
	}
	f.srv.eachRunBefore = runs.eachBefore
	f.srv.eachEnvRunBefore = runs.envEachBefore(testEnv.ID)
	run := func(i int) string { return batch.RunID(runs.id, i) }
	cases := []struct {
		name, query, want, next, previous string
	}{
		{"batch, before 6, 2 a page", "filter[batch]=" + runs.id + "&page[before]=" + run(6) + "&page[size]=2", "4 5", run(5), run(4)},
		{"batch, before 2", "filter[batch]=" + runs.id + "&page[before]=" + run(2), "0 1", run(1), ""},
		{"batch, before 8, FAILED", "filter[batch]=" + runs.id + "&page[before]=" + run(8) + "&filter[status]=FAILED&page[size]=2", "5 7", run(7), run(5)},
		{"batch, before 6 (and after 1, as getPreviousPage sends it)", "filter[batch]=" + runs.id + "&page[after]=" + run(1) + "&page[before]=" + run(6) + "&page[size]=2", "4 5", run(5), run(4)},
		{"environment, before 2 (and after 6)", "page[after]=" + run(6) + "&page[before]=" + run(2) + "&page[size]=3", "5 4 3", run(3), run(5)},
		{"environment, before 2, 3 a page", "page[before]=" + run(2) + "&page[size]=3", "5 4 3", run(3), run(5)},
		{"environment, before 5", "page[before]=" + run(5), "8 7 6", run(6), ""},
		{"environment, before 0, COMPLETED", "page[before]=" + run(0) + "&filter[status]=COMPLETED", "8 6 4 2", run(2), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(http.MethodGet, "/api/v1/runs?"+tc.query, testKey, "", "")
			var page wire.TriggerDevRunsPage
			if a.status != 200 || json.Unmarshal([]byte(a.body), &page) != nil {
				t.Fatalf("answer %d %s", a.status, a.body)
			}
			var got []string
			for _, r := range page.Data {
				_, i, _ := batch.ParseRunID(r.ID)
				got = append(got, strconv.Itoa(i))
			}
			if g := strings.Join(got, " "); g != tc.want || page.Pagination.Next != tc.next || page.Pagination.Previous != tc.previous {
				t.Fatalf("runs %q next %q previous %q, want %q next %q previous %q", g, page.Pagination.Next, page.Pagination.Previous, tc.want, tc.next, tc.previous)
			}
		})
	}
}

// Abort refusals: the body, the batch, a finished batch.
func TestAbortRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 3, batch.StatusPending)
	completed := f.store.add(testEnv, 3, batch.StatusCompleted)
	foreign := f.store.add(otherEnv, 3, batch.StatusPending)
	cases := []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"bad JSON", id, `{"reason":`, 400, "Invalid JSON"},
		{"reason not a string", id, `{"reason":5}`, 400, "Invalid JSON"},
		{"reason over 1000 bytes", id, `{"reason":"` + strings.Repeat("r", 1001) + `"}`, 400, "reason must be at most 1000 bytes"},
		{"body over 4 KiB", id, `{"reason":"` + strings.Repeat("r", 5<<10) + `"}`, 413, "Request body too large"},
		{"unknown batch", batch.NewBatchID(), "", 404, "not found"},
		{"another environment's batch", foreign, "", 404, "not found"},
		{"completed batch", completed, "", 422, "is completed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, f.do(http.MethodPost, "/api/v3/batches/"+tc.id+"/abort", testKey, "application/json", tc.body), tc.status, tc.want)
		})
	}
}

// Replay refusals: only a COMPLETED batch with runs to replay; a batch
// still processing is nudged all the same.
func TestReplayRefusals(t *testing.T) {
	t.Parallel()
	t.Run("unknown batch", func(t *testing.T) {
		f := newHandlerFixture()
		wantRefused(t, f.do(http.MethodPost, "/api/v3/batches/"+batch.NewBatchID()+"/replay", testKey, "", ""), 404, "not found")
	})
	t.Run("a batch not completed", func(t *testing.T) {
		f := newHandlerFixture()
		id := f.store.add(testEnv, 3, batch.StatusProcessing)
		f.store.replayErr = store.ErrNotCompleted
		wantRefused(t, f.do(http.MethodPost, "/api/v3/batches/"+id+"/replay", testKey, "", ""), 422, "only a COMPLETED batch can be replayed")
		if f.runs.notified != 1 {
			t.Fatalf("the processing batch's workflow was notified %d times, want 1", f.runs.notified)
		}
	})
	t.Run("nothing to replay", func(t *testing.T) {
		f := newHandlerFixture()
		id := f.store.add(testEnv, 3, batch.StatusCompleted)
		f.store.replayErr = store.ErrNothingToReplay
		wantRefused(t, f.do(http.MethodPost, "/api/v3/batches/"+id+"/replay", testKey, "", ""), 422, "no failed, expired or timed-out runs")
	})
}

// Upload refusals: the filename, a token's scope, a finished batch.
func TestPresignRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	pending := f.store.add(testEnv, 3, batch.StatusPending)
	sealed := f.store.add(testEnv, 3, batch.StatusProcessing)
	cases := []struct {
		name, path, key string
		status          int
		want            string
	}{
		{"dot-dot segment", "/api/v2/packets/a/../b.json", testKey, 400, "Invalid packet filename"},
		{"empty segment", "/api/v2/packets/a//b.json", testKey, 400, "Invalid packet filename"},
		{"read-only token", "/api/v2/packets/x.json", token(t, testEnv, testKeyID, "read:batch:"+pending), 403, "does not grant uploading"},
		{"token of a sealed batch", "/api/v2/packets/x.json", token(t, testEnv, testKeyID, "write:batch:"+sealed), 422, "it takes no more uploads"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, f.do(http.MethodPut, tc.path, tc.key, "", ""), tc.status, tc.want)
		})
	}
	t.Run("a token's upload is bound to its batch", func(t *testing.T) {
		a := f.do(http.MethodPut, "/api/v2/packets/x.json", token(t, testEnv, testKeyID, "write:batch:"+pending), "", "")
		var p wire.Packet
		if a.status != 200 || json.Unmarshal([]byte(a.body), &p) != nil || p.StoragePath != "uploads/"+pending+"/x.json" {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
	})
}

// runs.retrieve and runs.list give an EXPIRED run's finish as expiredAt,
// and no other run an expiredAt.
func TestTDRunExpiredAt(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 2, batch.StatusCompleted)
	done := time.Unix(1_700_000_100, 0).UTC()
	expired := f.store.addRun(id, 0, store.Run{Status: batch.RunExpired, CompletedAt: &done})
	failed := f.store.addRun(id, 1, store.Run{Status: batch.RunFailed, CompletedAt: &done})
	for _, tc := range []struct {
		name, id string
		want     *time.Time
	}{{"EXPIRED", expired, &done}, {"FAILED", failed, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(http.MethodGet, "/api/v3/runs/"+tc.id, testKey, "", "")
			var got struct {
				ExpiredAt *time.Time `json:"expiredAt"`
			}
			if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil {
				t.Fatalf("answer %d %s", a.status, a.body)
			}
			if (got.ExpiredAt == nil) != (tc.want == nil) || (got.ExpiredAt != nil && !got.ExpiredAt.Equal(*tc.want)) {
				t.Fatalf("expiredAt %v, want %v", got.ExpiredAt, tc.want)
			}
		})
	}
}

// The run result route answers a finished run's TaskRunExecutionResult and
// 404 (the SDK's undefined) for a run not finished, an unknown run and
// another environment's run.
func TestTDRunResult(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 3, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusCompleted)
	out, code, msg := `{"a":1}`, "BOOM", "it broke"
	completed := f.store.addRun(id, 0, store.Run{Status: batch.RunCompleted, Output: &out})
	failed := f.store.addRun(id, 1, store.Run{Status: batch.RunFailed, ErrorCode: &code, ErrorMessage: &msg})
	executing := f.store.addRun(id, 2, store.Run{Status: batch.RunExecuting})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunCompleted, Output: &out})
	get := func(t *testing.T, runID string) (answer, wire.TriggerDevResult) {
		t.Helper()
		a := f.do(http.MethodGet, "/api/v1/runs/"+runID+"/result", testKey, "", "")
		var res wire.TriggerDevResult
		if a.status == 200 && json.Unmarshal([]byte(a.body), &res) != nil {
			t.Fatalf("answer %s", a.body)
		}
		return a, res
	}
	t.Run("COMPLETED", func(t *testing.T) {
		a, res := get(t, completed)
		if a.status != 200 || !res.OK || res.ID != completed || res.Output == nil || *res.Output != out || res.OutputType != batch.OutputTypeJSON {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("FAILED", func(t *testing.T) {
		a, res := get(t, failed)
		if a.status != 200 || res.OK || res.Error == nil || res.Error.Name != code || res.Error.Message != msg {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
	})
	for _, tc := range []struct{ name, id, want string }{
		{"EXECUTING", executing, "no result until it finishes"},
		{"unknown run", batch.RunID(id, 5), "not found"},
		{"another environment's run", foreignRun, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := get(t, tc.id)
			wantRefused(t, a, 404, tc.want)
		})
	}
	// A token reads the result of the runs it may retrieve.
	for _, tc := range []struct {
		scope  string
		status int
	}{{"read:tasks:t", 200}, {"read:tasks:z", 403}} {
		t.Run(tc.scope, func(t *testing.T) {
			tok := sdkToken(t, testEnv, testKeySecret, false, time.Hour, tc.scope)
			if a := f.do(http.MethodGet, "/api/v1/runs/"+completed+"/result", tok, "", ""); a.status != tc.status {
				t.Fatalf("answer %d %s, want %d", a.status, a.body, tc.status)
			}
		})
	}
}

// runs.replay requeues a run that failed while executing under its own id
// and hands it to BatchRuns; overrides, a run of a batch not completed, a
// run that did not fail, an unknown and another environment's run are
// refused.
func TestTDReplayRun(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 2, batch.StatusCompleted)
	processing := f.store.add(testEnv, 1, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusCompleted)
	code := "BOOM"
	failed := f.store.addRun(id, 0, store.Run{Status: batch.RunFailed, ErrorCode: &code})
	completed := f.store.addRun(id, 1, store.Run{Status: batch.RunCompleted})
	unfinished := f.store.addRun(processing, 0, store.Run{Status: batch.RunFailed, ErrorCode: &code})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunFailed, ErrorCode: &code})
	replay := func(runID, body string) answer {
		return f.do(http.MethodPost, "/api/v1/runs/"+runID+"/replay", testKey, "application/json", body)
	}
	cases := []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"overrides", failed, `{"payload":{"n":1},"tags":["x"]}`, 400, "overrides are not supported (payload, tags)"},
		{"not JSON", failed, `{`, 400, "Invalid JSON"},
		{"a completed run", completed, "", 422, "is COMPLETED: only a run that failed while executing"},
		{"a batch not completed", unfinished, "", 422, "batch is PROCESSING"},
		{"unknown run", batch.RunID(id, 9), "", 404, "not found"},
		{"another environment's run", foreignRun, "", 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, replay(tc.id, tc.body), tc.status, tc.want)
		})
	}
	t.Run("a failed run", func(t *testing.T) {
		a := replay(failed, "{}")
		var got struct{ ID string }
		if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || got.ID != failed {
			t.Fatalf("answer %d %s, want 200 {id: %s}", a.status, a.body, failed)
		}
		if r, _ := f.store.GetRun(context.Background(), id, 0); r.Status != batch.RunQueued {
			t.Fatalf("run after the replay: %+v", r)
		}
		if f.runs.hint.From == nil || *f.runs.hint.From != 0 {
			t.Fatalf("BatchRuns hint %+v, want from 0", f.runs.hint)
		}
	})
}

// runs.reschedule moves a DELAYED run's time (a duration from now or a
// date) and answers the run; a bad delay, a run not DELAYED, an unknown
// and another environment's run are refused.
func TestTDRescheduleRun(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 2, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusProcessing)
	first := time.Now().Add(time.Hour)
	delayed := f.store.addRun(id, 0, store.Run{Status: batch.RunDelayed, DelayUntil: &first})
	queued := f.store.addRun(id, 1, store.Run{Status: batch.RunQueued})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunDelayed, DelayUntil: &first})
	reschedule := func(runID, body string) answer {
		return f.do(http.MethodPost, "/api/v1/runs/"+runID+"/reschedule", testKey, "application/json", body)
	}
	cases := []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"no delay", delayed, `{}`, 400, "delay must be a duration"},
		{"a bad delay", delayed, `{"delay":"soon"}`, 400, "delay must be a duration"},
		{"a QUEUED run", queued, `{"delay":"1h"}`, 422, "is QUEUED: only a DELAYED run can be rescheduled"},
		{"unknown run", batch.RunID(id, 9), `{"delay":"1h"}`, 404, "not found"},
		{"another environment's run", foreignRun, `{"delay":"1h"}`, 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, reschedule(tc.id, tc.body), tc.status, tc.want)
		})
	}
	for _, tc := range []struct {
		name, delay string
		want        func(before time.Time) (time.Time, time.Time)
	}{
		{"a duration", "2h", func(before time.Time) (time.Time, time.Time) {
			return before.Add(2 * time.Hour), time.Now().Add(2 * time.Hour)
		}},
		{"a date", "2030-01-02T03:04:05.678Z", func(time.Time) (time.Time, time.Time) {
			at := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC)
			return at, at
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			a := reschedule(delayed, `{"delay":"`+tc.delay+`"}`)
			var got wire.TriggerDevRetrievedRun
			if a.status != 200 || json.Unmarshal([]byte(a.body), &got) != nil || got.ID != delayed || got.DelayedUntil == nil {
				t.Fatalf("answer %d %s", a.status, a.body)
			}
			lo, hi := tc.want(before)
			if got.DelayedUntil.Before(lo.Truncate(time.Millisecond)) || got.DelayedUntil.After(hi) {
				t.Fatalf("delayedUntil %v, want within [%v, %v]", got.DelayedUntil, lo, hi)
			}
		})
	}
}

// addTags adds the tags a run lacks and answers how many; a bad body, more
// than ten tags, an unknown and another environment's run are refused.
func TestTDAddTags(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 1, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusProcessing)
	run := f.store.addRun(id, 0, store.Run{Status: batch.RunQueued, Options: []byte(`{"tags":["a"]}`)})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunQueued})
	add := func(runID, body string) answer {
		return f.do(http.MethodPost, "/api/v1/runs/"+runID+"/tags", testKey, "application/json", body)
	}
	cases := []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"no tags", run, `{}`, 400, "tags must be a tag or an array of tags"},
		{"a number", run, `{"tags":5}`, 400, "tags must be a tag or an array of tags"},
		{"a tag too long", run, `{"tags":"` + strings.Repeat("t", 129) + `"}`, 400, "less than 128 characters"},
		{"more than ten", run, `{"tags":["1","2","3","4","5","6","7","8","9","10"]}`, 422, "Runs can only have 10 tags"},
		{"unknown run", batch.RunID(id, 4), `{"tags":"x"}`, 404, "not found"},
		{"another environment's run", foreignRun, `{"tags":"x"}`, 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, add(tc.id, tc.body), tc.status, tc.want)
		})
	}
	t.Run("new and known tags", func(t *testing.T) {
		a := add(run, `{"tags":["b","a","c"]}`)
		if a.status != 200 || a.body != `{"message":"Successfully set 2 new tags."}` {
			t.Fatalf("answer %d %s", a.status, a.body)
		}
		r := f.do(http.MethodGet, "/api/v3/runs/"+run, testKey, "", "")
		var got wire.TriggerDevRetrievedRun
		if json.Unmarshal([]byte(r.body), &got) != nil || fmt.Sprint(got.Tags) != "[a b c]" {
			t.Fatalf("runs.retrieve %s", r.body)
		}
	})
}

// Run metadata outside the run: read, replaced, changed by operations as
// trigger.dev applies them; a bad body, a finished run, an unknown and
// another environment's run are refused.
func TestTDRunMetadata(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 2, batch.StatusProcessing)
	foreign := f.store.add(otherEnv, 1, batch.StatusProcessing)
	run := f.store.addRun(id, 0, store.Run{Status: batch.RunQueued, Options: []byte(`{"metadata":{"n":1,"list":[1,2,1],"s":"x"}}`)})
	done := f.store.addRun(id, 1, store.Run{Status: batch.RunCompleted, Options: []byte(`{"metadata":{"n":1}}`)})
	foreignRun := f.store.addRun(foreign, 0, store.Run{Status: batch.RunQueued})
	put := func(runID, body string) answer {
		return f.do(http.MethodPut, "/api/v1/runs/"+runID+"/metadata", testKey, "application/json", body)
	}
	get := func(t *testing.T, runID string) string {
		t.Helper()
		a := f.do(http.MethodGet, "/api/v1/runs/"+runID+"/metadata", testKey, "", "")
		if a.status != 200 {
			t.Fatalf("GET metadata: %d %s", a.status, a.body)
		}
		return a.body
	}
	t.Run("GET", func(t *testing.T) {
		if got := get(t, run); got != `{"metadata":{"n":1,"list":[1,2,1],"s":"x"}}` {
			t.Fatalf("metadata %s", got)
		}
	})
	refusals := []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"metadata not an object", run, `{"metadata":[1]}`, 400, "metadata must be a JSON object"},
		{"an unknown operation", run, `{"operations":[{"type":"merge","key":"a","value":1}]}`, 400, `operations[0]: "merge" is not a metadata operation`},
		{"a JSON path key", run, `{"operations":[{"type":"set","key":"$.a.b","value":1}]}`, 400, "JSON path keys are not supported"},
		{"increment by a string", run, `{"operations":[{"type":"increment","key":"n","value":"1"}]}`, 400, "increment needs a number"},
		{"parent operations", run, `{"parentOperations":[{"type":"set","key":"a","value":1}]}`, 400, "parentOperations is not supported"},
		{"a finished run", done, `{"metadata":{"a":1}}`, 422, "has finished"},
		{"unknown run", batch.RunID(id, 7), `{"metadata":{}}`, 404, "not found"},
		{"another environment's run", foreignRun, `{"metadata":{}}`, 404, "not found"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, put(tc.id, tc.body), tc.status, tc.want)
		})
	}
	steps := []struct{ name, body, want string }{
		{"operations", `{"operations":[{"type":"increment","key":"n","value":2},{"type":"append","key":"list","value":3},` +
			`{"type":"remove","key":"list","value":1},{"type":"append","key":"s","value":"y"},{"type":"set","key":"k","value":{"a":[true]}},` +
			`{"type":"delete","key":"gone"},{"type":"increment","key":"fresh","value":1.5}]}`,
			`{"metadata":{"fresh":1.5,"k":{"a":[true]},"list":[2,3],"n":3,"s":["x","y"]}}`},
		{"replace, then operate", `{"metadata":{"a":1},"operations":[{"type":"set","key":"b","value":2}]}`, `{"metadata":{"a":1,"b":2}}`},
		{"update replaces", `{"operations":[{"type":"update","value":{"only":true}}]}`, `{"metadata":{"only":true}}`},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			if a := put(run, tc.body); a.status != 200 || a.body != tc.want {
				t.Fatalf("PUT: %d %s, want 200 %s", a.status, a.body, tc.want)
			}
			if got := get(t, run); got != tc.want {
				t.Fatalf("GET after the PUT: %s, want %s", got, tc.want)
			}
		})
	}
}
