package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/jsonscan"
	"github.com/streambatch/streambatch/wire"
)

// Item is one batch item as sent in Phase 2.
type Item struct {
	// Index is the item's 0-based position (0 ≤ Index < runCount).
	Index int `json:"index"`
	// Task is the task identifier.
	Task string `json:"task"`
	// Payload is any JSON value; the server stores a JSON string as is and
	// any other value as its JSON text. See StringPayload.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Options is the item's options object (trigger.dev item options).
	Options json.RawMessage `json:"options,omitempty"`
}

// StringPayload returns s as a JSON string payload (what the trigger.dev
// SDK sends: the serialized packet).
func StringPayload(s string) json.RawMessage {
	return jsonscan.Quote(s)
}

// Items adapts a slice to the iterator StreamItems takes.
func Items(items []Item) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}

// StreamResult is Phase 2's outcome, summed over attempts.
type StreamResult struct {
	wire.StreamItemsResponse
	// Attempts counts the requests made.
	Attempts int `json:"-"`
}

// Progress reports how much of the current attempt has been sent.
type Progress struct {
	Attempt int
	Items   int   // items written in this attempt
	Bytes   int64 // body bytes written in this attempt
	Skipped int   // items skipped because the server already had them
}

// StreamOption configures StreamItems.
type StreamOption func(*streamConfig)

type streamConfig struct {
	progress        func(Progress)
	uploadThreshold int
	uploadParallel  int
}

// WithProgress calls fn after each item written (from the goroutine that
// writes the body; keep it cheap).
func WithProgress(fn func(Progress)) StreamOption {
	return func(s *streamConfig) { s.progress = fn }
}

// StreamItems streams items to a batch (Phase 2). items is called once per
// attempt and must yield the same items each time (re-read the file, or
// use Items); memory stays bounded whatever its length. A failed attempt
// (network error, 408, 409, 429, 5xx) or an answer of sealed:false is
// followed, after a backoff, by a request for the missing index ranges and
// a new attempt that sends only those items. When attempts run out on an
// unsealed batch the error is a *NotSealedError.
func (c *Client) StreamItems(ctx context.Context, batchID string, items iter.Seq2[Item, error], opts ...StreamOption) (*StreamResult, error) {
	var cfg streamConfig
	for _, o := range opts {
		o(&cfg)
	}
	total := &StreamResult{StreamItemsResponse: wire.StreamItemsResponse{ID: batchID}}
	var missing batch.Ranges // nil: send everything
	for attempt := 1; ; attempt++ {
		total.Attempts = attempt
		res, err := c.streamOnce(ctx, batchID, items, missing, attempt, cfg)
		if err == nil {
			total.ItemsAccepted += res.ItemsAccepted
			total.ItemsDeduplicated += res.ItemsDeduplicated
			total.Sealed, total.RunCount = res.Sealed, res.RunCount
			total.EnqueuedCount, total.ExpectedCount = res.EnqueuedCount, res.ExpectedCount
			if res.Sealed {
				return total, nil
			}
		} else if !retryable(err) || ctx.Err() != nil {
			return total, err
		}
		if attempt >= c.retry.MaxAttempts {
			if err != nil {
				return total, err
			}
			ns := &NotSealedError{BatchID: batchID, ItemsAccepted: total.ItemsAccepted, ItemsDeduplicated: total.ItemsDeduplicated}
			if res.EnqueuedCount != nil {
				ns.EnqueuedCount = *res.EnqueuedCount
			}
			if res.ExpectedCount != nil {
				ns.ExpectedCount = *res.ExpectedCount
			}
			return total, ns
		}
		if serr := sleep(ctx, c.retry.backoff(attempt, err)); serr != nil {
			return total, serr
		}
		// Re-send only what the server lacks. If it cannot tell us (or the
		// list is truncated), re-send everything: duplicates are cheap.
		missing = nil
		if m, merr := c.MissingIndexes(ctx, batchID, 10000); merr == nil && !m.More {
			missing = m.Missing
			if missing == nil {
				missing = batch.Ranges{}
			}
		}
	}
}

