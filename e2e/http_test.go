package e2e

// The suite's one HTTP vocabulary. Every test reaches the API through an
// endpoint (a server's base URL; the shared stack embeds its own): call for
// any request, and createBatch, mustCreate, stream, streamWhole,
// batchStatus, runs and getJSON for the common ones, each decoding into the
// public wire types. send is the primitive underneath, for requests a test
// shapes itself (its own client, headers or URL); tests of the Go client
// use package client instead.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/wire"
)

// reply is one HTTP answer, with its {"error": ...} message if it has one.
type reply struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Msg        string
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.StatusCode, cut(string(r.Body), 300))
}

// want requires the status and decodes a JSON answer into out (if
// non-nil).
func (r reply) want(t *testing.T, status int, out any) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("answer %s, want %d", r, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("answer %s: %v", r, err)
		}
	}
}

// cut shortens s to n bytes for a failure message.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// boundedClient bounds a request, so a hang fails the test instead of the
// whole package.
var boundedClient = &http.Client{Timeout: 2 * time.Minute}

// noRedirectClient is boundedClient without following redirects (to see a
// 3xx).
var noRedirectClient = &http.Client{Timeout: 2 * time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends one request with c; each edit sets headers and the like.
func send(t *testing.T, c *http.Client, method, url string, body io.Reader, edits ...func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, cut(url, 120), err)
	}
	for _, edit := range edits {
		if edit != nil {
			edit(req)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, cut(url, 120), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, cut(url, 120), err)
	}
	r := reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}
	var e wire.ErrorBody
	if json.Unmarshal(raw, &e) == nil {
		r.Msg = e.Error
	}
	return r
}

// withKey sets the Bearer key and the content type, each when not empty.
func withKey(key, ct string) func(*http.Request) {
	return func(r *http.Request) {
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
	}
}

// chunked hides the length of body, so the request is sent chunked.
func chunked(body []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(body)} }

// endpoint is one streambatch API server, by its base URL.
type endpoint struct {
	URL string
}

// call sends a request to path with the key and content type (each when not
// empty) and decodes a JSON answer into out (if non-nil).
func (e endpoint) call(t *testing.T, method, path, key string, body io.Reader, contentType string, out any) reply {
	t.Helper()
	r := send(t, http.DefaultClient, method, e.URL+path, body, withKey(key, contentType))
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, r.StatusCode, r.Body, err)
		}
	}
	return r
}

// getJSON GETs path with the key within 30 s and decodes a 200 answer.
func (e endpoint) getJSON(t *testing.T, key, path string, out any) {
	t.Helper()
	r := send(t, &http.Client{Timeout: 30 * time.Second}, http.MethodGet, e.URL+path, nil, withKey(key, ""))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.StatusCode, r.Body)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		t.Fatalf("GET %s: %v in %q", path, err, r.Body)
	}
}

// createResp is Phase 1's answer, or its error body.
type createResp struct {
	wire.CreateBatchResponse
	wire.ErrorBody
}

// createBatch sends Phase 1 with body encoded as JSON.
func (e endpoint) createBatch(t *testing.T, key string, body any) (reply, createResp) {
	t.Helper()
	raw, _ := json.Marshal(body)
	var out createResp
	r := e.call(t, http.MethodPost, "/api/v3/batches", key, bytes.NewReader(raw), "application/json", &out)
	return r, out
}

// mustCreate creates a batch of runCount items and returns its id.
func (e endpoint) mustCreate(t *testing.T, key string, runCount int) string {
	t.Helper()
	r, out := e.createBatch(t, key, map[string]any{"runCount": runCount})
	if r.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("create batch: %d %+v", r.StatusCode, out)
	}
	return out.ID
}

// streamResp is Phase 2's answer, or its error body.
type streamResp struct {
	wire.StreamItemsResponse
	wire.ErrorBody
}

// itemsPath is the Phase 2 path of a batch.
func itemsPath(batchID string) string { return "/api/v3/batches/" + batchID + "/items" }

// stream sends an NDJSON body with chunked transfer encoding (as the
// trigger.dev SDK does) and returns the status and decoded answer.
func (e endpoint) stream(t *testing.T, key, batchID string, body []byte) (int, streamResp, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		// Write in pieces so the server sees a real stream.
		for off := 0; off < len(body); off += 256 << 10 {
			end := min(off+256<<10, len(body))
			if _, err := pw.Write(body[off:end]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	r := e.call(t, http.MethodPost, itemsPath(batchID), key, pr, "application/x-ndjson", nil)
	var out streamResp
	_ = json.Unmarshal(r.Body, &out)
	return r.StatusCode, out, r.Body
}

// streamWhole sends a whole NDJSON body (Content-Length known) within
// 3 minutes and returns the status and decoded answer.
func (e endpoint) streamWhole(t *testing.T, key, batchID string, body []byte) (int, streamResp, []byte) {
	t.Helper()
	r := send(t, &http.Client{Timeout: 3 * time.Minute}, http.MethodPost, e.URL+itemsPath(batchID), bytes.NewReader(body), withKey(key, "application/x-ndjson"))
	var out streamResp
	_ = json.Unmarshal(r.Body, &out)
	return r.StatusCode, out, r.Body
}

// batchStatus GETs a batch and requires 200.
func (e endpoint) batchStatus(t *testing.T, key, batchID string) wire.BatchStatus {
	t.Helper()
	var b wire.BatchStatus
	r := e.call(t, http.MethodGet, "/api/v3/batches/"+batchID, key, nil, "", &b)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("get batch: %d %s", r.StatusCode, r.Body)
	}
	return b
}

// runs lists every run of a batch through the paginated endpoint.
func (e endpoint) runs(t *testing.T, key, batchID string) []wire.Run {
	t.Helper()
	var all []wire.Run
	cursor := ""
	for {
		var page wire.RunsPage
		p := "/api/v3/batches/" + batchID + "/runs?limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		e.getJSON(t, key, p, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}

// missing GETs the missing indexes of a batch and requires 200.
func (e endpoint) missing(t *testing.T, key, batchID string) wire.Missing {
	t.Helper()
	var m wire.Missing
	r := send(t, boundedClient, http.MethodGet, e.URL+"/api/v3/batches/"+batchID+"/missing", nil, withKey(key, ""))
	if r.StatusCode != 200 || json.Unmarshal(r.Body, &m) != nil {
		t.Fatalf("missing of %s: %s", batchID, r)
	}
	return m
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
