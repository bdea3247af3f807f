package bench

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// Streambatch runs scenarios through a streambatch API with the Go client.
type Streambatch struct {
	Client *client.Client
	// Replicas, when set, spread the batches: batch b goes to
	// Replicas[b % len(Replicas)] (Client is then unused by Run).
	Replicas  []*client.Client
	Temporal  tclient.Client // for history sizes; optional
	Namespace string
	// APIPid and WorkerPid are measured for peak RSS when non-zero.
	APIPid, WorkerPid int
}

// Measure is what one streambatch run of a scenario measured.
type Measure struct {
	Seconds       float64
	APIRSS        int64
	WorkerRSS     int64
	HistoryEvents int64 // largest per batch, all runs of its workflow summed
	WorkflowRuns  int   // largest per batch
	Attempts      int   // Phase 2 requests, summed over batches
	// WorkflowIDs are every batch's BatchIngest and BatchRuns, for CostOf.
	WorkflowIDs []string
}

// Run creates the scenario's batches (untimed), then times Phase 2 of all
// of them, concurrently, until every one reported sealed:true.
func (sb *Streambatch) Run(ctx context.Context, s Scenario, opts ...client.StreamOption) (Measure, error) {
	var m Measure
	ids := make([]string, s.Batches)
	for b := range ids {
		batch, err := sb.clientFor(b).CreateBatch(ctx, wire.CreateBatchRequest{RunCount: s.Items})
		if err != nil {
			return m, err
		}
		ids[b] = batch.ID
	}
	for _, pid := range []int{sb.APIPid, sb.WorkerPid} {
		if pid != 0 {
			_ = ResetPeak(pid)
		}
	}
	attempts := make([]int, s.Batches)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for b, id := range ids {
		g.Go(func() error {
			res, err := sb.clientFor(b).StreamItems(gctx, id, s.items(b, id), opts...)
			if res != nil {
				attempts[b] = res.Attempts
			}
			if err != nil {
				return fmt.Errorf("batch %s: %w", id, err)
			}
			if !res.Sealed {
				return fmt.Errorf("batch %s: not sealed", id)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return m, err
	}
	m.Seconds = time.Since(start).Seconds()
	for _, a := range attempts {
		m.Attempts += a
	}
	if sb.APIPid != 0 {
		m.APIRSS, _ = PeakRSS(sb.APIPid)
	}
	if sb.WorkerPid != 0 {
		m.WorkerRSS, _ = PeakRSS(sb.WorkerPid)
	}
	if sb.Temporal != nil {
		for _, id := range ids {
			list, err := sb.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: sb.Namespace, Query: `WorkflowId="` + id + `"`})
			if err != nil {
				return m, err
			}
			var events int64
			for _, e := range list.Executions {
				events += e.HistoryLength
			}
			m.HistoryEvents = max(m.HistoryEvents, events)
			m.WorkflowRuns = max(m.WorkflowRuns, len(list.Executions))
			m.WorkflowIDs = append(m.WorkflowIDs, id, runswf.WorkflowID(id))
		}
	}
	return m, nil
}

// clientFor returns the client of batch b.
func (sb *Streambatch) clientFor(b int) *client.Client {
	if len(sb.Replicas) == 0 {
		return sb.Client
	}
	return sb.Replicas[b%len(sb.Replicas)]
}
