package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/wire"
)

// The Go client's client-side offload (WithPayloadUploads), the path the
// trigger.dev SDK takes for payloads of 128 KiB or more: large payloads
// (a string and a JSON object) go to presigned URLs from the client, the
// stream carries application/store references, and every run holds the
// exact bytes; small payloads stay inline; the body carried no large
// payload (the benchmark's L client-offloaded).
func TestGoClientUploadsLargePayloads(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	c, err := client.New(s.URL, key)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	large := map[int]string{}
	items := make([]client.Item, n)
	for i := range items {
		items[i] = client.Item{Index: i, Task: "t", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		switch i % 4 {
		case 1: // a string payload: stored as the string
			large[i] = randomText(uint64(i), 300<<10)
			items[i].Payload = client.StringPayload(large[i])
		case 2: // a JSON payload: stored as its text
			large[i] = fmt.Sprintf(`{"blob":%q}`, randomText(uint64(i), 200<<10))
			items[i].Payload = json.RawMessage(large[i])
			items[i].Options = json.RawMessage(`{"tags":["big"]}`)
		}
	}
	var bodyBytes int64
	res, err := c.TriggerBatch(context.Background(), wire.CreateBatchRequest{RunCount: n}, client.Items(items),
		client.WithPayloadUploads(128<<10, 3), client.WithProgress(func(p client.Progress) { bodyBytes = p.Bytes }))
	if err != nil || !res.Stream.Sealed {
		t.Fatalf("%+v %v", res, err)
	}
	if bodyBytes > 8<<10 {
		t.Fatalf("the stream carried %d bytes: the large payloads were not uploaded apart", bodyBytes)
	}
	id := res.Batch.ID
	runs := s.runs(t, key, id)
	if len(runs) != n {
		t.Fatalf("%d runs", len(runs))
	}
	for _, r := range runs {
		want, isLarge := large[r.Index]
		if !isLarge {
			if r.PayloadType == batch.PayloadTypeStore || r.Payload == nil || *r.Payload != fmt.Sprintf(`{"n":%d}`, r.Index) {
				t.Fatalf("small run %d: %s %v", r.Index, r.PayloadType, deref(r.Payload))
			}
			continue
		}
		if r.PayloadType != batch.PayloadTypeStore || r.Payload == nil || !strings.HasPrefix(*r.Payload, batch.PacketPrefix(env)) || !strings.Contains(*r.Payload, id) {
			t.Fatalf("large run %d: %s %v", r.Index, r.PayloadType, deref(r.Payload))
		}
		obj, err := s.app.Blob.Get(context.Background(), *r.Payload, 1<<20)
		if err != nil || string(obj) != want {
			t.Fatalf("run %d's object: %d bytes (want %d): %v", r.Index, len(obj), len(want), err)
		}
	}
}
