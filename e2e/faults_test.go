package e2e

// Fault injection: real processes, faults by SIGKILL or by stopping and
// starting a service mid-batch, and every test ends with assertBatchIntact
// (sealed, exactly N runs, each index once, payloads intact, no staged
// chunk left). Each test that kills or restarts something has its own copy
// of it, so the package's other tests run unaffected beside it.
//
// The fault always lands at the same point: the first attempt of the
// stream pauses after faultPauseAt items (pausedItems) until the test has
// seen runs being created and injected the fault; then the stream goes on.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/devstack"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/testenv"
	"github.com/streambatch/streambatch/wire"
)

// 1. `streambatch serve` is SIGKILLed mid-stream and a new one starts on
// the same address. The Go client's retry finishes the batch, sending only
// what the server lacks; then a raw client's POST fails the same way and a
// full re-send of the whole body answers sealed.
func TestFaultAPIKilledMidStream(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	k := newFaultKit(t, s)
	env, key := s.newKey(t)
	cfg := s.config("fault-api-" + batch.NewStreamID())
	procEnv := s.env(cfg)
	k.worker(t, "worker", procEnv)
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	api := k.serve(t, "serve1", procEnv, addr)
	d := deployment{api: base, store: s.app.Store, blob: s.app.Blob}
	ctx := context.Background()

	// killAndRestart kills the API and starts a new one on the same
	// address; it returns how long nothing listened there.
	restarts := 1
	killAndRestart := func(t *testing.T, resume func()) time.Duration {
		t.Helper()
		killed := time.Now()
		api.Kill()
		resume()
		restarts++
		api = k.serve(t, fmt.Sprintf("serve%d", restarts), procEnv, addr)
		return time.Since(killed)
	}

	t.Run("go client", func(t *testing.T) {
		b := newFaultBatch(1)
		c, err := client.New(base, key, faultRetry)
		if err != nil {
			t.Fatal(err)
		}
		created, err := c.CreateBatch(ctx, wire.CreateBatchRequest{RunCount: b.n})
		if err != nil {
			t.Fatal(err)
		}
		id := created.ID
		items := newPausedItems(b.goItems(), faultPauseAt)
		defer items.Resume()
		var sent sentPerAttempt
		out := streamAsync(c, id, items.Seq(), sent.option())
		items.waitPaused(t)
		atKill := waitSomeRuns(t, s.app.Store, id)
		// The first attempt fails (its connection is cut) and the client
		// retries against a closed port until the new process listens.
		down := killAndRestart(t, items.Resume)
		o := awaitStream(t, out, 2*time.Minute)
		if o.res.Attempts < 2 {
			t.Fatalf("sealed in %d attempt(s): the kill did not cut the stream", o.res.Attempts)
		}
		// The killed attempt got no answer; the retries asked /missing and
		// sent only what the server lacked: never the runs made before the
		// kill, and never the whole batch again.
		last := sent.attempt(o.res.Attempts)
		if retried := o.res.ItemsAccepted + o.res.ItemsDeduplicated; retried > b.n-atKill || last >= b.n {
			t.Fatalf("retries sent %d items, accepted+deduplicated %d, with %d runs made before the kill (per attempt: %s)", last, retried, atKill, sent.String())
		}
		assertBatchIntact(t, d, key, env, id, b)
		t.Logf("API down %s; %d of %d runs existed at the kill; %d attempts in %s, items written per attempt %s, accepted %d, deduplicated %d; %s",
			down.Round(time.Millisecond), atKill, b.n, o.res.Attempts, o.took.Round(time.Millisecond), sent.String(), o.res.ItemsAccepted, o.res.ItemsDeduplicated,
			chunkAttempts(t, s.app.Temporal, id))
	})

	t.Run("raw client", func(t *testing.T) {
		b := newFaultBatch(2)
		id := endpoint{base}.mustCreate(t, key, b.n)
		first, rest := b.ndjson(0, faultPauseAt), b.ndjson(faultPauseAt, b.n)

		// A request of its own (not send): the kill cuts it, and the test
		// reads the transport error.
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v3/batches/"+id+"/items", pr)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		type answer struct {
			resp *http.Response
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			pr.CloseWithError(errors.New("request over")) // unblocks the writer
			answered <- answer{resp, err}
		}()
		resume := make(chan struct{})
		var resumeOnce sync.Once
		resumeWriter := func() { resumeOnce.Do(func() { close(resume) }) }
		defer resumeWriter()
		go func() {
			if _, err := pw.Write(first); err != nil {
				return
			}
			<-resume
			if _, err := pw.Write(rest); err != nil {
				return
			}
			pw.Close()
		}()
		atKill := waitSomeRuns(t, s.app.Store, id)
		down := killAndRestart(t, resumeWriter)
		a := <-answered
		if a.err == nil {
			t.Fatalf("the POST cut by the kill answered %d", a.resp.StatusCode)
		}
		// The raw client's retry: the whole body again.
		start := time.Now()
		status, res, raw := endpoint{base}.streamWhole(t, key, id, append(first, rest...))
		if status != http.StatusOK || !res.Sealed || res.ItemsAccepted+res.ItemsDeduplicated != b.n || res.ItemsDeduplicated < atKill {
			t.Fatalf("full re-send: %d %s (runs before the kill: %d)", status, raw, atKill)
		}
		assertBatchIntact(t, d, key, env, id, b)
		t.Logf("POST failed with %q; API down %s; %d of %d runs existed at the kill; the re-send (%s) accepted %d, deduplicated %d",
			a.err, down.Round(time.Millisecond), atKill, b.n, time.Since(start).Round(time.Millisecond), res.ItemsAccepted, res.ItemsDeduplicated)
	})
}

