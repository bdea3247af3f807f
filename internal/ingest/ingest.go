package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/ndjson"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// Signaler delivers a chunk reference to a batch's workflow.
type Signaler interface {
	SignalChunk(ctx context.Context, in ingestwf.Input, ch batch.ChunkRef) error
}

// Objects writes objects to the bucket.
type Objects interface {
	Put(ctx context.Context, key, contentType string, body io.ReadSeeker, size int64) error
}

// Limits are the pipeline's bounds; see config.Config for each one's
// meaning and default.
type Limits struct {
	ItemMaxBytes        int
	OffloadThreshold    int
	ChunkItems          int
	ChunkBytes          int
	ChunkInlineBytes    int
	ChunksInFlight      int
	UploadsInFlight     int
	UploadBytesInFlight int
	// Memory bounds the bytes all streams of the process hold at once
	// (kept items and uploads); 0 means no process-wide bound.
	Memory int
}

// maxStagedChunkBytes bounds the payload bytes a chunk keeps (not
// offloaded) and thus the size of its staged object.
const maxStagedChunkBytes = 8 << 20

// Ingester runs Phase 2 streams. It is safe for concurrent use; every call
// to Ingest has its own bounds.
type Ingester struct {
	limits   Limits
	objects  Objects
	signaler Signaler
	signer   *batch.ChunkSigner
	log      *slog.Logger
	mem      *semaphore.Weighted // process-wide memory budget (nil: none)
	memCap   int64
	metrics  *metrics.Metrics
}

// New returns an Ingester that signs every chunk it signals with signer;
// m may be nil.
func New(limits Limits, objects Objects, signaler Signaler, signer *batch.ChunkSigner, log *slog.Logger, m *metrics.Metrics) *Ingester {
	g := &Ingester{limits: limits, objects: objects, signaler: signaler, signer: signer, log: log, metrics: m}
	if limits.Memory > 0 {
		g.memCap = int64(limits.Memory)
		g.mem = semaphore.NewWeighted(g.memCap)
	}
	return g
}

func (g *Ingester) releaseMemory(n int64) {
	if g.mem != nil && n > 0 {
		g.mem.Release(min(n, g.memCap))
	}
}

// Request is one Phase 2 stream.
type Request struct {
	// Batch identifies the batch and starts its workflow if needed.
	Batch ingestwf.Input
	// Body is the NDJSON stream.
	Body io.Reader
	// Seen holds the indexes accepted before this request (capacity
	// runCount). Ingest adds every index it accepts.
	Seen *batch.IndexSet
	// OwnUploadsOnly restricts application/store payloads to the batch's
	// own uploads (batch.UploadPrefix): set it for a stream authenticated
	// by a public access token, which must not reach the other objects of
	// its environment. An item naming another path is refused (422).
	OwnUploadsOnly bool
	// Tasks, when not nil, are the only tasks items may name (a batch a
	// public token created for those tasks); another is refused (422).
	Tasks []string
}

// Result counts what a stream delivered.
type Result struct {
	// Items counts the items read (oversized lines included).
	Items int
	// Accepted counts items whose index was new; Deduplicated those whose
	// index was already accepted, before or earlier in this stream.
	Accepted     int
	Deduplicated int
	// Offloaded counts payloads written to packet keys, OffloadedBytes
	// their size.
	Offloaded      int
	OffloadedBytes int64
	// Chunks counts chunk signals sent; Staged those staged in S3.
	Chunks int
	Staged int
	// Bytes counts body bytes read.
	Bytes int64
}

// Ingest reads the whole body and returns once every accepted item is in a
// chunk that was durably signalled. On error, chunks signalled before it
// stay accepted (a corrected re-send skips them); items of unsignalled
// chunks are not.
func (g *Ingester) Ingest(ctx context.Context, req Request) (Result, error) {
	eg, ectx := errgroup.WithContext(ctx)
	s := &stream{
		g:       g,
		req:     req,
		eg:      eg,
		id:      batch.NewStreamID(),
		rules:   itemRules{runCount: req.Batch.RunCount, env: req.Batch.Env},
		chunks:  semaphore.NewWeighted(int64(max(1, g.limits.ChunksInFlight))),
		uploads: semaphore.NewWeighted(int64(max(1, g.limits.UploadsInFlight))),
		upBytes: semaphore.NewWeighted(int64(max(g.limits.UploadBytesInFlight, g.limits.ItemMaxBytes))),
	}
	if req.OwnUploadsOnly {
		s.rules.uploadsOf = req.Batch.BatchID
	}
	s.rules.tasks = req.Tasks
	readErr := s.read(ectx)
	if readErr != nil {
		s.abandon()
	}
	waitErr := eg.Wait()
	s.res.Bytes = s.bytes
	s.res.Chunks, s.res.Staged = int(s.signalled.Load()), int(s.staged.Load())
	// A cancelled wait inside read is a consequence of a failed upload or
	// signal: report that cause instead.
	if readErr != nil && !(waitErr != nil && errors.Is(readErr, context.Canceled)) {
		return s.res, readErr
	}
	if waitErr != nil {
		return s.res, waitErr
	}
	return s.res, nil
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// stream is the state of one Ingest call.
type stream struct {
	g     *Ingester
	req   Request
	eg    *errgroup.Group
	id    string
	rules itemRules
	res   Result
	bytes int64

	chunks  *semaphore.Weighted // chunks between full and signalled
	uploads *semaphore.Weighted // packet uploads in flight
	upBytes *semaphore.Weighted // payload bytes held by uploads in flight

	cur *chunk
	seq int

	signalled, staged atomic.Int64 // written by send goroutines
}

// read consumes the body, building and flushing chunks.
func (s *stream) read(ctx context.Context) error {
	rd := ndjson.NewReader(s.req.Body, s.g.limits.ItemMaxBytes)
	defer func() { s.bytes = rd.Bytes() }()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var se *ndjson.SyntaxError
		if errors.As(err, &se) {
			return s.stop(ctx, &SyntaxError{Line: se.Line, Msg: se.Msg})
		}
		if err != nil {
			return s.stop(ctx, &BodyError{Err: err})
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var it batch.Item
		if rec.Oversized {
			it, err = oversizedItem(rec, s.rules, s.g.limits.ItemMaxBytes)
		} else {
			// A byte-order mark is not part of the JSON (JavaScript's
			// TextDecoder drops it too).
			it, err = decodeItem(rec.Line, bytes.TrimPrefix(rec.Data, utf8BOM), s.rules)
			if err == nil {
				err = checkStorable(rec.Line, &it)
			}
		}
		if err != nil {
			return s.stop(ctx, err)
		}
		s.res.Items++
		if !s.req.Seen.Add(it.Index) {
			s.res.Deduplicated++
			continue
		}
		s.res.Accepted++
		if err := s.add(ctx, it); err != nil {
			return err
		}
	}
	return s.flush(ctx, true)
}

// stop ends reading at a bad line or a broken body: the items before it are
// valid and complete, so their chunk is still sent (best effort; the
// request's own error is what the client gets). Their payload uploads thus
// always end up referenced by a run.
func (s *stream) stop(ctx context.Context, err error) error {
	_ = s.flush(ctx, true)
	return err
}
