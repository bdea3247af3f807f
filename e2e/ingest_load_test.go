package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/internal/bench"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/wire"
)

// 50 concurrent Phase 2 streams of 1,000 items each against one API
// process: every batch seals, no request fails, and the API's memory stays
// bounded (its peak RSS is reported).
func TestLoadFiftyConcurrentStreams(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(s.env(s.cfg), config.EnvHTTPAddr+"="+addr, config.EnvCreateRate+"=0")
	p, err := proc.StartProcess(filepath.Join(s.dir, "serve-load.log"), env, s.bin, "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(10 * time.Second)
	base := "http://" + addr
	if err := waitHTTP(base+"/readyz", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	_, key := s.newKey(t)
	c, err := client.New(base, key, client.WithRetry(client.RetryPolicy{MaxAttempts: 8}))
	if err != nil {
		t.Fatal(err)
	}
	const streams, n = 50, 1000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var g errgroup.Group
	ids := make([]string, streams)
	for k := range streams {
		g.Go(func() error {
			items := make([]client.Item, n)
			for i := range items {
				items[i] = client.Item{Index: i, Task: "load", Payload: client.StringPayload(fmt.Sprintf(`{"stream":%d,"i":%d,"pad":"%s"}`, k, i, randomText(uint64(i), 150)))}
			}
			res, err := c.TriggerBatch(ctx, wire.CreateBatchRequest{RunCount: n}, client.Items(items))
			if err == nil && (!res.Stream.Sealed || res.Stream.ItemsAccepted != n) {
				err = fmt.Errorf("stream %d: %+v", k, res.Stream)
			}
			if err == nil {
				ids[k] = res.Batch.ID
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for _, id := range ids {
		if total, _, err := s.app.Store.CountRuns(ctx, id); err != nil || total != n {
			t.Fatalf("batch %s: %d runs: %v", id, total, err)
		}
	}
	rss, err := bench.PeakRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d streams × %d items sealed in %s (%.0f items/s); API peak RSS %.0f MiB", streams, n, elapsed.Round(time.Millisecond),
		float64(streams*n)/elapsed.Seconds(), float64(rss)/(1<<20))
	// The API's soft memory limit is STREAMBATCH_INGEST_MEMORY + 48 MiB;
	// leave 128 MiB for the runtime, the binary and connections.
	if limit := s.cfg.SoftMemoryLimit(config.RoleServe) + 128<<20; rss > limit {
		t.Fatalf("API peak RSS %d MiB, over %d MiB: memory is not bounded", rss>>20, limit>>20)
	}
}
