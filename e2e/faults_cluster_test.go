package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/testenv"
)

// The production topology: a real Temporal server (go.temporal.io/server,
// the version behind the pinned CLI) persisting in PostgreSQL with SQL
// visibility, its schema applied with temporal-sql-tool; streambatch in
// its own database and bucket, as two `streambatch serve` replicas behind
// a round-robin balancer and two `streambatch worker` processes. Started
// on first use by the TestCluster* tests, which run the core ingest test,
// a replica and a worker killed mid-stream, and run execution with both
// workers killed, on it; the rest of the suite keeps the dev server.
var (
	clusterOnce sync.Once
	clusterSt   *stack
	clusterErr  error
	clusterStop func()
)

// requireCluster returns the production-topology stack, starting it the
// first time.
func requireCluster(t *testing.T) *stack {
	t.Helper()
	s := requireStack(t)
	clusterOnce.Do(func() {
		start := time.Now()
		clusterSt, clusterStop, clusterErr = s.startCluster()
		if clusterErr == nil {
			t.Logf("production topology up in %s (real Temporal server on PostgreSQL, 2 API replicas, 2 workers)", time.Since(start).Round(time.Millisecond))
		}
	})
	if clusterErr != nil {
		t.Fatalf("production topology: %v", clusterErr)
	}
	return clusterSt
}

// stopCluster stops the production topology if a test started it.
func stopCluster() {
	if clusterStop != nil {
		clusterStop()
	}
}

func (s *stack) startCluster() (_ *stack, _ func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stops []func()
	stop := func() {
		for k := len(stops) - 1; k >= 0; k-- {
			stops[k]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	c := *s
	c.dir = filepath.Join(s.dir, "cluster")
	c.bucket = "streambatch-cluster"
	c.cluster = true
	c.worker = nil
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, nil, err
	}
	srv, err := testenv.StartTemporalServer(ctx, filepath.Join(c.dir, "temporal"))
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { _ = srv.Stop() })
	c.temporal = srv
	url, drop, err := testenv.CreateDatabase(ctx, "e2ecluster")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, drop)
	c.dbURL = url
	c.cfg = c.config("e2e-cluster")

	// The test's own connections. Opening them registers the search
	// attributes and waits until the namespace lists them, as every
	// streambatch process does at start-up.
	a, err := app.Open(ctx, c.cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, a.Close)
	c.app = a
	if err := a.Blob.EnsureBucket(ctx); err != nil {
		return nil, nil, err
	}

	env := c.env(c.cfg)
	for k := range 2 {
		p, err := proc.StartProcess(filepath.Join(c.dir, fmt.Sprintf("worker%d.log", k+1)), env, c.bin, "worker")
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, p.Kill)
	}
	var bases []string
	for k := range 2 {
		addr, err := proc.FreeAddr()
		if err != nil {
			return nil, nil, err
		}
		p, err := proc.StartProcess(filepath.Join(c.dir, fmt.Sprintf("serve%d.log", k+1)), append(slices.Clone(env), config.EnvHTTPAddr+"="+addr), c.bin, "serve")
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, p.Kill)
		if err := waitHTTP("http://"+addr+"/readyz", time.Minute); err != nil {
			return nil, nil, fmt.Errorf("serve%d not ready (log %s): %w", k+1, p.Log, err)
		}
		bases = append(bases, "http://"+addr)
	}
	lb, err := startBalancer(bases...)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, lb.close)
	c.api = lb.srv
	c.endpoint = endpoint{URL: lb.srv.URL}
	return &c, stop, nil
}

// The core ingest test through the balancer on the production topology.
func TestClusterMixedBatchSealsWithExactRuns(t *testing.T) {
	s := requireCluster(t)
	t.Parallel()
	testMixedBatch(t, s)
}

// A replica and a worker SIGKILLed mid-stream on the production topology.
func TestClusterReplicaAndWorkerKilled(t *testing.T) {
	s := requireCluster(t)
	t.Parallel()
	testReplicaAndWorkerKilled(t, s)
}

// Runs execute on a task worker while it and the streambatch worker are
// SIGKILLed, on the production topology.
func TestClusterWorkersKilledMidExecution(t *testing.T) {
	s := requireCluster(t)
	t.Parallel()
	testWorkersKilledMidExecution(t, s)
}

// A namespace created a moment ago: `streambatch serve` and `worker`
// wait for it, register the search attributes and become ready only once
// the server accepts them, so the very first batch, created the moment
// the API is ready, is accepted and seals (the real server with SQL
// visibility answered its start "no mapping defined for search attribute
// BatchEnv", a 500, for a moment after registration).
func TestClusterFreshNamespaceServesAtOnce(t *testing.T) {
	s := requireCluster(t)
	t.Parallel()
	ns := "fresh-" + batch.NewStreamID()
	nc, err := sdkclient.NewNamespaceClient(sdkclient.Options{HostPort: s.temporal.FrontendHostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Register(context.Background(), &workflowservice.RegisterNamespaceRequest{Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	k := newFaultKit(t, s)
	_, key := s.newKey(t)
	cfg := s.config("fresh-" + batch.NewStreamID())
	env := append(s.env(cfg), config.EnvTemporalNamespace+"="+ns)
	k.worker(t, "worker", env)
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	k.serve(t, "serve", env, addr)
	base := "http://" + addr
	id := endpoint{base}.mustCreate(t, key, 10)
	var body bytes.Buffer
	for i := range 10 {
		fmt.Fprintf(&body, `{"index":%d,"task":"t","payload":{"i":%d}}`+"\n", i, i)
	}
	if code, res, raw := (endpoint{base}).streamWhole(t, key, id, body.Bytes()); code != http.StatusOK || !res.Sealed || res.ItemsAccepted != 10 {
		t.Fatalf("stream: %d %s", code, raw)
	}
}
