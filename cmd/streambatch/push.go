package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"time"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/ndjson"
	"github.com/streambatch/streambatch/wire"
)

// Exit codes of push, for scripts.
const (
	exitNotSealed = 3 // the batch is incomplete after every attempt
	exitRunsBad   = 4 // --wait: the batch ended with runs that did not complete
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// maxPushLine bounds one line of a pushed file.
const maxPushLine = 64 << 20

func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("push [flags] FILE.ndjson|-", `Creates a batch from an NDJSON file (or stdin) and streams it, with progress.
Each line is an item {"task", "payload"?, "options"?, "index"?} (index defaults
to the line's position among non-blank lines), or with --task any JSON value,
sent as the payload of an item of that task.
With --wait it then follows the runs' execution (a second progress line) until
the batch is COMPLETED or ABORTED.
Exit codes: 0 sealed (with --wait: every run completed), 1 error, 2 usage,
3 not sealed after every attempt, 4 (--wait) some runs failed, expired, timed
out or were cancelled.`, stderr)
	baseURL := fs.String("url", envOr("STREAMBATCH_URL", "http://127.0.0.1:8080"), "API base URL (env STREAMBATCH_URL)")
	key := fs.String("key", os.Getenv("STREAMBATCH_API_KEY"), "API key (env STREAMBATCH_API_KEY)")
	task := fs.String("task", "", "wrap each line as the payload of an item of this task")
	idem := fs.String("idempotency-key", "", "batch idempotency key (a repeat with the same key reuses the batch)")
	attempts := fs.Int("attempts", 5, "attempts per request, the first included")
	wait := fs.Bool("wait", false, "after the seal, follow the runs until the batch is COMPLETED or ABORTED")
	uploadAt := fs.String("upload-threshold", "", "upload payloads of at least this size (e.g. 128KiB) to presigned URLs from this machine, as the trigger.dev SDK does, instead of sending them in the stream")
	uploads := fs.Int("uploads", 16, "payload uploads in flight (with --upload-threshold)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "push needs exactly one FILE (or - for stdin)")
		fs.Usage()
		return errUsage
	}
	if *key == "" {
		fmt.Fprintln(stderr, "push needs an API key: --key or STREAMBATCH_API_KEY")
		return errUsage
	}
	threshold := 0
	if *uploadAt != "" {
		n, err := config.ParseSize(*uploadAt)
		if err != nil || n <= 0 || *uploads < 1 || *uploads > 256 {
			fmt.Fprintf(stderr, "--upload-threshold wants a positive size such as 128KiB (got %q) and --uploads 1 to 256 (got %d)\n", *uploadAt, *uploads)
			return errUsage
		}
		threshold = n
	}
	c, err := client.New(*baseURL, *key, client.WithRetry(client.RetryPolicy{MaxAttempts: *attempts}))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	path := fs.Arg(0)
	if path == "-" {
		tmp, err := spool(os.Stdin)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		path = tmp
	}
	count, size, err := countItems(path)
	if err != nil {
		return err
	}
	if count == 0 {
		return fmt.Errorf("%s holds no items", fs.Arg(0))
	}
	fmt.Fprintf(stderr, "%d items (%.1f MiB) from %s\n", count, float64(size)/(1<<20), fs.Arg(0))
	b, err := c.CreateBatch(ctx, wire.CreateBatchRequest{RunCount: count, IdempotencyKey: *idem})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "batch %s\n", b.ID)
	if b.IsCached {
		fmt.Fprintf(stdout, "batch %s already exists for this idempotency key: nothing streamed\n", b.ID)
		return nil
	}
	fi, _ := os.Stderr.Stat()
	terminal := stderr == os.Stderr && fi != nil && fi.Mode()&os.ModeCharDevice != 0
	bar := newProgressBar(stderr, terminal, count)
	start := time.Now()
	opts := []client.StreamOption{client.WithProgress(func(p client.Progress) {
		bar.update(p.Items+p.Skipped, p.Bytes)
	})}
	if threshold > 0 {
		opts = append(opts, client.WithPayloadUploads(threshold, *uploads))
	}
	res, err := c.StreamItems(ctx, b.ID, fileItems(path, *task), opts...)
	bar.done()
	var ns *client.NotSealedError
	if errors.As(err, &ns) {
		fmt.Fprintf(stdout, "batch %s NOT sealed: %d of %d items accepted\n", b.ID, ns.EnqueuedCount, ns.ExpectedCount)
		return &exitError{code: exitNotSealed, err: err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "batch %s sealed: %d items accepted, %d deduplicated, %d attempt(s), %s\n",
		b.ID, res.ItemsAccepted, res.ItemsDeduplicated, res.Attempts, time.Since(start).Round(time.Millisecond))
	if !*wait {
		return nil
	}
	return followRuns(ctx, c, b.ID, count, terminal, stdout, stderr)
}

