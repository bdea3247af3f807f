package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// streamItems is Phase 2: POST /api/v3/batches/:batchId/items.
func (s *Server) streamItems(c *gin.Context) {
	b, ok := s.loadBatch(c, http.StatusUnprocessableEntity)
	if !ok {
		return
	}
	if b.Done() {
		// A retry after the seal: success, and the body is not read.
		c.JSON(http.StatusOK, wire.StreamItemsResponse{ID: b.ID, Sealed: true, RunCount: b.RunCount})
		return
	}
	if b.Status != batch.StatusPending {
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is not in PENDING status (current: "+string(b.Status)+")")
		return
	}
	if c.Request.ContentLength == 0 {
		fail(c, http.StatusBadRequest, "Request body is required")
		return
	}
	ctx := c.Request.Context()
	start := time.Now()
	seen, err := s.acceptedBefore(ctx, b)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	snapshot := time.Since(start)
	body, lift := s.streamBody(c)
	// A public access token (keyIDOf 0) may reference only the batch's own
	// uploads: a browser must not reach the environment's other objects.
	// A batch a public token created takes items of its tasks only.
	tok, _ := tokenOf(c)
	res, err := s.ingester.Ingest(ctx, ingest.Request{Batch: s.workflowInput(b), Body: body, Seen: seen, OwnUploadsOnly: keyIDOf(c) == 0, Tasks: tok.tasks})
	lift()
	if errors.Is(err, ingestwf.ErrClosed) {
		// The workflow finished while we streamed: report how.
		s.answerFinished(c, b.ID, res)
		return
	}
	s.metrics.Ingested(res.Accepted, res.Deduplicated, res.Bytes, res.OffloadedBytes)
	if err != nil {
		s.failIngest(c, err)
		return
	}
	s.log.InfoContext(ctx, "stream ingested", "batch_id", b.ID, "request_id", requestID(c), "items", res.Items,
		"accepted", res.Accepted, "deduplicated", res.Deduplicated, "offloaded", res.Offloaded,
		"chunks", res.Chunks, "staged", res.Staged, "bytes", res.Bytes,
		"snapshot_ms", snapshot.Milliseconds(), "ingest_ms", (time.Since(start) - snapshot).Milliseconds())
	resp := wire.StreamItemsResponse{ID: b.ID, ItemsAccepted: res.Accepted, ItemsDeduplicated: res.Deduplicated, RunCount: b.RunCount}
	if !seen.Full() {
		// Indexes are missing: answer at once, the client will re-send.
		enq, exp := seen.Len(), b.RunCount
		resp.EnqueuedCount, resp.ExpectedCount = &enq, &exp
		s.metrics.Phase2("not_sealed")
		c.JSON(http.StatusOK, resp)
		return
	}
	s.awaitSeal(c, b, resp)
}

// errNoSealWait stands for the wait a zero SealWait skips: the answer
// then rests on the durable acceptance.
var errNoSealWait = errors.New("no seal wait")

// waitForSeal waits up to SealWait for the batch's workflow to seal or
// abort it: for the workflow's end, or, for a batch small enough that its
// BatchIngest may go on to execute its runs (then it ends with them), for
// the batch's row to leave PENDING, whichever comes first.
func (s *Server) waitForSeal(ctx context.Context, b store.Batch) (ingestwf.Result, error) {
	id := b.ID
	if s.opts.SealWait <= 0 {
		return ingestwf.Result{}, errNoSealWait
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.SealWait)
	defer cancel()
	start := time.Now()
	end := make(chan workflowEnd, 1) // the goroutine never blocks: it ends with wctx
	go func() {
		r, err := s.wf.Wait(wctx, id)
		end <- workflowEnd{r, err}
	}()
	var r ingestwf.Result
	var err error
	if rh := s.opts.RunsHere; rh != nil && b.RunCount <= rh.MaxRuns {
		r, err = s.awaitSealed(wctx, id, end)
	} else {
		e := <-end
		r, err = e.r, e.err
	}
	s.log.DebugContext(ctx, "seal wait", "batch_id", id, "wait_ms", time.Since(start).Milliseconds(), "error", err)
	return r, err
}

// workflowEnd is what waiting for a BatchIngest gave.
type workflowEnd struct {
	r   ingestwf.Result
	err error
}

// sealPolling is when waitForSeal reads a small batch's row: at once, then
// when PostgreSQL notifies that the batch settled (store.WatchSettled),
// and meanwhile, a fallback, from first doubling to most; while the
// notifications' listener is down, from firstDown doubling to mostDown (a
// listener that drops or comes back during a wait wakes it: it reads the
// row again and switches schedule).
// Only the requests that completed a small batch wait so, each for as
// long as its seal takes (tens of milliseconds: one chunk, local
// activities), within SealWait. The zero value is the defaults.
type sealPolling struct {
	first, most, firstDown, mostDown time.Duration
}

// schedule is the first poll interval and the most, for a listener that
// is up or down.
func (p sealPolling) schedule(listening bool) (first, most time.Duration) {
	if listening {
		return p.first, p.most
	}
	return p.firstDown, p.mostDown
}

