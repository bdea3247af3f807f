package e2e

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	sdkclient "go.temporal.io/sdk/client"

	sweepact "github.com/streambatch/streambatch/activities/sweep"
	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// The fault tests' batch: a few thousand items with small payloads and
// about twenty of 600 KiB, which streambatch offloads to S3. With the e2e
// configuration's 100-item chunks that is 30 chunks, so a fault injected
// while the stream is paused at faultPauseAt lands with about half of them
// signalled and half still to come.
const (
	faultItems      = 3000
	faultLargeEvery = 150       // items 7, 157, 307, …: 20 large payloads
	faultLargeSize  = 600 << 10 // ≥ the 512 KiB offload threshold
	// faultPauseAt is where the first attempt of a stream stops until the
	// fault is in place: right after the large item 1507, so the whole
	// first half (ending with a 600 KiB line, which passes every buffer)
	// has reached the server.
	faultPauseAt = 1508
)

// faultBatch is the content of one test's batch.
type faultBatch struct {
	n     int
	small map[int]string // index → stored payload of the small items
	large map[int]string // index → payload of the offloaded items
}

func newFaultBatch(seed uint64) *faultBatch {
	b := &faultBatch{n: faultItems, small: map[int]string{}, large: map[int]string{}}
	for i := range b.n {
		if i%faultLargeEvery == 7 {
			b.large[i] = randomText(seed*1_000_003+uint64(i), faultLargeSize)
		} else {
			b.small[i] = fmt.Sprintf(`{"n":%d,"seed":%d}`, i, seed)
		}
	}
	return b
}

func (b *faultBatch) payload(i int) string {
	if p, ok := b.large[i]; ok {
		return p
	}
	return b.small[i]
}

// goItems returns the items for the Go client (string payloads, stored as
// they are).
func (b *faultBatch) goItems() []client.Item {
	out := make([]client.Item, b.n)
	for i := range out {
		out[i] = client.Item{Index: i, Task: "fault", Payload: client.StringPayload(b.payload(i))}
	}
	return out
}

// ndjson returns items [from, to) as the NDJSON a raw client sends.
func (b *faultBatch) ndjson(from, to int) []byte {
	items := make([]item, 0, to-from)
	for i := from; i < to; i++ {
		items = append(items, item{Index: i, Task: "fault", Payload: b.payload(i)})
	}
	return ndjson(items)
}

// pausedItems feeds the Go client. Its first pass (the first attempt)
// stops before item `at` until Resume, after closing Paused; later passes
// (the client's retries) run straight through.
type pausedItems struct {
	items      []client.Item
	at         int
	Paused     chan struct{}
	resume     chan struct{}
	resumeOnce sync.Once
	passes     atomic.Int32
}