// followRuns shows the execution of a batch's runs until it ends and
// reports how it ended: exit 0 when every run completed, 4 otherwise.
func followRuns(ctx context.Context, c *client.Client, id string, count int, terminal bool, stdout, stderr io.Writer) error {
	start := time.Now()
	bar := newProgressBar(stderr, terminal, count)
	bar.label = "runs"
	every := 5 * time.Second
	if terminal {
		every = time.Second
	}
	st, err := c.WatchBatch(ctx, id, every, func(b *wire.BatchStatus) {
		bar.summary = runSummary(b.RunCounts)
		bar.update(finished(b.RunCounts), 0)
	})
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "batch %s %s in %s: %s\n", id, st.Status, time.Since(start).Round(time.Millisecond), runSummary(st.RunCounts))
	if st.Status != "COMPLETED" || st.RunCounts["COMPLETED"] != st.RunCount {
		return &exitError{code: exitRunsBad, err: fmt.Errorf("batch %s: %d of %d runs completed", id, st.RunCounts["COMPLETED"], st.RunCount)}
	}
	return nil
}

// finished counts runs in a final status.
func finished(counts map[string]int) int {
	n := 0
	for st, k := range counts {
		if st != "QUEUED" && st != "DELAYED" && st != "EXECUTING" {
			n += k
		}
	}
	return n
}

// runSummary lists run counts in a fixed order: "180 completed, 20 failed".
func runSummary(counts map[string]int) string {
	var parts []string
	for _, st := range []string{"COMPLETED", "FAILED", "TIMED_OUT", "EXPIRED", "CANCELED", "EXECUTING", "QUEUED", "DELAYED"} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], strings.ToLower(strings.ReplaceAll(st, "_", " "))))
		}
	}
	if len(parts) == 0 {
		return "no runs"
	}
	return strings.Join(parts, ", ")
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// spool copies r to a temporary file (push counts items before it sends
// them, and re-reads them on a retry).
func spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp("", "streambatch-push-*.ndjson")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, bufio.NewReader(r)); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// countItems counts the non-blank lines of an NDJSON file.
func countItems(path string) (int, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	rd := ndjson.NewReader(f, maxPushLine)
	n := 0
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n, rd.Bytes(), nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		n++
	}
}

// fileItems reads items from the file anew on every call (one per attempt).
func fileItems(path, task string) iter.Seq2[client.Item, error] {
	return func(yield func(client.Item, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(client.Item{}, err)
			return
		}
		defer f.Close()
		rd := ndjson.NewReader(f, maxPushLine)
		for {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err == nil && rec.Oversized {
				err = fmt.Errorf("line %d is longer than %d MiB", rec.Line, maxPushLine>>20)
			}
			var it client.Item
			if err == nil {
				it, err = lineItem(rec, task)
			}
			if !yield(it, err) || err != nil {
				return
			}
		}
	}
}

// lineItem turns one line into an item.
func lineItem(rec ndjson.Record, task string) (client.Item, error) {
	if !json.Valid(rec.Data) {
		return client.Item{}, fmt.Errorf("line %d is not valid JSON", rec.Line)
	}
	if task != "" {
		return client.Item{Index: rec.Seq, Task: task, Payload: append(json.RawMessage(nil), rec.Data...)}, nil
	}
	var v struct {
		Index   *int            `json:"index"`
		Task    string          `json:"task"`
		Payload json.RawMessage `json:"payload"`
		Options json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(rec.Data, &v); err != nil {
		return client.Item{}, fmt.Errorf("line %d is not an item object (use --task to wrap plain JSON lines): %v", rec.Line, err)
	}
	it := client.Item{Index: rec.Seq, Task: v.Task, Payload: v.Payload, Options: v.Options}
	if v.Index != nil {
		it.Index = *v.Index
	}
	return it, nil
}
