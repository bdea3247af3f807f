package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Scenario R: reads. One batch of Runs completed runs, each with a payload
// and an output of ValueBytes stored inline in PostgreSQL, read by Clients
// clients at once, each paging through GET /api/v3/batches/:id/runs
// ?limit=1000 to the end (and, in a second row, GET
// /api/v1/batches/:id/results); the API's peak RSS is the measure (target
// ≤ 256 MiB for 10 clients of 1,000 runs of 400 KB). A client refused with
// 429 waits for its Retry-After and asks again.

// ReadsOptions configure RunReads.
type ReadsOptions struct {
	Runs       int // runs in the batch (1,000)
	ValueBytes int // bytes of each payload and each output (400,000)
	Clients    int // concurrent readers (10)
	// APIs lists the API processes to measure, each by name, base URL and
	// process id (e.g. this version and another binary's).
	APIs  []ReadsAPI
	Key   string // an API key of the environment
	JSON  io.Writer
	Table io.Writer
}

// ReadsAPI is one API process scenario R reads from.
type ReadsAPI struct {
	Name string
	URL  string
	Pid  int
	// Clients overrides ReadsOptions.Clients for this API (an older
	// version may need GBs per client).
	Clients int
}

// ReadsResult is one (API, route) measurement of scenario R.
type ReadsResult struct {
	Scenario   string  `json:"scenario"`
	API        string  `json:"api"`
	Route      string  `json:"route"`
	Runs       int     `json:"runs"`
	ValueBytes int     `json:"value_bytes"`
	Clients    int     `json:"clients"`
	Requests   int64   `json:"requests"`
	Refused    int64   `json:"refused_429"`
	Seconds    float64 `json:"seconds"`
	MiBPerS    float64 `json:"mib_per_s"`
	PeakRSS    int64   `json:"api_peak_rss_bytes"`
	Error      string  `json:"error,omitempty"`
}

// RunReads fills one batch and measures each API reading it.
func RunReads(ctx context.Context, pool *pgxpool.Pool, opts ReadsOptions) ([]ReadsResult, error) {
	if len(opts.APIs) == 0 {
		return nil, fmt.Errorf("scenario R: no API to read from")
	}
	id, err := createBatch(ctx, opts.APIs[0].URL, opts.Key, opts.Runs)
	if err != nil {
		return nil, err
	}
	if err := fillRuns(ctx, pool, id, opts.Runs, opts.ValueBytes); err != nil {
		return nil, err
	}
	var out []ReadsResult
	for _, api := range opts.APIs {
		for _, route := range []string{"runs", "results"} {
			r := measureReads(ctx, api, route, id, opts)
			out = append(out, r)
			if opts.JSON != nil {
				_ = json.NewEncoder(opts.JSON).Encode(r)
			}
		}
	}
	if opts.Table != nil {
		fmt.Fprintf(opts.Table, "R: clients read %d runs of %d KB payload + %d KB output\n", opts.Runs, opts.ValueBytes/1000, opts.ValueBytes/1000)
		tw := tabwriter.NewWriter(opts.Table, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "api\troute\tclients\trequests\t429s\ts\tMiB/s\tAPI peak RSS MiB\t")
		for _, r := range out {
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\t%s\t%d\terror: %s\t\t\t\t\t\n", r.API, r.Route, r.Clients, r.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.0f\t%.0f\t\n", r.API, r.Route, r.Clients, r.Requests, r.Refused, r.Seconds, r.MiBPerS, float64(r.PeakRSS)/(1<<20))
		}
		tw.Flush()
	}
	return out, nil
}

// createBatch creates a batch of n runs through the API (Phase 1 only).
func createBatch(ctx context.Context, base, key string, n int) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v3/batches", strings.NewReader(fmt.Sprintf(`{"runCount":%d}`, n)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var created struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("scenario R: create batch: %d %v", resp.StatusCode, err)
	}
	return created.ID, nil
}