func newPausedItems(items []client.Item, at int) *pausedItems {
	return &pausedItems{items: items, at: at, Paused: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausedItems) Resume() { p.resumeOnce.Do(func() { close(p.resume) }) }

// Passes returns how many times the client iterated the items.
func (p *pausedItems) Passes() int { return int(p.passes.Load()) }

func (p *pausedItems) Seq() iter.Seq2[client.Item, error] {
	return func(yield func(client.Item, error) bool) {
		first := p.passes.Add(1) == 1
		for _, it := range p.items {
			if first && it.Index == p.at {
				close(p.Paused)
				<-p.resume
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

// waitPaused waits until the first attempt reached the pause.
func (p *pausedItems) waitPaused(t *testing.T) {
	t.Helper()
	select {
	case <-p.Paused:
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not reach the pause within 60 s")
	}
}

// sentPerAttempt records, per attempt, how many items the client wrote.
type sentPerAttempt struct {
	mu sync.Mutex
	n  map[int]int
}

func (s *sentPerAttempt) option() client.StreamOption {
	s.n = map[int]int{}
	return client.WithProgress(func(p client.Progress) {
		s.mu.Lock()
		s.n[p.Attempt] = p.Items
		s.mu.Unlock()
	})
}

func (s *sentPerAttempt) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.n)
}

func (s *sentPerAttempt) attempt(k int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[k]
}

// streamOutcome is what a background StreamItems or TriggerBatch returned.
type streamOutcome struct {
	res  *client.StreamResult
	err  error
	took time.Duration
}

// streamAsync runs StreamItems in the background.
func streamAsync(c *client.Client, id string, items iter.Seq2[client.Item, error], opts ...client.StreamOption) <-chan streamOutcome {
	out := make(chan streamOutcome, 1)
	start := time.Now()
	go func() {
		res, err := c.StreamItems(context.Background(), id, items, opts...)
		out <- streamOutcome{res, err, time.Since(start)}
	}()
	return out
}

// awaitStream waits for a background stream and requires it sealed.
func awaitStream(t *testing.T, out <-chan streamOutcome, timeout time.Duration) streamOutcome {
	t.Helper()
	select {
	case o := <-out:
		if o.err != nil {
			t.Fatalf("stream failed after %s: %v (result %+v)", o.took.Round(time.Millisecond), o.err, o.res)
		}
		if !o.res.Sealed {
			t.Fatalf("stream ended unsealed: %+v", o.res)
		}
		return o
	case <-time.After(timeout):
		t.Fatalf("the stream did not end within %s", timeout)
	}
	panic("unreachable")
}

// faultRetry is the Go client's retry policy in the fault tests: backoff
// capped at 4 s, and attempts enough to outlast every outage here (15 s,
// or 30 s in the long S3 form, plus the time a service needs to start) by
// far: with the client's jitter, 40 attempts sleep at least 73 s in all.
var faultRetry = client.WithRetry(client.RetryPolicy{MaxAttempts: 40, InitialBackoff: 500 * time.Millisecond, MaxBackoff: 4 * time.Second})

// waitSomeRuns waits until a batch has at least one run and returns how
// many it has.
func waitSomeRuns(t *testing.T, st *store.Store, id string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		total, _, err := st.CountRuns(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if total > 0 {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatal("no run was created within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faultKit runs a test's own streambatch processes, logging under one
// folder, and prints the tails of their logs when the test fails.
type faultKit struct {
	t    *testing.T
	bin  string
	dir  string
	logs []string
}

func newFaultKit(t *testing.T, s *stack) *faultKit {
	t.Helper()
	dir := filepath.Join(s.dir, regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k := &faultKit{t: t, bin: s.bin, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range k.logs {
				raw, _ := os.ReadFile(l)
				t.Logf("--- %s (last 4 KiB):\n%s", l, tail(string(raw), 4096))
			}
		}
	})
	return k
}

// watchLog adds a log file to those printed when the test fails.
func (k *faultKit) watchLog(path string) { k.logs = append(k.logs, path) }

// start starts `streambatch <command>` with env (the stack's env plus
// overrides: os/exec keeps the last value of a repeated variable). The
// process is killed when the kit's test ends. t is the (sub)test calling.
func (k *faultKit) start(t *testing.T, name string, env []string, command string) *proc.Process {
	t.Helper()
	log := filepath.Join(k.dir, name+".log")
	k.watchLog(log)
	p, err := proc.StartProcess(log, env, k.bin, command)
	if err != nil {
		t.Fatal(err)
	}
	k.t.Cleanup(p.Kill)
	return p
}

// taskWorker starts the example task worker bin for environment env (20
// runs at once) against the Temporal frontend at temporal; killed when the
// kit's test ends.
func (k *faultKit) taskWorker(t *testing.T, name string, procEnv []string, bin, env, temporal string) *proc.Process {
	t.Helper()
	log := filepath.Join(k.dir, name+".log")
	k.watchLog(log)
	p, err := proc.StartProcess(log, procEnv, bin, "--env", env, "--temporal", temporal, "--concurrency", "20")
	if err != nil {
		t.Fatal(err)
	}
	k.t.Cleanup(p.Kill)
	return p
}

// worker starts `streambatch worker`.
func (k *faultKit) worker(t *testing.T, name string, env []string) *proc.Process {
	t.Helper()
	return k.start(t, name, env, "worker")
}

// serve starts `streambatch serve` on addr and waits until it is ready.
func (k *faultKit) serve(t *testing.T, name string, env []string, addr string) *proc.Process {
	t.Helper()
	p := k.start(t, name, append(slices.Clone(env), config.EnvHTTPAddr+"="+addr), "serve")
	if err := waitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatalf("%s on %s not ready: %v", name, addr, err)
	}
	return p
}

// deployment is where a test's batch lives: an API replica to ask and the
// PostgreSQL and S3 it uses.
type deployment struct {
	api   string // base URL
	store *store.Store
	blob  *blob.Store
}

// assertBatchIntact checks the end state every fault test must reach: the
// batch is sealed (API status PROCESSING, sealed), it has exactly n runs
// with every index once and none failed, every run carries the payload
// that was sent (small ones inline, large ones as the key of their packet,
// whose bytes are the ones sent), the batch has no other packet object,
// and no staged chunk is left.
func assertBatchIntact(t *testing.T, d deployment, key, env, id string, b *faultBatch) {
	t.Helper()
	ctx := context.Background()
	st := endpoint{d.api}.batchStatus(t, key, id)
	if st.Status != "PROCESSING" || !st.Sealed || st.RunCount != b.n || st.EnqueuedCount != b.n || st.FailedCount != 0 {
		t.Fatalf("batch status %+v, want PROCESSING, sealed, %d runs", st, b.n)
	}
	total, failed, err := d.store.CountRuns(ctx, id)
	if err != nil || total != b.n || failed != 0 {
		t.Fatalf("runs: %d (failed %d), want %d: %v", total, failed, b.n, err)
	}
	set, err := d.store.RunIndexes(ctx, id, b.n)
	if err != nil || !set.Full() || set.Len() != b.n {
		t.Fatalf("run indexes: %d distinct of %d: %v", set.Len(), b.n, err)
	}
	runs := endpoint{d.api}.runs(t, key, id)
	if len(runs) != b.n {
		t.Fatalf("the API lists %d runs, want %d", len(runs), b.n)
	}
	for k, r := range runs {
		if r.Index != k || r.Status != "QUEUED" || r.Payload == nil {
			t.Fatalf("run %d: %+v", k, r)
		}
		if _, large := b.large[k]; large {
			if r.PayloadType != "application/store" || !isPacketOf(*r.Payload, env, id, k) {
				t.Fatalf("run %d: payload %s %q, want its packet key", k, r.PayloadType, *r.Payload)
			}
		} else if *r.Payload != b.small[k] {
			t.Fatalf("run %d: payload %q, want %q", k, *r.Payload, b.small[k])
		}
	}
	for i, want := range b.large {
		obj, err := d.blob.Get(ctx, *runs[i].Payload, 1<<20)
		if err != nil || sha(string(obj)) != sha(want) {
			t.Fatalf("packet of item %d: %d bytes, sha256 %s, want %d bytes %s: %v", i, len(obj), sha(string(obj)), len(want), sha(want), err)
		}
	}
	// Packets of interrupted deliveries are the sweeper's: after it, the
	// batch has exactly its runs' packets.
	sweepBatch(t, d.store, d.blob, env, id)
	packets := batch.BatchPacketPrefix(env, id)
	keys, err := d.blob.List(ctx, packets)
	if err != nil || len(keys) != len(b.large) {
		t.Fatalf("%d packet objects under %s after the sweep, want %d: %v", len(keys), packets, len(b.large), err)
	}
	staged, err := d.blob.List(ctx, batch.StagingPrefix(env, id))
	if err != nil || len(staged) != 0 {
		t.Fatalf("staged chunks left: %v (%v)", staged, err)
	}
}

// isPacketOf reports whether key is a packet streambatch offloaded for
// item index of the batch.
func isPacketOf(key, env, batchID string, index int) bool {
	i, ok := batch.PacketIndex(batch.BatchPacketPrefix(env, batchID), key)
	return ok && i == index && strings.Contains(key, "/payload-")
}

// sweepBatch runs the sweeper on one finished batch (no grace) and returns
// how many objects it deleted and kept.
func sweepBatch(t *testing.T, st *store.Store, objects *blob.Store, env, id string) (deleted, kept int) {
	t.Helper()
	a := &sweepact.Activities{Store: st, Objects: objects}
	deleted, kept, err := a.SweepBatch(context.Background(), store.SweepTarget{BatchID: id, Env: env})
	if err != nil {
		t.Fatalf("sweep %s: %v", id, err)
	}
	return deleted, kept
}

// balancer is a tiny round-robin HTTP load balancer with passive health
// checks, the way one sits in front of API replicas in production: each
// request goes to the next replica marked up; a replica that cannot be
// reached (connection refused or cut) is marked down and the request
// answered 502, which clients retry — to a replica that is up.
type balancer struct {
	srv       *httptest.Server
	upstreams []*url.URL
	transport *http.Transport

	mu       sync.Mutex
	next     int
	down     []bool
	failures int
	served   []int  // requests forwarded to each upstream
	itemsLog []int  // upstream of every Phase 2 request, in order
	firstID  string // batch of the first Phase 2 request
}

var lbItemsPath = regexp.MustCompile(`^/api/v3/batches/([^/]+)/items$`)

func newBalancer(t *testing.T, upstreams ...string) *balancer {
	t.Helper()
	b, err := startBalancer(upstreams...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return b
}

// startBalancer starts a round-robin balancer over the upstream base URLs;
// close stops it.
func startBalancer(upstreams ...string) (*balancer, error) {
	b := &balancer{down: make([]bool, len(upstreams)), served: make([]int, len(upstreams)),
		transport: http.DefaultTransport.(*http.Transport).Clone()}
	for _, u := range upstreams {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		b.upstreams = append(b.upstreams, pu)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	return b, nil
}

func (b *balancer) close() {
	b.srv.Close()
	b.transport.CloseIdleConnections()
}

func (b *balancer) pick(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.upstreams {
		i := (b.next + k) % len(b.upstreams)
		if !b.down[i] {
			b.next = i + 1
			b.served[i]++
			if m := lbItemsPath.FindStringSubmatch(path); m != nil {
				if len(b.itemsLog) == 0 {
					b.firstID = m[1]
				}
				b.itemsLog = append(b.itemsLog, i)
			}
			return i
		}
	}
	return -1
}

func (b *balancer) serve(w http.ResponseWriter, r *http.Request) {
	i := b.pick(r.URL.Path)
	if i < 0 {
		http.Error(w, `{"error":"no replica up"}`, http.StatusServiceUnavailable)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(b.upstreams[i]) },
		Transport:     b.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil { // not the client going away
				b.mu.Lock()
				b.down[i] = true
				b.failures++
				b.mu.Unlock()
			}
			http.Error(w, `{"error":"upstream unreachable"}`, http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}

// firstStream returns the batch id and upstream of the first Phase 2
// request ("", -1 before there is one).
func (b *balancer) firstStream() (id string, upstream int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.itemsLog) == 0 {
		return "", -1
	}
	return b.firstID, b.itemsLog[0]
}

func (b *balancer) stats() (served []int, failures int, itemsLog []int, down []bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.served), b.failures, slices.Clone(b.itemsLog), slices.Clone(b.down)
}

// attemptStats summarises the chunk activities (OffloadAndEnqueue) of a
// batch's workflow, read from its history: a started event is written
// when an activity ends and carries the attempt that ended it.
type attemptStats struct {
	chunks     int // chunk activities
	retried    int // of those, how many needed more than one attempt
	maxAttempt int
}

func (a attemptStats) String() string {
	return fmt.Sprintf("%d chunk activities, %d retried (at most %d attempts)", a.chunks, a.retried, a.maxAttempt)
}

func chunkAttempts(t *testing.T, c sdkclient.Client, id string) attemptStats {
	t.Helper()
	var st attemptStats
	chunkScheduled := map[int64]bool{}
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == ingestwf.ActivityOffloadAndEnqueue {
			chunkScheduled[ev.GetEventId()] = true
			st.chunks++
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && chunkScheduled[a.GetScheduledEventId()] {
			st.maxAttempt = max(st.maxAttempt, int(a.GetAttempt()))
			if a.GetAttempt() > 1 {
				st.retried++
			}
		}
	}
	return st
}

// lastWorkflowTaskWorker returns the identity of the worker that completed
// the workflow's latest workflow task: the one holding it in its cache.
func lastWorkflowTaskWorker(t *testing.T, c sdkclient.Client, id string) string {
	t.Helper()
	identity := ""
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			identity = a.GetIdentity()
		}
	}
	return identity
}

// workerOf returns which of the worker processes has the given Temporal
// identity (the SDK's default is "<pid>@<host>@").
func workerOf(t *testing.T, workers []*proc.Process, identity string) int {
	t.Helper()
	for k, w := range workers {
		if strings.HasPrefix(identity, fmt.Sprintf("%d@", w.Pid())) {
			return k
		}
	}
	t.Fatalf("no worker process has the identity %q", identity)
	return -1
}

// startPair starts a worker and a serve with procEnv, the API on a free
// address, and returns the API's base URL and process.
func (k *faultKit) startPair(t *testing.T, procEnv []string) (string, *proc.Process) {
	t.Helper()
	k.worker(t, "worker", procEnv)
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr, k.serve(t, "serve", procEnv, addr)
}

// pausedRun is a fault batch being streamed by the Go client, held still
// after faultPauseAt items until Resume, so a fault can be injected mid-stream.
type pausedRun struct {
	*pausedItems
	b    *faultBatch
	c    *client.Client
	id   string
	sent *sentPerAttempt
	out  <-chan streamOutcome
}

// startPausedRun creates a batch through base and streams it until the pause.
func startPausedRun(t *testing.T, base, key string, seed uint64) *pausedRun {
	t.Helper()
	r := &pausedRun{b: newFaultBatch(seed), sent: &sentPerAttempt{}}
	var err error
	if r.c, err = client.New(base, key, faultRetry); err != nil {
		t.Fatal(err)
	}
	created, err := r.c.CreateBatch(context.Background(), wire.CreateBatchRequest{RunCount: r.b.n})
	if err != nil {
		t.Fatal(err)
	}
	r.id = created.ID
	r.pausedItems = newPausedItems(r.b.goItems(), faultPauseAt)
	t.Cleanup(r.Resume)
	r.out = streamAsync(r.c, r.id, r.Seq(), r.sent.option())
	r.waitPaused(t)
	return r
}