// streamOnce sends one Phase 2 request, writing the items (only those in
// missing, when it is non-nil) from a goroutine through a pipe.
func (c *Client) streamOnce(ctx context.Context, batchID string, items iter.Seq2[Item, error], missing batch.Ranges, attempt int, cfg streamConfig) (*wire.StreamItemsResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.uploadThreshold > 0 {
		sends := func(i int) bool { return missing == nil || missing.Contains(i) }
		items = c.offloaded(ctx, batchID, items, sends, cfg.uploadThreshold, cfg.uploadParallel)
	}
	pr, pw := io.Pipe()
	var srcErr atomic.Pointer[error]
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := writeItems(pw, items, missing, attempt, cfg.progress)
		var se *SourceError
		if errors.As(err, &se) {
			srcErr.Store(&err)
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/api/v3/batches/"+url.PathEscape(batchID)+"/items"), pr)
	if err != nil {
		pr.Close()
		<-done
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	var res wire.StreamItemsResponse
	_, err = c.send(req, &res)
	pr.CloseWithError(errors.New("request finished"))
	<-done
	if p := srcErr.Load(); p != nil {
		return nil, *p
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// countingWriter counts bytes written.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeItems encodes items as NDJSON into w, buffered so that the request
// body moves in large pieces rather than one small write per item.
func writeItems(w io.Writer, items iter.Seq2[Item, error], missing batch.Ranges, attempt int, progress func(Progress)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := encodeItems(bw, items, missing, attempt, progress); err != nil {
		return err
	}
	return bw.Flush()
}

func encodeItems(w io.Writer, items iter.Seq2[Item, error], missing batch.Ranges, attempt int, progress func(Progress)) error {
	cw := &countingWriter{w: w}
	p := Progress{Attempt: attempt}
	var line []byte
	for it, err := range items {
		if err != nil {
			return &SourceError{Err: err}
		}
		if missing != nil && !missing.Contains(it.Index) {
			p.Skipped++
			continue
		}
		line, err = appendItem(line[:0], it)
		if err != nil {
			return &SourceError{Err: fmt.Errorf("item %d: %w", it.Index, err)}
		}
		if _, err := cw.Write(line); err != nil {
			return err
		}
		p.Items++
		p.Bytes = cw.n
		if progress != nil {
			progress(p)
		}
	}
	if p.Items == 0 {
		// Nothing to send: a blank line keeps the body non-empty (the
		// server skips it), so the request still reports the seal.
		_, err := io.WriteString(cw, "\n")
		return err
	}
	return nil
}

// appendItem appends it as one NDJSON line. Payload and Options are written
// as given (the server rejects invalid JSON with the line number), so a
// multi-megabyte payload is not scanned again here.
func appendItem(dst []byte, it Item) ([]byte, error) {
	task, err := json.Marshal(it.Task)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, int64(it.Index), 10)
	dst = append(dst, `,"task":`...)
	dst = append(dst, task...)
	if len(it.Payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = appendOneLine(dst, it.Payload)
	}
	if len(it.Options) > 0 {
		dst = append(dst, `,"options":`...)
		dst = appendOneLine(dst, it.Options)
	}
	return append(dst, "}\n"...), nil
}

// appendOneLine appends JSON text with its line breaks turned into spaces:
// in valid JSON they can only be whitespace between tokens (a string holds
// them escaped), and a raw one would split the NDJSON line.
func appendOneLine(dst, raw []byte) []byte {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...)
	}
	for _, c := range raw {
		if c == '\n' || c == '\r' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// TriggerResult is the outcome of TriggerBatch.
type TriggerResult struct {
	Batch  *Batch
	Stream *StreamResult // nil when the batch was cached (not streamed again)
}

// TriggerBatch runs both phases: it creates the batch and streams the
// items, unless the idempotency key found an existing batch (then nothing
// is streamed, as the trigger.dev SDK does).
func (c *Client) TriggerBatch(ctx context.Context, req wire.CreateBatchRequest, items iter.Seq2[Item, error], opts ...StreamOption) (*TriggerResult, error) {
	b, err := c.CreateBatch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &TriggerResult{Batch: b}
	if b.IsCached {
		return out, nil
	}
	out.Stream, err = c.StreamItems(ctx, b.ID, items, opts...)
	return out, err
}
