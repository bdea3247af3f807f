package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/streambatch/streambatch/jsonscan"
	"github.com/streambatch/streambatch/wire"
)

// WithPayloadUploads makes the client upload every payload of at least
// threshold bytes itself, before streaming its item, as the trigger.dev
// SDK does for payloads of 128 KiB or more: it asks the server for a
// presigned URL (PUT /api/v2/packets/…), PUTs the payload there with at
// most parallel uploads in flight, and sends the item as an
// application/store reference. The request body then carries references
// only, and the payload bytes go to object storage once, straight from
// the client. threshold ≤ 0 turns it off (the default: the server offloads
// large payloads itself). Uploads run while the source is still being read:
// a source must not reuse an item's Payload buffer for later items.
func WithPayloadUploads(threshold, parallel int) StreamOption {
	return func(s *streamConfig) {
		s.uploadThreshold = threshold
		s.uploadParallel = max(parallel, 1)
	}
}

// offloaded returns items with every payload of at least threshold bytes
// uploaded and replaced by its storage path (only for items that sends
// reports true for: the others are not sent in this attempt), in the
// source's order, with at most parallel uploads (and items held) in flight.
func (c *Client) offloaded(ctx context.Context, batchID string, items iter.Seq2[Item, error], sends func(index int) bool, threshold, parallel int) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		type result struct {
			item Item
			err  error
			held int64 // bytes of the queue's budget it holds
		}
		// The queue keeps the source's order. Small items wait in it while
		// the large ones before them upload: bounded by count and by bytes
		// (queueBytes), so that a large item every few small ones still
		// keeps every upload slot busy; large payloads are bounded by the
		// uploads in flight.
		queue := make(chan chan result, queueItems)
		held := semaphore.NewWeighted(queueBytes)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallel)
		go func() {
			defer close(queue)
			for it, err := range items {
				done := make(chan result, 1)
				switch {
				case err != nil:
					done <- result{err: err}
				case len(it.Payload) < threshold || !sends(it.Index):
					w := weight(it)
					if err := held.Acquire(ctx, w); err != nil {
						return
					}
					done <- result{item: it, held: w}
				default:
					g.Go(func() error {
						up, uerr := c.uploadPayload(gctx, batchID, it)
						done <- result{item: up, err: uerr}
						return nil
					})
				}
				select {
				case queue <- done:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer func() {
			cancel()
			for range queue { // let the producer finish
			}
			_ = g.Wait()
		}()
		for done := range queue {
			var r result
			select {
			case r = <-done:
			case <-ctx.Done():
				yield(Item{}, ctx.Err())
				return
			}
			held.Release(r.held)
			if !yield(r.item, r.err) || r.err != nil {
				return
			}
		}
	}
}

// The queue of items waiting for the uploads before them: at most
// queueItems items holding at most queueBytes of small payloads.
const (
	queueItems = 4096
	queueBytes = 16 << 20
)

// weight is what an item waiting in the queue holds, bounded by the
// budget so that one item never waits for more than all of it.
func weight(it Item) int64 {
	return min(int64(len(it.Payload)+len(it.Options)+64), queueBytes)
}

// uploadPayload uploads it's payload to a presigned URL and returns the
// item with an application/store reference in its place. The object is
// named after the batch and the index, so a retried attempt overwrites
// its own upload with the same bytes.
func (c *Client) uploadPayload(ctx context.Context, batchID string, it Item) (Item, error) {
	data := storedForm(it.Payload)
	// Under the batch's uploads folder: the only paths a stream sent with
	// the batch's public access token may reference (batch.UploadPrefix).
	filename := fmt.Sprintf("uploads/%s/item_%d.json", batchID, it.Index)
	var ps wire.Packet
	if _, err := c.do(ctx, http.MethodPut, "/api/v2/packets/"+filename, nil, &ps); err != nil {
		return it, fmt.Errorf("streambatch: presign the payload of item %d: %w", it.Index, err)
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		lastErr = c.put(ctx, ps.PresignedURL, data)
		if lastErr == nil || !retryable(lastErr) || attempt >= c.retry.MaxAttempts {
			break
		}
		if err := sleep(ctx, c.retry.backoff(attempt, lastErr)); err != nil {
			break
		}
	}
	if lastErr != nil {
		return it, fmt.Errorf("streambatch: upload the payload of item %d: %w", it.Index, lastErr)
	}
	opts := map[string]any{}
	if len(it.Options) > 0 {
		if err := json.Unmarshal(it.Options, &opts); err != nil {
			return it, &SourceError{Err: fmt.Errorf("item %d: options: %w", it.Index, err)}
		}
	}
	opts["payloadType"] = "application/store"
	it.Options, _ = json.Marshal(opts)
	it.Payload = StringPayload(ps.StoragePath)
	return it, nil
}

// storedForm is what an uploaded payload's object holds: a JSON string is
// stored as the string itself (decoded without encoding/json, which takes
// ~10 ms per MiB), any other JSON as its text.
func storedForm(payload json.RawMessage) []byte {
	data := jsonscan.TrimSpace(payload)
	if len(data) < 2 || data[0] != '"' || jsonscan.SkipString(data, 0) != len(data) {
		return payload
	}
	if s, ok := jsonscan.UnquoteBytes(data); ok {
		return s // aliases payload when it holds no escape
	}
	return payload
}

// put PUTs data to a presigned URL (no API key: the URL is the credential).
func (c *Client) put(ctx context.Context, presigned string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, presigned, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(data))
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(req, resp, body)
	}
	return nil
}
