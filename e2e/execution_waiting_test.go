package e2e

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/wire"
)

// Runs on a queue no task worker polls wait for ever: the batch's GET says
// how many wait for a worker and since when, and the gauge shows them by
// environment and queue, while the runs a worker serves complete. Aborting
// the batch ends the wait.
func TestRunsWaitingForWorkerAreVisible(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	const served, stranded = 3, 4
	var body bytes.Buffer
	for i := range served + stranded {
		opts := ""
		if i >= served {
			opts = `,"options":{"queue":{"name":"nowhere"}}`
		}
		fmt.Fprintf(&body, `{"index":%d,"task":"echo","payload":{"n":%d}%s}`+"\n", i, i, opts)
	}
	id := s.mustCreate(t, key, served+stranded)
	if code, res, raw := s.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	var b wire.BatchStatus
	deadline := time.Now().Add(time.Minute)
	for {
		b = s.batchStatus(t, key, id)
		if b.RunCounts["COMPLETED"] == served && b.RunsWaitingForWorker == stranded && b.WaitingForWorkerSince != nil {
			break
		}
		if time.Now().After(deadline) {
			s.dumpRuns(t, id)
			t.Fatalf("never %d COMPLETED and %d waiting for a worker with a time: %+v", served, stranded, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	since := *b.WaitingForWorkerSince
	if b.Status != "PROCESSING" || b.RunCounts["QUEUED"] != stranded {
		t.Fatalf("batch %+v", b)
	}
	if since.Before(b.CreatedAt) {
		t.Fatalf("waiting since %s, before the batch was created (%s)", since, b.CreatedAt)
	}

	resp := s.call(t, http.MethodGet, "/metrics", "", nil, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	gauge := regexp.MustCompile(fmt.Sprintf(`(?m)^streambatch_runs_waiting_for_worker\{env="%s",queue="nowhere"\} (\d+)$`, env))
	if m := gauge.FindSubmatch(resp.Body); m == nil || string(m[1]) != fmt.Sprint(stranded) {
		t.Fatalf("/metrics has no gauge of %d runs waiting on queue nowhere of %s:\n%s", stranded, env, grepLines(resp.Body, "waiting_for_worker"))
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^streambatch_runs_waiting_for_worker_oldest_seconds\{env="%s",queue="nowhere"\} `, env)).Match(resp.Body) {
		t.Fatalf("/metrics has no oldest wait for queue nowhere of %s:\n%s", env, grepLines(resp.Body, "waiting_for_worker"))
	}
	if strings.Contains(string(resp.Body), fmt.Sprintf(`streambatch_runs_waiting_for_worker{env="%s",queue=""}`, env)) {
		t.Fatalf("/metrics counts the served queue as waiting:\n%s", grepLines(resp.Body, "waiting_for_worker"))
	}

	var ab wire.BatchStatus
	resp = s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, stringsReader(`{"reason":"no worker"}`), "application/json", &ab)
	if resp.StatusCode != http.StatusOK || ab.Status != "ABORTED" {
		t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
	}
	if ab.RunsWaitingForWorker != 0 || ab.WaitingForWorkerSince != nil || bytes.Contains(resp.Body, []byte("WaitingForWorker")) {
		t.Fatalf("after the abort the answer still shows runs waiting: %s", resp.Body)
	}
}

// With STREAMBATCH_RUN_DEFAULT_TTL, runs that set no ttl and that no task
// worker serves end EXPIRED (TTL_EXPIRED) once it passes, and the batch
// completes.
func TestRunDefaultTTLExpiresUnservedRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	cfg := s.config("e2e-ttl-" + batch.NewStreamID())
	cfg.RunDefaultTTL = 3 * time.Second
	a := &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s.app.Store, Blob: s.app.Blob, Temporal: s.app.Temporal}
	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	api := s.withApp(t, a)
	_, key := s.newKey(t) // no task worker for this environment

	const n = 5
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"index":%d,"task":"unserved","payload":{"n":%d}}`+"\n", i, i)
	}
	id := api.mustCreate(t, key, n)
	if code, res, raw := api.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	b := api.waitBatch(t, key, id, 2*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["EXPIRED"] != n || b.RunsWaitingForWorker != 0 || b.WaitingForWorkerSince != nil {
		t.Fatalf("batch %+v, want COMPLETED with %d EXPIRED runs and none waiting", b, n)
	}
	for _, r := range api.runs(t, key, id) {
		if r.Status != "EXPIRED" || r.Error == nil || r.Error.Code != batch.ErrorTTLExpired || r.Attempts != 0 {
			t.Fatalf("run %d: %+v error %+v", r.Index, r, r.Error)
		}
	}
}

// grepLines returns the lines of text that contain word.
func grepLines(text []byte, word string) string {
	var out []string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
