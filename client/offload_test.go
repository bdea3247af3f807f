package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/client"
)

// uploadServer answers the presign route, stands in for S3 behind the
// presigned URLs, and records the Phase 2 body.
type uploadServer struct {
	mu          sync.Mutex
	objects     map[string]string
	inFlight    int
	maxInFlight int
	keyLeaked   bool
	failOnce    map[string]bool
	lines       []map[string]json.RawMessage
	srv         *httptest.Server
	// The first uploads are held until want are in flight at once (full
	// closes then), or for 10 s: a client that keeps fewer in flight shows
	// in maxInFlight however the goroutines are scheduled.
	want int
	full chan struct{}
}

func (u *uploadServer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v2/packets/"):
		name := strings.TrimPrefix(r.URL.Path, "/api/v2/packets/")
		fmt.Fprintf(w, `{"presignedUrl":%q,"storagePath":%q}`, u.srv.URL+"/s3/"+name, name)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/s3/"):
		u.mu.Lock()
		u.keyLeaked = u.keyLeaked || r.Header.Get("Authorization") != ""
		u.inFlight++
		u.maxInFlight = max(u.maxInFlight, u.inFlight)
		if u.inFlight == u.want {
			select {
			case <-u.full:
			default:
				close(u.full)
			}
		}
		fail := !u.failOnce[r.URL.Path]
		u.failOnce[r.URL.Path] = true
		u.mu.Unlock()
		select {
		case <-u.full:
		case <-time.After(10 * time.Second):
		}
		data, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond)
		u.mu.Lock()
		u.inFlight--
		if !fail || !strings.HasSuffix(r.URL.Path, "item_3.json") {
			u.objects[strings.TrimPrefix(r.URL.Path, "/s3/")] = string(data)
		}
		u.mu.Unlock()
		if fail && strings.HasSuffix(r.URL.Path, "item_3.json") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/api/v3/batches/batch_1/items":
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			var line map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				u.mu.Lock()
				u.lines = append(u.lines, line)
				u.mu.Unlock()
			}
		}
		fmt.Fprint(w, `{"id":"batch_1","itemsAccepted":40,"itemsDeduplicated":0,"sealed":true,"runCount":40}`)
	default:
		http.NotFound(w, r)
	}
}

// WithPayloadUploads uploads exactly the large payloads (a string payload
// as the string), never sends the API key to the storage URLs, keeps the
// given uploads in flight (no more, and no fewer while large payloads
// wait, however many small items lie between them), retries a failed PUT,
// and streams the items in their order with application/store references.
func TestPayloadUploads(t *testing.T) {
	t.Parallel()
	u := &uploadServer{objects: map[string]string{}, failOnce: map[string]bool{}, want: 3, full: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	defer u.srv.Close()
	c, err := client.New(u.srv.URL, "key", client.WithRetry(client.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	items := make([]client.Item, n)
	want := map[int]string{}
	for i := range items {
		items[i] = client.Item{Index: i, Task: "t", Payload: json.RawMessage(`{"small":true}`)}
		if i%5 == 1 { // a large payload every few small ones
			want[i] = strings.Repeat(fmt.Sprint(i%10), 200<<10)
			items[i].Payload = client.StringPayload(want[i])
			items[i].Options = json.RawMessage(`{"tags":["x"]}`)
		}
	}
	res, err := c.StreamItems(context.Background(), "batch_1", client.Items(items), client.WithPayloadUploads(100<<10, 3))
	if err != nil || !res.Sealed {
		t.Fatalf("%+v %v", res, err)
	}
	// Small items behind a large one wait in order without holding back
	// the next uploads: every slot is used.
	if u.keyLeaked || u.maxInFlight != 3 || len(u.objects) != len(want) {
		t.Fatalf("key sent to storage %v, %d uploads at once, %d objects", u.keyLeaked, u.maxInFlight, len(u.objects))
	}
	if len(u.lines) != n {
		t.Fatalf("%d lines streamed", len(u.lines))
	}
	for k, line := range u.lines {
		var idx int
		json.Unmarshal(line["index"], &idx)
		if idx != k {
			t.Fatalf("line %d holds index %d: order not kept", k, idx)
		}
		if _, large := want[idx]; !large {
			if string(line["payload"]) != `{"small":true}` {
				t.Fatalf("small item %d: %s", idx, line["payload"])
			}
			continue
		}
		var path string
		var opts map[string]any
		json.Unmarshal(line["payload"], &path)
		json.Unmarshal(line["options"], &opts)
		if u.objects[path] != want[idx] || opts["payloadType"] != "application/store" || fmt.Sprint(opts["tags"]) != "[x]" {
			t.Fatalf("item %d: path %q (%d bytes stored), options %v", idx, path, len(u.objects[path]), opts)
		}
	}
}