// 2. S3 is unavailable mid-batch, then comes back on the same folder and
// port. This test has its own versitygw, API and worker (subprocesses).
//
// The outage lasts 15 s by default, not 30 s (STREAMBATCH_S3_OUTAGE=30s
// runs the long form). 15 s already defeats every retry layer
// below streambatch's own recovery: the AWS SDK gives up on a call within
// about a second (5 attempts; none at all once its retry quota is spent),
// so the API's packet uploads and staged-chunk PUTs fail and the client's
// attempts end in 500s (about 8 of them), and the chunk activities pending
// at the stop fail and go through Temporal's backoff (1, 2, 4, 8 s: up to
// 5 attempts). A 30 s outage runs the same code paths more times, and it
// costs more than 15 s: with a doubling backoff, the next attempt after S3
// returns can be as far away as the outage is long, so the test could
// take over a minute.
func TestFaultS3Outage(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	outage := 15 * time.Second
	if v, err := time.ParseDuration(os.Getenv("STREAMBATCH_S3_OUTAGE")); err == nil && v > 0 {
		outage = v
	}
	ctx := context.Background()
	k := newFaultKit(t, s)
	s3, err := testenv.StartS3(ctx, filepath.Join(k.dir, "s3"))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Stop()
	k.watchLog(filepath.Join(k.dir, "s3.log"))
	cfg := s.config("fault-s3-" + batch.NewStreamID())
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = s3.Endpoint, s3.AccessKey, s3.SecretKey
	objects, err := blob.New(ctx, blob.Config{Endpoint: s3.Endpoint, Bucket: cfg.S3Bucket, Region: s3.Region,
		AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := objects.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	procEnv := s.env(cfg)
	base, _ := k.startPair(t, procEnv)
	env, key := s.newKey(t)

	run := startPausedRun(t, base, key, 3)
	b, id, items, sent, out := run.b, run.id, run.pausedItems, run.sent, run.out
	atStop := waitSomeRuns(t, s.app.Store, id)

	stopped := time.Now()
	s3.Stop()
	if c, err := net.DialTimeout("tcp", s3.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("S3 still listens after Stop")
	}
	items.Resume() // the rest of the stream meets S3 down
	time.Sleep(time.Until(stopped.Add(outage)))
	runsDuring, _, _ := s.app.Store.CountRuns(ctx, id)
	if err := s3.Start(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Since(stopped)

	o := awaitStream(t, out, 3*time.Minute)
	assertBatchIntact(t, deployment{api: base, store: s.app.Store, blob: objects}, key, env, id, b)
	// The outage reached the client: its first attempt failed (the rest
	// of its packets and staged chunks could not be written). Chunk
	// activities that met it were retried (logged, not asserted: those
	// signalled before the stop may have read S3 already, and none can be
	// signalled during the outage).
	if o.res.Attempts < 2 {
		t.Fatalf("the outage went unnoticed: sealed in %d attempt(s)", o.res.Attempts)
	}
	acts := chunkAttempts(t, s.app.Temporal, id)
	t.Logf("S3 down %s; runs: %d when it stopped, %d just before it came back; %d attempts in %s (sealed %s after S3 came back), items written per attempt %s; %s",
		down.Round(time.Millisecond), atStop, runsDuring, o.res.Attempts, o.took.Round(time.Millisecond),
		time.Since(stopped.Add(down)).Round(time.Millisecond), sent.String(), acts)
}

// devStackFor starts a devstack (the services as child processes) in a
// fresh folder that the user postgres can reach, stopped when the test
// ends.
func devStackFor(t *testing.T, k *faultKit, opts devstack.Options) *devstack.Stack {
	t.Helper()
	dir := t.TempDir()
	// As root, PostgreSQL runs as the user postgres, which must reach it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts.DataDir = filepath.Join(dir, "data")
	opts.Log = slog.New(slog.DiscardHandler)
	// Free ports: two fault tests start their stacks at the same time, and
	// on the usual ports one would use the other's services (see
	// TestConcurrentStartsGetTheirOwnServices in internal/devstack).
	opts.AnyPorts = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ds, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Stop)
	for _, l := range []string{"postgres.log", "versitygw.log", "temporal.log"} {
		k.watchLog(filepath.Join(ds.LogDir, l))
	}
	return ds
}

// devStackConfig points the e2e configuration at a devstack's services.
func devStackConfig(s *stack, ds *devstack.Stack, taskQueue string) config.Config {
	cfg := s.config(taskQueue)
	cfg.DatabaseURL = ds.DatabaseURL
	cfg.TemporalAddress = ds.TemporalAddress
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = ds.S3Endpoint, ds.S3AccessKey, ds.S3SecretKey
	cfg.S3Region = "us-east-1"
	return cfg
}

// 3. PostgreSQL is SIGKILLed mid-batch (postmaster and backends) and
// started again on the same data folder and port, after crash recovery.
// The API, the worker and the test's own pools reconnect; the chunk
// activities that met the outage retry. Its own PostgreSQL, S3 and
// Temporal come from internal/devstack.
func TestFaultPostgresRestart(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	const outage = 5 * time.Second
	ctx := context.Background()
	k := newFaultKit(t, s)
	ds := devStackFor(t, k, devstack.Options{TemporalInMemory: true})
	cfg := devStackConfig(s, ds, "fault-pg-"+batch.NewStreamID())
	a, err := app.Open(ctx, cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Blob.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	env := "t" + batch.NewStreamID()
	e, err := a.Store.EnsureEnvironment(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.Store.CreateAPIKey(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	procEnv := s.env(cfg)
	base, _ := k.startPair(t, procEnv)

	run := startPausedRun(t, base, key, 4)
	b, id, items, sent, out := run.b, run.id, run.pausedItems, run.sent, run.out
	atKill := waitSomeRuns(t, a.Store, id)

	killed := time.Now()
	if err := ds.Kill(devstack.ServicePostgres); err != nil {
		t.Fatal(err)
	}
	items.Resume() // the stream goes on; the worker's inserts fail
	// While PostgreSQL is down the API answers 503 (retryable) at once,
	// and is not ready; it does not hang.
	resp := send(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, base+"/api/v3/batches/"+id, nil, withKey(key, ""))
	// A dependency outage is a 503 naming it, with Retry-After.
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("x-should-retry") == "false" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status request while PostgreSQL is down: %d (x-should-retry %q), want a retryable 503", resp.StatusCode, resp.Header.Get("x-should-retry"))
	}
	ready := send(t, http.DefaultClient, http.MethodGet, base+"/readyz", nil)
	if ready.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while PostgreSQL is down: %s, want 503", ready)
	}
	// It names the dependency, not its address, user or database.
	if raw := string(ready.Body); !strings.Contains(raw, `"postgres":"unavailable"`) || strings.Contains(raw, "127.0.0.1") || strings.Contains(raw, "user=") {
		t.Fatalf("/readyz while PostgreSQL is down: %s", raw)
	}
	time.Sleep(time.Until(killed.Add(outage)))
	if err := ds.StartService(ctx, devstack.ServicePostgres); err != nil {
		t.Fatal(err)
	}
	down := time.Since(killed)

	o := awaitStream(t, out, 3*time.Minute)
	assertBatchIntact(t, deployment{api: base, store: a.Store, blob: a.Blob}, key, env, id, b)
	// The chunks signalled during the outage could not be inserted at
	// first: their activities were retried.
	acts := chunkAttempts(t, a.Temporal, id)
	if acts.retried < 1 {
		t.Fatalf("no chunk activity was retried: %s", acts)
	}
	t.Logf("PostgreSQL down %s (SIGKILL, crash recovery included); %d of %d runs existed at the kill; %d attempts in %s (sealed %s after PostgreSQL came back), items written per attempt %s; %s",
		down.Round(time.Millisecond), atKill, b.n, o.res.Attempts, o.took.Round(time.Millisecond),
		time.Since(killed.Add(down)).Round(time.Millisecond), sent.String(), acts)
}

// 4. The Temporal dev server is SIGKILLed mid-batch and started again on
// the same port and SQLite file. Signals the API sends meanwhile are
// retried (by the SDK, or by the client after a 500); the worker's pollers
// reconnect; the workflow continues from its persisted history. Temporal
// and S3 come from internal/devstack; PostgreSQL is the e2e database.
func TestFaultTemporalRestart(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	const outage = 5 * time.Second
	ctx := context.Background()
	k := newFaultKit(t, s)
	ds := devStackFor(t, k, devstack.Options{DatabaseURL: s.dbURL})
	cfg := devStackConfig(s, ds, "fault-temporal-"+batch.NewStreamID())
	a, err := app.Open(ctx, cfg, config.NeedS3|config.NeedTemporal, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Blob.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	env, key := s.newKey(t)
	procEnv := s.env(cfg)
	base, _ := k.startPair(t, procEnv)

	run := startPausedRun(t, base, key, 5)
	b, id, items, sent, out := run.b, run.id, run.pausedItems, run.sent, run.out
	atKill := waitSomeRuns(t, s.app.Store, id)

	killed := time.Now()
	if err := ds.Kill(devstack.ServiceTemporal); err != nil {
		t.Fatal(err)
	}
	items.Resume() // the rest of the stream is signalled while Temporal is down
	time.Sleep(time.Until(killed.Add(outage)))
	if err := ds.StartService(ctx, devstack.ServiceTemporal); err != nil {
		t.Fatal(err)
	}
	down := time.Since(killed)

	o := awaitStream(t, out, 3*time.Minute)
	assertBatchIntact(t, deployment{api: base, store: s.app.Store, blob: a.Blob}, key, env, id, b)
	// The workflow that sealed is the one started before the kill: its
	// history survived in the SQLite file (a Temporal that lost it would
	// have started a new workflow for the chunks signalled afterwards).
	d, err := a.Temporal.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
		Namespace: cfg.TemporalNamespace, Execution: &commonpb.WorkflowExecution{WorkflowId: id}})
	if err != nil {
		t.Fatal(err)
	}
	info := d.GetWorkflowExecutionInfo()
	if started := info.GetStartTime().AsTime(); !started.Before(killed) {
		t.Fatalf("the workflow started at %s, after the kill at %s: Temporal lost its history", started, killed)
	}
	t.Logf("Temporal down %s; %d of %d runs existed at the kill; %d attempts in %s (sealed %s after Temporal came back), items written per attempt %s; workflow history %d events, %s",
		down.Round(time.Millisecond), atKill, b.n, o.res.Attempts, o.took.Round(time.Millisecond),
		time.Since(killed.Add(down)).Round(time.Millisecond), sent.String(), info.GetHistoryLength(), chunkAttempts(t, a.Temporal, id))
}

// 5. Two API replicas and two workers on one task queue (subprocesses);
// the client streams through a round-robin load balancer (balancer), and
// the replica serving the stream and the worker running the workflow are
// SIGKILLed mid-batch.
// The balancer answers the cut request 502 and marks that replica down;
// the Go client's retry (TriggerBatch, unchanged: one base URL) reaches the
// surviving replica, and the surviving worker takes over the chunks of the
// dead one after their heartbeat timeout. Nothing is restarted: this is
// the production shape, where a load balancer hides a dead replica.
func TestFaultReplicaAndWorkerKilled(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	testReplicaAndWorkerKilled(t, s)
}

func testReplicaAndWorkerKilled(t *testing.T, s *stack) {
	k := newFaultKit(t, s)
	env, key := s.newKey(t)
	cfg := s.config("fault-replicas-" + batch.NewStreamID())
	procEnv := s.env(cfg)
	workers := []*proc.Process{k.worker(t, "worker1", procEnv), k.worker(t, "worker2", procEnv)}
	var apis []*proc.Process
	var bases []string
	for r := range 2 {
		addr, err := proc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		apis = append(apis, k.serve(t, fmt.Sprintf("serve%d", r+1), procEnv, addr))
		bases = append(bases, "http://"+addr)
	}
	lb := newBalancer(t, bases...)

	b := newFaultBatch(6)
	c, err := client.New(lb.srv.URL, key, faultRetry)
	if err != nil {
		t.Fatal(err)
	}
	items := newPausedItems(b.goItems(), faultPauseAt)
	defer items.Resume()
	var sent sentPerAttempt
	type outcome struct {
		res  *client.TriggerResult
		err  error
		took time.Duration
	}
	out := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := c.TriggerBatch(context.Background(), wire.CreateBatchRequest{RunCount: b.n}, items.Seq(), sent.option())
		out <- outcome{res, err, time.Since(start)}
	}()
	items.waitPaused(t)
	id, serving := lb.firstStream()
	if serving < 0 {
		t.Fatal("the balancer saw no Phase 2 request")
	}
	atKill := waitSomeRuns(t, s.app.Store, id)
	// Kill the worker that holds the workflow (its sticky cache): the
	// harsher choice. Its next workflow task must time out and move to
	// the other worker; its running activities wait for their heartbeat
	// timeout.
	victim := workerOf(t, workers, lastWorkflowTaskWorker(t, s.app.Temporal, id))
	killed := time.Now()
	apis[serving].Kill()
	workers[victim].Kill()
	items.Resume()

	var o outcome
	select {
	case o = <-out:
	case <-time.After(3 * time.Minute):
		t.Fatal("TriggerBatch did not return within 3 minutes")
	}
	if o.err != nil || o.res.Stream == nil || !o.res.Stream.Sealed {
		t.Fatalf("TriggerBatch: %+v, %v", o.res, o.err)
	}
	if o.res.Batch.ID != id {
		t.Fatalf("batch %s, the balancer saw %s", o.res.Batch.ID, id)
	}
	served, failures, itemsLog, down := lb.stats()
	survivor := 1 - serving
	if !down[serving] || down[survivor] || failures < 1 || len(itemsLog) < 2 || o.res.Stream.Attempts < 2 {
		t.Fatalf("balancer: down %v, %d failures, Phase 2 requests to %v; %d attempts", down, failures, itemsLog, o.res.Stream.Attempts)
	}
	for _, r := range itemsLog[1:] {
		if r != survivor {
			t.Fatalf("a retry went to the killed replica: %v", itemsLog)
		}
	}
	assertBatchIntact(t, deployment{api: bases[survivor], store: s.app.Store, blob: s.app.Blob}, key, env, id, b)
	t.Logf("killed replica %d and worker %d (it held the workflow) with %d of %d runs made; TriggerBatch sealed in %s (%s after the kill) with %d attempts, items written per attempt %s; balancer: requests per replica %v, %d upstream failures, Phase 2 requests to %v; %s",
		serving+1, victim+1, atKill, b.n, o.took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), o.res.Stream.Attempts, sent.String(), served, failures, itemsLog,
		chunkAttempts(t, s.app.Temporal, id))
}