// fillRuns writes n COMPLETED runs of batch id straight into PostgreSQL,
// each with a JSON string payload and output of size bytes (what the runs
// of a real batch would hold after executing), one row at a time.
func fillRuns(ctx context.Context, pool *pgxpool.Pool, id string, n, size int) error {
	var env int64
	var created time.Time
	if err := pool.QueryRow(ctx, `SELECT environment_id, created_at FROM batches WHERE id = $1`, id).Scan(&env, &created); err != nil {
		return err
	}
	text := func(seed, n int) string {
		var b strings.Builder
		b.Grow(n)
		b.WriteByte('"')
		x := uint32(seed*2654435761 + 1)
		for b.Len() < n-1 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789 "[x%37])
		}
		b.WriteByte('"')
		return b.String()
	}
	k := 0
	now := time.Now()
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"runs"}, []string{"batch_id", "batch_index", "environment_id", "task", "payload", "payload_type",
		"status", "queue_timestamp", "output", "output_type", "attempts", "started_at", "completed_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if k == n {
				return nil, nil
			}
			row := []any{id, int32(k), env, "bench", text(k, size), "application/json", "COMPLETED",
				created.Add(time.Duration(k) * time.Millisecond), text(k+n, size), "application/json", 1, now, now}
			k++
			return row, nil
		}))
	return err
}

// measureReads has opts.Clients clients read the batch from api, each to
// its end, and reports the API's peak RSS meanwhile.
func measureReads(ctx context.Context, api ReadsAPI, route, id string, opts ReadsOptions) ReadsResult {
	clients := opts.Clients
	if api.Clients > 0 {
		clients = api.Clients
	}
	r := ReadsResult{Scenario: "R", API: api.Name, Route: route, Runs: opts.Runs, ValueBytes: opts.ValueBytes, Clients: clients}
	if err := ResetPeak(api.Pid); err != nil {
		r.Error = err.Error()
		return r
	}
	var requests, refused, bytes atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := readAll(ctx, api.URL, opts.Key, route, id, &requests, &refused, &bytes)
			if err == nil && n != opts.Runs {
				err = fmt.Errorf("read %d runs of %d", n, opts.Runs)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		r.Error = err.Error()
	}
	r.Requests, r.Refused = requests.Load(), refused.Load()
	r.MiBPerS = float64(bytes.Load()) / (1 << 20) / r.Seconds
	r.PeakRSS, _ = PeakRSS(api.Pid)
	return r
}

// readAll reads every run (or result) of batch id, page by page, and
// returns how many came.
func readAll(ctx context.Context, base, key, route, id string, requests, refused, bytes *atomic.Int64) (int, error) {
	runs, cursor := 0, ""
	for pages := 0; pages < 100_000; pages++ {
		u := base + "/api/v1/batches/" + id + "/results"
		if route == "runs" {
			u = base + "/api/v3/batches/" + id + "/runs?limit=1000"
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		requests.Add(1)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return runs, err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			resp.Body.Close()
			refused.Add(1)
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return runs, ctx.Err()
			case <-time.After(time.Duration(max(secs, 1)) * time.Second):
			}
			continue
		}
		cr := &countingReader{r: resp.Body}
		n, next, err := countItems(cr)
		resp.Body.Close()
		bytes.Add(cr.n)
		if err != nil || resp.StatusCode != http.StatusOK {
			return runs, fmt.Errorf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		runs += n
		if next == "" {
			return runs, nil
		}
		cursor = next
	}
	return runs, fmt.Errorf("the pages of %s never end", id)
}

// countItems reads a page token by token, holding one value at a time (a
// page of an older API can be far larger than memory should hold): it
// counts the elements of its "data" or "items" array and returns its
// nextCursor.
func countItems(r io.Reader) (n int, next string, err error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, "", fmt.Errorf("not a JSON object: %v %v", t, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return n, next, err
		}
		switch t {
		case "data", "items":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return n, next, fmt.Errorf("%v is not an array: %v", t, err)
			}
			for dec.More() {
				if err := skipValue(dec); err != nil {
					return n, next, err
				}
				n++
			}
			if _, err := dec.Token(); err != nil {
				return n, next, err
			}
		case "nextCursor":
			if err := dec.Decode(&next); err != nil {
				return n, next, err
			}
		default:
			if err := skipValue(dec); err != nil {
				return n, next, err
			}
		}
	}
	_, err = dec.Token()
	return n, next, err
}

// skipValue reads one JSON value token by token.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
