package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/wire"
)

// The presign endpoint the trigger.dev SDK uses for payloads ≥ 128 KiB:
// the upload lands under the caller's environment, the item references it,
// and no filename can reach outside that environment.
func TestPresignedPacketUpload(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	filename := "trigger/packet_" + batch.NewStreamID() + "/payload.json"
	var presigned wire.Packet
	resp := s.call(t, http.MethodPut, "/api/v2/packets/"+url.PathEscape(filename), key, nil, "", &presigned)
	if resp.StatusCode != 200 || presigned.StoragePath != filename || !strings.Contains(presigned.PresignedURL, "X-Amz-Signature") {
		t.Fatalf("presign: %d %s", resp.StatusCode, resp.Body)
	}
	payload := randomText(7, 200<<10)
	if up := send(t, http.DefaultClient, http.MethodPut, presigned.PresignedURL, strings.NewReader(payload), withKey("", "application/super+json")); up.StatusCode != 200 {
		t.Fatalf("upload: %s", up)
	}

	id := s.mustCreate(t, key, 1)
	line, _ := json.Marshal(item{Index: 0, Task: "big", Payload: filename, Options: map[string]any{"payloadType": "application/store"}})
	if status, res, raw := s.stream(t, key, id, append(line, '\n')); status != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", status, raw)
	}
	runs := s.runs(t, key, id)
	wantKey := batch.PacketPrefix(env) + filename
	if len(runs) != 1 || runs[0].PayloadType != batch.PayloadTypeStore || *runs[0].Payload != wantKey {
		t.Fatalf("run %+v, want payload %s", runs, wantKey)
	}
	obj, err := s.app.Blob.Get(context.Background(), wantKey, 1<<20)
	if err != nil || !bytes.Equal(obj, []byte(payload)) {
		t.Fatalf("object: %v", err)
	}

	for _, bad := range []string{"../other/x.json", "trigger/../../x", "a//b", "/abs", `a\b`, "."} {
		resp := s.call(t, http.MethodPut, "/api/v2/packets/"+url.PathEscape(bad), key, nil, "", nil)
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("filename %q: %d %s", bad, resp.StatusCode, resp.Body)
		}
	}
	if resp := s.call(t, http.MethodPut, "/api/v2/packets/x.json", "", nil, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("presign without a key: %d", resp.StatusCode)
	}
	// An item cannot point outside its environment either.
	id2 := s.mustCreate(t, key, 1)
	line, _ = json.Marshal(item{Index: 0, Task: "big", Payload: "../otherenv/x.json", Options: map[string]any{"payloadType": "application/store"}})
	if status, _, raw := s.stream(t, key, id2, append(line, '\n')); status != http.StatusUnprocessableEntity {
		t.Fatalf("traversing store path: %d %s", status, raw)
	}
}

func TestMissingIndexes(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 100)
	items := simpleItems(100)
	s.stream(t, key, id, ndjson(append(append([]item{}, items[:10]...), items[20:90]...)))
	var m wire.Missing
	resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/missing", key, nil, "", &m)
	if resp.StatusCode != 200 || m.AcceptedCount != 80 || len(m.Missing) != 2 || m.Missing[0] != (batch.Range{10, 20}) || m.Missing[1] != (batch.Range{90, 100}) || m.More {
		t.Fatalf("missing: %d %s", resp.StatusCode, resp.Body)
	}
	resp = s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/missing?limit=1", key, nil, "", &m)
	if resp.StatusCode != 200 || len(m.Missing) != 1 || !m.More {
		t.Fatalf("limited: %d %s", resp.StatusCode, resp.Body)
	}
	s.stream(t, key, id, ndjson(items))
	resp = s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/missing", key, nil, "", &m)
	if resp.StatusCode != 200 || m.AcceptedCount != 100 || len(m.Missing) != 0 || !strings.Contains(string(resp.Body), `"missing":[]`) {
		t.Fatalf("complete: %d %s", resp.StatusCode, resp.Body)
	}
}
