package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/streambatch/streambatch/wire"
)

// call sends a request and decodes a JSON answer into out (if non-nil).
func (s *stack) call(t *testing.T, method, path, key string, body io.Reader, contentType string, out any) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.api.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp, raw
}

// createResp is Phase 1's answer, or its error body.
type createResp struct {
	wire.CreateBatchResponse
	wire.ErrorBody
}

func (s *stack) createBatch(t *testing.T, key string, body any) (*http.Response, createResp) {
	t.Helper()
	raw, _ := json.Marshal(body)
	var out createResp
	resp, _ := s.call(t, http.MethodPost, "/api/v3/batches", key, bytes.NewReader(raw), "application/json", &out)
	return resp, out
}

// mustCreate creates a batch of runCount items and returns its id.
func (s *stack) mustCreate(t *testing.T, key string, runCount int) string {
	t.Helper()
	resp, out := s.createBatch(t, key, map[string]any{"runCount": runCount})
	if resp.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("create batch: %d %+v", resp.StatusCode, out)
	}
	return out.ID
}

// streamResp is Phase 2's answer, or its error body.
type streamResp struct {
	wire.StreamItemsResponse
	wire.ErrorBody
}

// stream sends an NDJSON body with chunked transfer encoding (as the
// trigger.dev SDK does) and returns the status and decoded answer.
func (s *stack) stream(t *testing.T, key, batchID string, body []byte) (int, streamResp, []byte) {
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
	var out streamResp
	resp, raw := s.call(t, http.MethodPost, "/api/v3/batches/"+batchID+"/items", key, pr, "application/x-ndjson", nil)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, raw
}

// runs lists every run of a batch through the paginated endpoint.
func (s *stack) runs(t *testing.T, key, batchID string) []wire.Run {
	t.Helper()
	return listRuns(t, s.api.URL, key, batchID)
}

func (s *stack) batchStatus(t *testing.T, key, batchID string) wire.BatchStatus {
	t.Helper()
	var b wire.BatchStatus
	resp, raw := s.call(t, http.MethodGet, "/api/v3/batches/"+batchID, key, nil, "", &b)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get batch: %d %s", resp.StatusCode, raw)
	}
	return b
}

func stringsReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }
