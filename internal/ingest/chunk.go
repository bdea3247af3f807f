package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// chunk is a group of accepted items on its way to a signal.
type chunk struct {
	items        []batch.Item
	indexes      []int
	failed       []int
	keptBytes    int   // payload bytes kept in the chunk (not offloaded)
	payloadBytes int64 // all payload bytes, offloaded included
	held         int64 // bytes of the process-wide memory budget it holds
	uploads      sync.WaitGroup
}

// release returns the chunk's share of the memory budget (once).
func (c *chunk) release(g *Ingester) {
	g.releaseMemory(c.held)
	c.held = 0
}

// add puts an accepted item into the current chunk, starting the upload of
// its payload when it is at or above the offload threshold, and flushes the
// chunk when it is full. Blocking on the upload, chunk and memory bounds is
// what slows the reader (and the client) down when storage is slower.
func (s *stream) add(ctx context.Context, it batch.Item) error {
	size := 0
	if it.Payload != nil {
		size = len(*it.Payload)
	}
	offload := it.Payload != nil && it.PayloadType != batch.PayloadTypeStore && size >= s.g.limits.OffloadThreshold
	// Memory the item holds until it is uploaded (offloaded) or signalled
	// (kept; counted twice for the chunk's encoded copy).
	need := int64(size)
	if !offload {
		need = 2 * int64(size+len(it.Options)+len(it.Task)+64)
	}
	if err := s.reserve(ctx, need); err != nil {
		return err
	}
	if s.cur == nil {
		s.cur = &chunk{}
	}
	c := s.cur
	if offload {
		if err := s.offload(ctx, c, &it, need); err != nil {
			s.g.releaseMemory(need)
			return err
		}
	} else {
		c.held += need
		if it.PayloadType != batch.PayloadTypeStore {
			c.keptBytes += size
		}
	}
	c.payloadBytes += int64(size)
	c.items = append(c.items, it)
	c.indexes = append(c.indexes, it.Index)
	if it.Failed() {
		c.failed = append(c.failed, it.Index)
	}
	if len(c.items) >= s.g.limits.ChunkItems || c.keptBytes >= maxStagedChunkBytes || c.payloadBytes >= int64(s.g.limits.ChunkBytes) {
		return s.flush(ctx, false)
	}
	return nil
}

// reserve takes n bytes of the process-wide memory budget. When the budget
// is spent (many concurrent streams), it first sends this stream's partial
// chunk, whose memory then comes back, so streams never wait on each other
// while holding what the others need.
func (s *stream) reserve(ctx context.Context, n int64) error {
	if s.g.mem == nil {
		return nil
	}
	n = min(n, s.g.memCap)
	if s.g.mem.TryAcquire(n) {
		return nil
	}
	if err := s.flush(ctx, false); err != nil {
		return err
	}
	return s.g.mem.Acquire(ctx, n)
}

// offload starts writing the item's payload to its packet key and turns
// the item into a reference to it; held bytes of the budget are released
// when the upload ends.
func (s *stream) offload(ctx context.Context, c *chunk, it *batch.Item, held int64) error {
	data := *it.Payload
	size := int64(len(data))
	contentType := it.PayloadType
	key := batch.PacketKey(s.req.Batch.Env, s.req.Batch.BatchID, it.Index, s.id)
	if err := s.uploads.Acquire(ctx, 1); err != nil {
		return err
	}
	if err := s.upBytes.Acquire(ctx, size); err != nil {
		s.uploads.Release(1)
		return err
	}
	it.Payload, it.PayloadType, it.PacketSize = &key, batch.PayloadTypeStore, size
	s.res.Offloaded++
	s.res.OffloadedBytes += size
	c.uploads.Add(1)
	s.eg.Go(func() error {
		defer c.uploads.Done()
		defer s.uploads.Release(1)
		defer s.upBytes.Release(size)
		defer s.g.releaseMemory(held)
		return s.g.objects.Put(ctx, key, contentType, strings.NewReader(data), size)
	})
	return nil
}

// flush hands the current chunk to a goroutine that waits for its uploads,
// stages it unless it may travel inline, and signals it. Only the last
// chunk of a stream (last) may travel inline, and only when small: an
// inline chunk is written to workflow history twice and carried through
// continue-as-new, so a stream of small chunks must not be inline.
func (s *stream) flush(ctx context.Context, last bool) error {
	c := s.cur
	if c == nil || len(c.items) == 0 {
		return nil
	}
	s.cur = nil
	if err := s.chunks.Acquire(ctx, 1); err != nil {
		// The stream is failing: the chunk will never be sent, so its
		// share of the budget comes back now (its uploads release their
		// own).
		c.release(s.g)
		return err
	}
	seq := s.seq
	s.seq++
	s.eg.Go(func() error {
		defer s.chunks.Release(1)
		defer c.release(s.g)
		start := time.Now()
		c.uploads.Wait()
		s.g.metrics.ChunkStage("uploads", time.Since(start))
		if err := ctx.Err(); err != nil {
			return err // an upload failed; its error is the group's
		}
		return s.send(ctx, c, seq, last)
	})
	return nil
}

// send encodes, stages if needed, and signals one chunk.
func (s *stream) send(ctx context.Context, c *chunk, seq int, last bool) error {
	ref := batch.ChunkRef{
		Stream:       s.id,
		Seq:          seq,
		Indexes:      batch.RangesOf(c.indexes),
		Failed:       c.failed,
		PayloadBytes: c.payloadBytes,
	}
	body := batch.EncodeItems(c.items)
	ref.Size = int64(len(body))
	inline := false
	if last && len(body) <= s.g.limits.ChunkInlineBytes {
		// What the signal really carries is JSON, larger for tiny items.
		js, err := json.Marshal(c.items)
		inline = err == nil && len(js) <= s.g.limits.ChunkInlineBytes
	}
	if inline {
		ref.Items = c.items
	} else {
		ref.Key = batch.StagedChunkKey(s.req.Batch.Env, s.req.Batch.BatchID, s.id, seq)
	}
	if err := s.g.signer.Sign(s.req.Batch.BatchID, s.req.Batch.Env, &ref, body); err != nil {
		return err
	}
	if !inline {
		start := time.Now()
		if err := s.g.objects.Put(ctx, ref.Key, "application/octet-stream", bytes.NewReader(body), ref.Size); err != nil {
			return err
		}
		s.g.metrics.ChunkStage("stage", time.Since(start))
		s.staged.Add(1)
	}
	start := time.Now()
	if err := s.g.signaler.SignalChunk(ctx, s.req.Batch, ref); err != nil {
		return err
	}
	s.g.metrics.ChunkStage("signal", time.Since(start))
	s.signalled.Add(1)
	return nil
}

// abandon drops the chunk being built after a read error.
func (s *stream) abandon() {
	if s.cur != nil {
		s.cur.release(s.g)
		s.cur = nil
	}
}
