package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/wire"
)

// presignAndPut asks PUT /api/v2/packets/<filename> with cred and uploads
// content to the URL; it returns the storage path the API answered.
func (s *stack) presignAndPut(t *testing.T, cred, filename, content string) string {
	t.Helper()
	var presigned wire.Packet
	resp := s.call(t, http.MethodPut, "/api/v2/packets/"+url.PathEscape(filename), cred, nil, "", &presigned)
	if resp.StatusCode != http.StatusOK || presigned.StoragePath == "" {
		t.Fatalf("presign %s: %d %s", filename, resp.StatusCode, resp.Body)
	}
	up := send(t, http.DefaultClient, http.MethodPut, presigned.PresignedURL, strings.NewReader(content), withKey("", "application/json"))
	if up.StatusCode != http.StatusOK {
		t.Fatalf("upload %s: %d", filename, up.StatusCode)
	}
	return presigned.StoragePath
}

// storeLine is an NDJSON item whose payload is the application/store path.
func storeLine(index int, path string) string {
	return fmt.Sprintf(`{"index":%d,"task":"t","payload":%q,"options":{"payloadType":"application/store"}}`+"\n", index, path)
}

// A browser's batch token (write:batch:X) streams only references to what
// was uploaded for batch X. A stream naming another batch's
// upload (the Go client's paths, uploads/<batch>/item_<i>.json, are
// predictable) or any other object of the environment is refused with 422
// naming the item, and no run of X ever hands out a URL to it. Uploads the
// token asks for are bound to X, so the trigger.dev SDK's flow (presign
// with the token it has, send the storagePath) works unchanged, and so do
// uploads the server made for X with the API key.
func TestBatchTokenStreamsOnlyItsBatchsUploads(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	env, key := s.newKey(t)

	// Another batch's upload, and an SDK upload of the environment, both
	// with the API key.
	other := s.mustCreate(t, key, 1)
	secret := `{"secret":"of another batch"}`
	otherPath := s.presignAndPut(t, key, "uploads/"+other+"/item_0.json", secret)
	sdkPath := s.presignAndPut(t, key, "trigger/payload_"+batch.NewStreamID()+".json", secret)

	// Batch X, created for a browser: its token may stream its items.
	create := send(t, boundedClient, http.MethodPost, s.URL+"/api/v3/batches", strings.NewReader(`{"runCount":2}`), func(r *http.Request) {
		withKey(key, "application/json")(r)
		r.Header.Set("x-trigger-client", "browser")
	})
	var created createResp
	token := create.Header.Get("x-trigger-jwt")
	if create.StatusCode != http.StatusAccepted || token == "" || json.Unmarshal(create.Body, &created) != nil {
		t.Fatalf("create: %s", create)
	}
	id := created.ID

	for _, path := range []string{otherPath, sdkPath} {
		code, _, raw := s.stream(t, token, id, []byte(storeLine(0, path)+`{"index":1,"task":"t"}`+"\n"))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "index 0") || !strings.Contains(string(raw), "not uploaded for this batch") {
			t.Fatalf("token stream naming %s: %d %s, want 422 naming item 0", path, code, raw)
		}
		resp := s.call(t, http.MethodGet, "/api/v3/runs/"+batch.RunID(id, 0), token, nil, "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("run 0 after the refused stream: %d %s", resp.StatusCode, resp.Body)
		}
	}

	// What the token uploads is bound to X; what the server uploaded for X
	// with the key (the Go client's path) is X's too.
	ownPath := s.presignAndPut(t, token, "trigger/payload_1.json", `{"mine":1}`)
	if ownPath != batch.UploadPrefix(id)+"trigger/payload_1.json" {
		t.Fatalf("the token's upload is stored at %q, want it under %s", ownPath, batch.UploadPrefix(id))
	}
	serverPath := s.presignAndPut(t, key, batch.UploadPrefix(id)+"item_1.json", `{"mine":2}`)
	code, res, raw := s.stream(t, token, id, []byte(storeLine(0, ownPath)+storeLine(1, serverPath)))
	if code != http.StatusOK || !res.Sealed {
		t.Fatalf("token stream of the batch's own uploads: %d %s", code, raw)
	}
	for i, want := range []string{`{"mine":1}`, `{"mine":2}`} {
		var run wire.TriggerDevRetrievedRun
		resp := s.call(t, http.MethodGet, "/api/v3/runs/"+batch.RunID(id, i), token, nil, "", &run)
		if resp.StatusCode != http.StatusOK || run.PayloadPresignedURL == "" {
			t.Fatalf("retrieve run %d: %d %s", i, resp.StatusCode, resp.Body)
		}
		got := send(t, http.DefaultClient, http.MethodGet, run.PayloadPresignedURL, nil)
		if got.StatusCode != http.StatusOK || string(got.Body) != want {
			t.Fatalf("run %d's payload URL: %d %q, want %q", i, got.StatusCode, cut(string(got.Body), 1<<20), want)
		}
	}
	for _, r := range s.runs(t, key, id) {
		if k := deref(r.Payload); k == batch.PacketPrefix(env)+otherPath || k == batch.PacketPrefix(env)+sdkPath {
			t.Fatalf("run %d of the token's batch holds %s", r.Index, k)
		}
	}
	if obj, err := s.app.Blob.Get(ctx, batch.PacketPrefix(env)+otherPath, 1<<20); err != nil || string(obj) != secret {
		t.Fatalf("the other batch's upload: %q %v", obj, err)
	}

	// A sealed batch takes no more uploads; a read-only token uploads
	// nothing; an API key still uploads and references anywhere in its
	// environment.
	if resp := s.call(t, http.MethodPut, "/api/v2/packets/late.json", token, nil, "", nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("upload for a sealed batch: %d %s", resp.StatusCode, resp.Body)
	}
	readOnly := s.createBatchToken(t, key)
	if resp := s.call(t, http.MethodPut, "/api/v2/packets/x.json", readOnly, nil, "", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("upload with a read-only token: %d %s", resp.StatusCode, resp.Body)
	}
	keyed := s.mustCreate(t, key, 1)
	if code, _, raw := s.stream(t, key, keyed, []byte(storeLine(0, otherPath))); code != http.StatusOK {
		t.Fatalf("API key stream naming an upload of its environment: %d %s", code, raw)
	}
}

// createBatchToken creates a one-run batch and returns its x-trigger-jwt
// (read:batch only).
func (s *stack) createBatchToken(t *testing.T, key string) string {
	t.Helper()
	resp, out := s.createBatch(t, key, map[string]any{"runCount": 1})
	if resp.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("create: %d %+v", resp.StatusCode, out)
	}
	return resp.Header.Get("x-trigger-jwt")
}