// orDefault returns p, or the defaults for its zero value.
func (p sealPolling) orDefault() sealPolling {
	if p == (sealPolling{}) {
		return sealPolling{first: 100 * time.Millisecond, most: 500 * time.Millisecond,
			firstDown: 10 * time.Millisecond, mostDown: 100 * time.Millisecond}
	}
	return p
}

// awaitSealed returns the workflow's result from end, or a result made from
// the batch's row once it is sealed or aborted, or wctx's error.
func (s *Server) awaitSealed(wctx context.Context, id string, end <-chan workflowEnd) (ingestwf.Result, error) {
	settled, live, stop := s.store.WatchSettled(id)
	defer stop()
	p := s.sealPoll.orDefault()
	listening := live()
	every, most := p.schedule(listening)
	poll := time.NewTimer(every)
	defer poll.Stop()
	for {
		b, err := s.store.GetBatchAnyEnv(wctx, id)
		switch {
		case err != nil:
		case b.Sealed:
			return ingestwf.Result{BatchID: id, State: ingestwf.StateSealed, SealedAt: b.SealedAt}, nil
		case b.Status == batch.StatusAborted:
			r := ingestwf.Result{BatchID: id, State: ingestwf.StateAborted}
			if b.AbortReason != nil {
				r.Reason = *b.AbortReason
			}
			return r, nil
		}
		select {
		case e := <-end:
			return e.r, e.err
		case <-wctx.Done():
			return ingestwf.Result{}, wctx.Err()
		case <-settled:
			// Read the row again. The listener dropping or coming back
			// wakes every waiter too: the poll follows its state.
			if now := live(); now != listening {
				listening = now
				every, most = p.schedule(listening)
				poll.Reset(every)
			}
			continue
		case <-poll.C:
		}
		every = min(2*every, most)
		poll.Reset(every)
	}
}

// awaitSeal answers a stream that delivered every index: sealed when the
// workflow reports the seal within SealWait, else on the strength of the
// durably accepted items.
func (s *Server) awaitSeal(c *gin.Context, b store.Batch, resp wire.StreamItemsResponse) {
	ctx := c.Request.Context()
	r, err := s.waitForSeal(ctx, b)
	switch {
	case err == nil && r.State == ingestwf.StateSealed:
		resp.Sealed = true
		s.metrics.Phase2("sealed")
		c.JSON(http.StatusOK, resp)
		return
	case err == nil:
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" was aborted: "+r.Reason)
		return
	case ctx.Err() != nil:
		return // the client went away
	}
	// The wait ran out (or the workflow could not be read): report from
	// the row, which the Seal activity updates.
	now, gerr := s.store.GetBatchAnyEnv(ctx, b.ID)
	if gerr == nil && now.Done() {
		resp.Sealed = true
		s.metrics.Phase2("sealed")
		c.JSON(http.StatusOK, resp)
		return
	}
	if gerr == nil && now.Status == batch.StatusAborted {
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is not in PENDING status (current: ABORTED)")
		return
	}
	// Every index is durably accepted (this stream and the earlier ones
	// signalled them), but nothing reported the seal in time: no worker
	// runs, or it is slow. The items are safe and will become runs when a
	// worker runs, so the answer is sealed:true, as trigger.dev answers once
	// items are in its queue; GET reports sealed with status PENDING until
	// the runs exist.
	if aerr := s.store.MarkAccepted(ctx, b.ID); aerr != nil {
		s.failInternal(c, aerr, true)
		return
	}
	if !errors.Is(err, errNoSealWait) {
		s.log.WarnContext(ctx, "seal not reported in time; every item is accepted", "batch_id", b.ID, "wait", s.opts.SealWait, "error", err)
	}
	resp.Sealed = true
	s.metrics.Phase2("accepted")
	c.JSON(http.StatusOK, resp)
}

// answerFinished answers a stream whose workflow finished meanwhile.
func (s *Server) answerFinished(c *gin.Context, id string, res ingest.Result) {
	b, err := s.store.GetBatchAnyEnv(c.Request.Context(), id)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	if b.Done() {
		c.JSON(http.StatusOK, wire.StreamItemsResponse{ID: b.ID, ItemsDeduplicated: res.Accepted + res.Deduplicated, Sealed: true, RunCount: b.RunCount})
		return
	}
	fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is not in PENDING status (current: "+string(b.Status)+")")
}

// acceptedBefore returns the indexes accepted before this Phase 2 request
// (store.AcceptedIndexes: exact for every request that was answered), so a
// re-sent stream skips them without uploading or signalling anything. An
// index that a concurrent request delivers too is deduplicated by the
// workflow. The batch's first request knows the answer (none) without
// asking.
func (s *Server) acceptedBefore(ctx context.Context, b store.Batch) (*batch.IndexSet, error) {
	n, err := s.store.BeginStream(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	if n == 1 {
		return batch.NewIndexSet(b.RunCount), nil
	}
	return s.store.AcceptedIndexes(ctx, b.ID, b.RunCount)
}
